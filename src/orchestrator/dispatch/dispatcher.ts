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
 * requests keep coming, one sequential worker is kept free of slow work: a slow job that would
 * take the last worker free of slow work waits in a FIFO of its own instead. So a quick request
 * finds a worker that is at most finishing another quick one, never one stuck for the length of a
 * slow request. That reserve is lent only while slow work backs up and no quick request waits:
 * once the oldest slow job has waited SLOW_BORROW_AFTER_MS and the quick queue is empty, it takes
 * the last free worker too; and a worker that frees up serves waiting quick and sync jobs before
 * any slow one. So a lone slow request among quick ones never takes the reserve, a saturating
 * stream of them gets every worker (slow ones are never starved, nor pile up behind one), and a
 * quick request then waits at most for the first worker to finish its slow job. With no quick
 * request for QUICK_TRAFFIC_WINDOW_MS (an app of slow routes only), every worker
 * takes slow work.
 *
 * Blocking routes (setBlocking: a Node handler that holds its worker's event loop): such a job
 * needs the worker's sync slot like a sync job, counts as slow work on any worker, and a worker
 * running one takes no other job until it is done: a job given to it now would wait for the loop
 * (the worker defers the blocking handler a turn, so the jobs it already holds leave first). When
 * every worker runs one, a quick job waits in the queue for the first worker that frees up, which
 * serves waiting quick jobs before its next slow one; only one that could not wait (a full queue,
 * or a wait past the queue timeout) takes a free slot on such a worker instead of a 503.
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
/**
 * Slow work that backs up (its oldest job waited this long) may take the worker kept free for quick
 * requests while none of them waits: long enough that a lone slow request among quick ones leaves
 * it alone, short next to a slow request, so a backlog of them is served by every worker.
 */
const SLOW_BORROW_AFTER_MS = 100;

/** What the dispatcher tracks about a worker it gives work to. */
interface WorkerRecord {
  /** Synchronous handlers' tasks in flight (`"sync": true` routes): kept at 0 or 1 when concurrency > 1. */
  syncTasks: number;
  /**
   * Tasks in flight that hold the worker for long: slow jobs on a sequential worker, blocking
   * jobs on any (see `holds`). A worker is kept free of them.
   */
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
  /** Routes whose tasks hold their worker's event loop (see setBlocking). */
  private readonly blockingRoutes = new Set<string>();
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

  /**
   * `route`'s tasks hold their worker's event loop (a Node handler spinning the CPU), or no longer
   * do: its jobs are then dispatched as sync and slow jobs (see the class comment).
   */
  setBlocking(route: string, blocking: boolean): void {
    if (blocking) this.blockingRoutes.add(route);
    else this.blockingRoutes.delete(route);
  }

  submit(job: Job): void {
    if (this.workers.size === 0 && this.outage) {
      this.failUnavailable(job);
      return;
    }
    const sync = this.classify(job);
    const slow = job.slow;
    if (!slow) this.lastQuickAt = job.submittedAt;
    // A prefetch slot is used only while nothing is queued, so queued jobs keep their FIFO order;
    // so do slow jobs among themselves.
    const worker =
      slow && (this.slowQueue.length > 0 || !this.slowMayStart(job.submittedAt, job))
        ? undefined
        : (this.leastBusy(sync) ?? (this.queued === 0 ? this.prefetchTarget() : undefined));
    if (worker) {
      this.run(worker, job);
      return;
    }
    const expectedWaitMs = this.expectedWaitMs();
    if (!slow && (this.queued >= this.maxQueue || (this.queueTimeoutMs > 0 && expectedWaitMs > this.queueTimeoutMs))) {
      // No room to wait for a free loop: a slot behind a blocking job still beats a 503.
      const held = this.leastBusy(sync, true);
      if (held) {
        this.run(held, job);
        return;
      }
    }
    if (this.queueTimeoutMs > 0 && expectedWaitMs > this.queueTimeoutMs) {
      job.fail(
        503,
        `all workers are busy and this request would wait about ${(expectedWaitMs / 1000).toFixed(1)} s, ` +
          `over the queue timeout (${this.queueTimeoutMs / 1000} s)`,
        { "retry-after": RETRY_AFTER_SECONDS },
      );
    } else if (this.queued >= this.maxQueue || !(slow ? this.slowQueue : sync ? this.syncQueue : this.queue).push(job)) {
      job.fail(503, `all workers are busy and the queue is full (${this.maxQueue} waiting)`, {
        "retry-after": RETRY_AFTER_SECONDS,
      });
    } else if (slow) {
      this.startSlow(job.submittedAt);
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
      if (isSync(job)) record.syncTasks--;
      if (holds(worker, job)) record.slowTasks--;
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
   * Takes back the jobs a dead worker never started, given in the order they arrived: each runs on
   * another worker, or waits at the head of its queue (they have waited longest), still in that
   * order. Returns those that found no room in a full queue, the newest ones.
   */
  retry(jobs: readonly Job[]): Job[] {
    const waiting: Job[] = [];
    for (const job of jobs) {
      this.inflight--;
      if (settled(job)) continue;
      if (this.workers.size === 0 && this.outage) {
        this.failUnavailable(job);
        continue;
      }
      const sync = this.classify(job);
      const worker = job.slow && !this.slowMayStart(performance.now(), job) ? undefined : this.leastBusy(sync);
      if (worker) this.run(worker, job);
      else waiting.push(job);
    }
    const refused = waiting.splice(Math.max(0, this.maxQueue - this.queued));
    // Put back last one first, so that the first lands at the head.
    for (let i = waiting.length - 1; i >= 0; i--) {
      const job = waiting[i]!;
      if (!(job.slow ? this.slowQueue : isSync(job) ? this.syncQueue : this.queue).unshift(job)) refused.unshift(job);
    }
    this.checkIdle();
    return refused;
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
        if (settled(job)) {
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
    this.startSlow(now);
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
      if (!settled(job) && now - job.submittedAt + startsInMs <= this.queueTimeoutMs) break;
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

  /**
   * The worker with the lowest share of its slots in use that can take the job; for a sync job, one
   * whose sync slot is free. A worker running a blocking job takes none (see the class comment)
   * unless `evenHeld`.
   */
  private leastBusy(sync = false, evenHeld = false): Worker | undefined {
    let best: Worker | undefined;
    let bestLoad = Infinity;
    for (const [w, record] of this.workers) {
      if (w.inflightCount >= w.concurrency || (sync && syncSlotTaken(w, record)) || (!evenHeld && loopHeld(w, record))) continue;
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
    // A task given now waits for every task held: each must be of a timed quick route.
    let waitMs = 0;
    for (const job of w.heldJobs) {
      if (job.streaming || this.streamingRoutes.has(job.route)) return false;
      const average = this.serviceMs.get(job.route);
      if (average === undefined) return false;
      waitMs += average;
    }
    return waitMs < PREFETCH_MAX_MS;
  }

  private fill(worker: Worker, now = performance.now()): void {
    if (loopHeld(worker, this.workers.get(worker))) return;
    while (worker.inflightCount < worker.concurrency || (this.prefetch && this.canPrefetch(worker))) {
      const job = this.nextFor(worker, now);
      if (!job) return;
      if (settled(job)) continue;
      this.onDequeued(now - job.submittedAt);
      this.run(worker, job);
    }
  }

  /**
   * The next queued job `worker` may run: the older of the quick and sync queues' heads (a sync
   * job only while its sync slot is free); a slow job only when neither has one for it, and
   * while slowMayStart allows it.
   */
  private nextFor(worker: Worker, now: number): Job | undefined {
    let best: JobQueue | undefined = this.queue.length > 0 ? this.queue : undefined;
    const record = this.workers.get(worker);
    const sync = this.syncQueue.peek();
    if (sync !== undefined && !syncSlotTaken(worker, record) && (best === undefined || sync.submittedAt < best.peek()!.submittedAt)) {
      best = this.syncQueue;
    }
    if (best) return best.shift();
    const slow = this.slowQueue.peek();
    if (slow !== undefined && !(isSync(slow) && syncSlotTaken(worker, record)) && this.slowMayStart(now, slow)) return this.slowQueue.shift();
    return undefined;
  }

  private isSlow(route: string): boolean {
    if (this.streamingRoutes.has(route)) return true;
    const average = this.serviceMs.get(route);
    return average !== undefined && average >= SLOW_ROUTE_MS;
  }

  /** Slow jobs held back go to the idle workers once quick traffic stopped or they backed up. */
  private startSlow(now: number): void {
    const head = this.slowQueue.peek();
    if (head && this.slowMayStart(now, head)) for (const w of this.workers.keys()) this.fill(w, now);
  }

  /** Sets job.slow and job.blocking from what is known of its route; returns whether it needs a sync slot. */
  private classify(job: Job): boolean {
    const blocking = this.blockingRoutes.has(job.route);
    if (blocking || job.blocking) job.blocking = blocking;
    job.slow = blocking || (job.sync !== true && this.isSlow(job.route));
    return isSync(job);
  }

  /**
   * Whether slow job `job` (being submitted, or the slow queue's head) may start now: quick
   * requests stopped coming; or two workers hold no slow job (one takes it, one stays free); or the
   * last one may be lent: no quick job waits and slow work backed up (see the class comment).
   */
  private slowMayStart(now: number, job: Job): boolean {
    if (now - this.lastQuickAt > QUICK_TRAFFIC_WINDOW_MS || this.workers.size < 2) return true;
    let free = 0;
    for (const [w, record] of this.workers) {
      // Workers that run many tasks at once are held only by blocking jobs.
      if (!w.sequential && !job.blocking) return true;
      if (record.slowTasks === 0 && ++free === 2) return true;
    }
    const oldest = this.slowQueue.peek() ?? job;
    return free > 0 && this.queue.length === 0 && now - oldest.submittedAt >= SLOW_BORROW_AFTER_MS;
  }

  private run(worker: Worker, job: Job): void {
    const record = this.workers.get(worker);
    if (record) {
      if (isSync(job)) record.syncTasks++;
      if (holds(worker, job)) record.slowTasks++;
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

/** Needs no worker any more: answered, or abandoned by its client (then dropped, and its 499 recorded). */
function settled(job: Job): boolean {
  if (job.answered) return true;
  if (!job.abandoned) return false;
  job.left?.();
  return true;
}

/** A sync job, or one of a blocking route: it needs its worker's single sync slot. */
function isSync(job: Job): boolean {
  return job.sync === true || job.blocking === true;
}

/** Whether `job` holds `worker` for long: a slow job on a sequential worker, a blocking job on any. */
function holds(worker: Worker, job: Job): boolean {
  return job.slow && (worker.sequential || job.blocking === true);
}

/**
 * A worker that runs many tasks at once is running a blocking job: its loop is held (on such a
 * worker only blocking jobs count in slowTasks, see `holds`).
 */
function loopHeld(w: Worker, record: WorkerRecord | undefined): boolean {
  return record !== undefined && record.slowTasks > 0 && !w.sequential;
}

/** A worker that runs many tasks at once is running a sync job: it takes no other until that one is done. */
function syncSlotTaken(w: Worker, record: WorkerRecord | undefined): boolean {
  return record !== undefined && record.syncTasks > 0 && w.concurrency > 1;
}
