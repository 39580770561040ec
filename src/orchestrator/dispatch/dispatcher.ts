/**
 * Sends each job to the least busy worker that has a free slot; when every worker is full the job
 * waits in a bounded FIFO, and when that is full too the client gets a fast 503. A queued job goes
 * to whichever worker frees up first.
 *
 * Prefetch: a worker that runs one task at a time may be given more while it runs: as many as
 * keep the newest one's expected wait (the sum of the recent service times of the routes of the
 * tasks it holds) under PREFETCH_MAX_MS, at most PREFETCH_MAX_TASKS besides the running one. The
 * worker reads them as soon as it writes a result, so it never sits idle for the round trip
 * through the orchestrator, and a sub-millisecond route's tasks travel several per write (see
 * Worker.write) and are read several per receive. A task waits at most about PREFETCH_MAX_MS of
 * quick requests, never behind a slow one nor one of a route not yet timed. It only happens when
 * every worker is busy, that is, when the job would have queued anyway; the least loaded worker
 * gets it.
 *
 * Sync jobs: a synchronous handler's job (`"sync": true` route) for a worker that runs many tasks
 * at once also needs that worker's single sync slot: such a worker runs at most one sync job at a
 * time, so a sync job never waits inside a worker behind another while a worker with a free sync
 * slot exists. Those jobs wait in a FIFO of their own, and a worker that frees up takes the older
 * of the two queues' heads it may run. (A worker of concurrency 1 has no separate sync slot.)
 *
 * Slow routes: a route whose recent service time is SLOW_ROUTE_MS or more is "slow". While quick
 * requests keep coming, slow jobs may occupy all sequential workers but one: a slow job that
 * would take the last worker free of slow work waits in a FIFO of its own instead. So a quick
 * request finds a worker that is at most finishing another quick one, never one stuck for the
 * length of a slow request; the slow ones wait among themselves. With no quick request for
 * QUICK_TRAFFIC_WINDOW_MS (an app of slow routes only), every worker takes slow work.
 *
 * Overload: with a queue timeout, a job that would have to queue is answered 503 at once when the
 * jobs ahead of it, at the measured mean service time, would keep it waiting longer than that
 * timeout: the client learns now what it would otherwise learn only after waiting the timeout out.
 * Jobs queued before a service time was known (a burst at start-up) are shed the same way, newest
 * first, at the next expiry check.
 * With no worker at all while the pool fails to start new ones (an outage), jobs are answered 503
 * at once instead of piling up.
 *
 * Streams: a task that streams (Job.streaming) holds its worker for as long as the stream lasts,
 * which says nothing about how quick its route is. Its service time feeds no average; its route
 * counts as slow from then on and is never prefetched behind, and nothing is prefetched onto a
 * worker whose running task streams (it would wait for the whole stream).
 *
 * The dispatcher owns the scheduling state of each worker it may use (a WorkerRecord): whether it
 * takes work at all is whether it has a record, and the record counts its sync and slow tasks.
 */
import { performance } from "node:perf_hooks";
import type { Worker } from "../workers/worker.js";
import type { Job } from "./job.js";
import { JobQueue } from "./job-queue.js";

/** Seconds a client should wait before retrying after a 503 for a full queue. */
const RETRY_AFTER_SECONDS = "1";
/** A route whose average service time is under this is "quick": a task may wait behind it. */
const PREFETCH_MAX_MS = 5;
/** Tasks a one-at-a-time worker may hold besides the one it runs (see the class comment). */
const PREFETCH_MAX_TASKS = 4;
/** Weight of the newest sample in a route's moving average of service time. */
const SERVICE_TIME_WEIGHT = 0.2;
/** A route whose average service time is at least this is "slow" (see the class comment). */
const SLOW_ROUTE_MS = 20;
/** A worker is kept free of slow work only while quick requests arrived this recently. */
const QUICK_TRAFFIC_WINDOW_MS = 1000;

/** What the dispatcher tracks about a worker it gives work to. */
interface WorkerRecord {
  /** Synchronous handlers' tasks in flight (`"sync": true` routes): kept at 0 or 1 when concurrency > 1. */
  syncTasks: number;
  /** Tasks of slow routes in flight (Job.slow): a worker is kept free of them. */
  slowTasks: number;
}

/** Why no worker can take a job, and when to try again (see Dispatcher.setOutage). */
export interface Outage {
  readonly detail: string;
  readonly retryAfterSeconds: number;
}

export class Dispatcher {
  /** The workers that take work, in the order they joined, each with its scheduling record. */
  private readonly workers = new Map<Worker, WorkerRecord>();
  private readonly queue: JobQueue;
  /** Sync jobs waiting for a worker with a free slot and a free sync slot; shares --max-queue with `queue`. */
  private readonly syncQueue: JobQueue;
  /** Slow jobs waiting for a worker that is not the last one free of slow work; shares --max-queue. */
  private readonly slowQueue: JobQueue;
  /** performance.now() of the last quick (not slow) job submitted. */
  private lastQuickAt = -Infinity;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  /** Moving average of each route's service time (milliseconds), for prefetch. */
  private readonly serviceMs = new Map<string, number>();
  /** Routes that answered with a stream: slow, never quick (see the class comment). */
  private readonly streamingRoutes = new Set<string>();
  /** Moving average of the service time of all tasks (milliseconds), to foresee queue waits. */
  private meanServiceMs: number | undefined;
  private outage: Outage | null = null;

  /**
   * `onDequeued` hears how long each queued job waited (milliseconds), for the metrics;
   * `queueTimeoutMs` (0: off) is the longest wait a job is queued for (see the class comment).
   */
  constructor(
    private readonly maxQueue: number,
    private readonly onDequeued: (waitedMs: number) => void = () => {},
    private readonly prefetch = true,
    readonly queueTimeoutMs = 0,
  ) {
    this.queue = new JobQueue(maxQueue);
    this.syncQueue = new JobQueue(maxQueue);
    this.slowQueue = new JobQueue(maxQueue);
  }

  get queued(): number {
    return this.queue.length + this.syncQueue.length + this.slowQueue.length;
  }

  get busy(): number {
    return this.inflight;
  }

  /** Workers that take work now. */
  get workerCount(): number {
    return this.workers.size;
  }

  /** Whether `worker` takes work now (it was added and not removed). */
  accepts(worker: Worker): boolean {
    return this.workers.has(worker);
  }

  /** Makes a ready worker available and gives it queued work. */
  addWorker(worker: Worker): void {
    if (this.workers.has(worker)) return;
    this.workers.set(worker, { syncTasks: 0, slowTasks: 0 });
    this.fill(worker);
  }

  /** Stops giving work to a worker (it died, or it is being drained). Its in-flight jobs stay its own. */
  removeWorker(worker: Worker): void {
    this.workers.delete(worker);
    this.rejectIfOutage();
  }

  /**
   * The pool says no worker can be started for now (`null`: that is over). While there is also no
   * worker left, every job is answered 503 with Retry-After at once, queued ones included.
   */
  setOutage(outage: Outage | null): void {
    this.outage = outage;
    this.rejectIfOutage();
  }

  submit(job: Job): void {
    if (this.workers.size === 0 && this.outage) {
      this.failUnavailable(job);
      return;
    }
    const sync = job.sync === true;
    const slow = !sync && this.isSlow(job.route);
    job.slow = slow;
    if (!slow) this.lastQuickAt = job.submittedAt;
    // A prefetch slot is used only while nothing is queued, so queued jobs keep their FIFO order.
    const worker =
      slow && !this.slowMayStart(job.submittedAt)
        ? undefined
        : (this.leastBusy(sync) ?? (this.queued === 0 ? this.prefetchTarget() : undefined));
    if (worker) {
      this.run(worker, job);
      return;
    }
    const expectedWaitMs = this.expectedWaitMs();
    if (this.queueTimeoutMs > 0 && expectedWaitMs > this.queueTimeoutMs) {
      job.fail(
        503,
        `all workers are busy and this request would wait about ${(expectedWaitMs / 1000).toFixed(1)} s, ` +
          `over the queue timeout (${this.queueTimeoutMs / 1000} s)`,
        { "retry-after": RETRY_AFTER_SECONDS },
      );
    } else if (this.queued >= this.maxQueue || !(sync ? this.syncQueue : slow ? this.slowQueue : this.queue).push(job)) {
      job.fail(503, `all workers are busy and the queue is full (${this.maxQueue} waiting)`, {
        "retry-after": RETRY_AFTER_SECONDS,
      });
    }
  }

  /** A worker finished `job` after `serviceMs` of work: give it the next queued job. */
  taskDone(worker: Worker, job: Job, serviceMs: number): void {
    if (job.streaming) {
      this.streamingRoutes.add(job.route);
    } else {
      const average = this.serviceMs.get(job.route);
      this.serviceMs.set(job.route, average === undefined ? serviceMs : average + SERVICE_TIME_WEIGHT * (serviceMs - average));
      this.meanServiceMs =
        this.meanServiceMs === undefined ? serviceMs : this.meanServiceMs + SERVICE_TIME_WEIGHT * (serviceMs - this.meanServiceMs);
    }
    this.inflight--;
    const record = this.workers.get(worker);
    if (record) {
      if (job.sync) record.syncTasks--;
      if (job.slow) record.slowTasks--;
      this.fill(worker);
    }
    this.checkIdle();
  }

  /** Jobs lost with a dead worker are no longer in flight. */
  jobsLost(count: number): void {
    this.inflight -= count;
    this.checkIdle();
  }

  /**
   * Takes back a job that a dead worker never started: it runs on another worker, or waits at
   * the head of the queue (it has waited longest). Returns false when the queue is full.
   */
  retry(job: Job): boolean {
    this.inflight--;
    if (job.answered || job.abandoned) return true;
    if (this.workers.size === 0 && this.outage) {
      this.failUnavailable(job);
      return true;
    }
    const sync = job.sync === true;
    const worker = this.leastBusy(sync);
    if (worker) {
      this.run(worker, job);
      return true;
    }
    return this.queued < this.maxQueue && (sync ? this.syncQueue : this.queue).unshift(job);
  }

  /**
   * Answers the jobs that waited too long in the queue: 503 past the queue timeout, 504 past
   * `requestTimeoutMs` (0 turns either off). The queue is FIFO, so only its head needs looking at.
   */
  expireQueued(now: number, requestTimeoutMs: number): void {
    const { queueTimeoutMs } = this;
    for (const queue of [this.queue, this.syncQueue, this.slowQueue]) {
      for (let job = queue.peek(); job; job = queue.peek()) {
        const waited = now - job.submittedAt;
        if (job.abandoned || job.answered) {
          queue.shift();
        } else if (queueTimeoutMs > 0 && waited > queueTimeoutMs) {
          queue.shift();
          job.fail(503, `no worker became free within the queue timeout (${queueTimeoutMs / 1000} s)`, {
            "retry-after": RETRY_AFTER_SECONDS,
          });
        } else if (requestTimeoutMs > 0 && waited > requestTimeoutMs) {
          queue.shift();
          job.fail(504, `the request did not complete within the timeout (${requestTimeoutMs / 1000} s)`);
        } else {
          break;
        }
      }
    }
    this.shedHopeless(now);
    // Slow jobs held back for quick traffic that has since stopped go to the idle workers.
    if (this.slowQueue.length > 0 && this.slowMayStart(now)) for (const w of this.workers.keys()) this.fill(w, now);
    this.checkIdle();
  }

  /** Answers every queued job with `status` (used when shutdown time runs out). */
  rejectQueued(status: number, detail: string): void {
    for (const job of [...this.queue.drain(), ...this.syncQueue.drain(), ...this.slowQueue.drain()]) job.fail(status, detail);
    this.checkIdle();
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.inflight === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * How long a job queued now would wait: the jobs ahead of it, at the mean service time, over
   * the workers' slots. 0 until a service time was measured.
   */
  private expectedWaitMs(): number {
    if (this.meanServiceMs === undefined) return 0;
    let slots = 0;
    for (const w of this.workers.keys()) slots += w.concurrency;
    return ((this.queued + 1) * this.meanServiceMs) / Math.max(1, slots);
  }

  /**
   * Answers 503 now, newest first, to the queued jobs that will not start within the queue
   * timeout at the measured service time, instead of letting them wait it out.
   */
  private shedHopeless(now: number): void {
    if (this.queueTimeoutMs <= 0 || this.meanServiceMs === undefined) return;
    let slots = 0;
    for (const w of this.workers.keys()) slots += w.concurrency;
    const perJobMs = this.meanServiceMs / Math.max(1, slots);
    for (let job = this.queue.peekLast(); job; job = this.queue.peekLast()) {
      const startsInMs = this.queued * perJobMs;
      if (!job.answered && !job.abandoned && now - job.submittedAt + startsInMs <= this.queueTimeoutMs) break;
      this.queue.pop();
      job.fail(503, `all workers are busy and this request would not start within the queue timeout (${this.queueTimeoutMs / 1000} s)`, {
        "retry-after": RETRY_AFTER_SECONDS,
      });
    }
  }

  private failUnavailable(job: Job): void {
    const { detail, retryAfterSeconds } = this.outage!;
    job.fail(503, detail, { "retry-after": String(retryAfterSeconds) });
  }

  /** In an outage with no worker left, nothing queued can ever start: answer it now. */
  private rejectIfOutage(): void {
    if (this.workers.size > 0 || !this.outage) return;
    for (const job of [...this.queue.drain(), ...this.syncQueue.drain(), ...this.slowQueue.drain()]) this.failUnavailable(job);
    this.checkIdle();
  }

  /** The worker with the lowest share of its slots in use that can take the job; for a sync job, one whose sync slot is free. */
  private leastBusy(sync = false): Worker | undefined {
    let best: Worker | undefined;
    let bestLoad = Infinity;
    for (const [w, record] of this.workers) {
      if (w.inflightCount >= w.concurrency || (sync && syncSlotTaken(w, record))) continue;
      const load = w.inflightCount / w.concurrency;
      if (load < bestLoad) {
        best = w;
        bestLoad = load;
        if (load === 0) break;
      }
    }
    return best;
  }

  /** A busy one-at-a-time worker that may take one more task now (see the class comment). */
  private prefetchTarget(): Worker | undefined {
    if (!this.prefetch) return undefined;
    let best: Worker | undefined;
    for (const w of this.workers.keys()) {
      if ((best === undefined || w.inflightCount < best.inflightCount) && this.canPrefetch(w)) best = w;
    }
    return best;
  }

  private canPrefetch(w: Worker): boolean {
    const held = w.inflightCount;
    if (!w.sequential || held < 1 || held > PREFETCH_MAX_TASKS) return false;
    const running = w.running;
    if (running === undefined) return false;
    // A task given now waits for every task held: each must be of a timed quick route.
    let waitMs = 0;
    for (const job of held === 1 ? [running] : w.inflightJobs()) {
      if (job.streaming || this.streamingRoutes.has(job.route)) return false;
      const average = this.serviceMs.get(job.route);
      if (average === undefined) return false;
      waitMs += average;
    }
    return waitMs < PREFETCH_MAX_MS;
  }

  private fill(worker: Worker, now = performance.now()): void {
    while (worker.inflightCount < worker.concurrency || (this.prefetch && this.canPrefetch(worker))) {
      const job = this.nextFor(worker, now);
      if (!job) return;
      if (job.abandoned || job.answered) continue;
      this.onDequeued(now - job.submittedAt);
      this.run(worker, job);
    }
  }

  /**
   * The oldest queued job `worker` may run: a sync job only while its sync slot is free, a slow
   * job only while another worker stays free of slow work.
   */
  private nextFor(worker: Worker, now: number): Job | undefined {
    let best: JobQueue = this.queue;
    let bestAt = this.queue.peek()?.submittedAt ?? Infinity;
    const sync = this.syncQueue.peek();
    if (sync !== undefined && sync.submittedAt < bestAt && !syncSlotTaken(worker, this.workers.get(worker))) {
      best = this.syncQueue;
      bestAt = sync.submittedAt;
    }
    const slow = this.slowQueue.peek();
    if (slow !== undefined && slow.submittedAt < bestAt && this.slowMayStart(now)) best = this.slowQueue;
    return best.shift();
  }

  private isSlow(route: string): boolean {
    if (this.streamingRoutes.has(route)) return true;
    const average = this.serviceMs.get(route);
    return average !== undefined && average >= SLOW_ROUTE_MS;
  }

  /**
   * Whether one more slow job may start now: quick requests stopped coming, or at least two
   * sequential workers hold no slow job (one takes it, one stays free).
   */
  private slowMayStart(now: number): boolean {
    if (now - this.lastQuickAt > QUICK_TRAFFIC_WINDOW_MS) return true;
    let free = 0;
    for (const [w, record] of this.workers) {
      if (!w.sequential) return true; // workers that run many tasks at once are never held back
      if (record.slowTasks === 0 && ++free === 2) return true;
    }
    return this.workers.size < 2;
  }

  private run(worker: Worker, job: Job): void {
    const record = this.workers.get(worker);
    if (record) {
      if (job.sync) record.syncTasks++;
      if (job.slow) record.slowTasks++;
    }
    this.inflight++;
    job.assignedAt = performance.now();
    worker.assign(job);
  }

  private checkIdle(): void {
    if (this.inflight !== 0 || this.queued !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** A worker that runs many tasks at once is running a sync job: it takes no other until that one is done. */
function syncSlotTaken(w: Worker, record: WorkerRecord | undefined): boolean {
  return record !== undefined && record.syncTasks > 0 && w.concurrency > 1;
}
