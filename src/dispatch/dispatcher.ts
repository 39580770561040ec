/**
 * Sends each job to the least busy worker that has a free slot; when every worker is full the job
 * waits in a bounded FIFO, and when that is full too the client gets a fast 503. A queued job goes
 * to whichever worker frees up first.
 *
 * Prefetch: a worker that runs one task at a time may be given ONE more while it runs a task of
 * a route known to be quick (its recent service time is under PREFETCH_MAX_MS). The worker reads
 * that task as soon as it writes its result, so it never sits idle for the round trip through
 * the orchestrator; and the task waits at most about one quick request, never behind a slow one.
 * It only happens when every worker is busy, that is, when the job would have queued anyway.
 */
import { performance } from "node:perf_hooks";
import type { Worker } from "../workers/worker.js";
import type { Job } from "./job.js";
import { JobQueue } from "./job-queue.js";

/** Seconds a client should wait before retrying after a 503 for a full queue. */
const RETRY_AFTER_SECONDS = "1";
/** A route whose average service time is under this is "quick": a task may wait behind it. */
const PREFETCH_MAX_MS = 5;
/** Weight of the newest sample in a route's moving average of service time. */
const SERVICE_TIME_WEIGHT = 0.2;

export class Dispatcher {
  private readonly workers: Worker[] = [];
  private readonly queue: JobQueue;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  /** Moving average of each route's service time (milliseconds), for prefetch. */
  private readonly serviceMs = new Map<string, number>();

  /** `onDequeued` hears how long each queued job waited (milliseconds), for the metrics. */
  constructor(
    maxQueue: number,
    private readonly onDequeued: (waitedMs: number) => void = () => {},
    private readonly prefetch = true,
  ) {
    this.queue = new JobQueue(maxQueue);
  }

  get queued(): number {
    return this.queue.length;
  }

  get busy(): number {
    return this.inflight;
  }

  /** Makes a ready worker available and gives it queued work. */
  addWorker(worker: Worker): void {
    worker.accepting = true;
    this.workers.push(worker);
    this.fill(worker);
  }

  /** Stops giving work to a worker (it died, or it is being drained). Its in-flight jobs stay its own. */
  removeWorker(worker: Worker): void {
    worker.accepting = false;
    const i = this.workers.indexOf(worker);
    if (i >= 0) this.workers.splice(i, 1);
  }

  submit(job: Job): void {
    // A prefetch slot is used only while nothing is queued, so queued jobs keep their FIFO order.
    const worker = this.leastBusy() ?? (this.queue.length === 0 ? this.prefetchTarget() : undefined);
    if (worker) {
      this.run(worker, job);
    } else if (!this.queue.push(job)) {
      job.fail(503, `all workers are busy and the queue is full (${this.queue.capacity} waiting)`, {
        "retry-after": RETRY_AFTER_SECONDS,
      });
    }
  }

  /** A worker finished a task that took it `serviceMs`: give it the next queued job. */
  taskDone(worker: Worker, route: string, serviceMs: number): void {
    const average = this.serviceMs.get(route);
    this.serviceMs.set(route, average === undefined ? serviceMs : average + SERVICE_TIME_WEIGHT * (serviceMs - average));
    this.inflight--;
    if (worker.accepting) this.fill(worker);
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
    const worker = this.leastBusy();
    if (worker) {
      this.run(worker, job);
      return true;
    }
    return this.queue.unshift(job);
  }

  /**
   * Answers the jobs that waited too long in the queue: 503 past `queueTimeoutMs`, 504 past
   * `requestTimeoutMs` (0 turns either off). The queue is FIFO, so only its head needs looking at.
   */
  expireQueued(now: number, queueTimeoutMs: number, requestTimeoutMs: number): void {
    for (let job = this.queue.peek(); job; job = this.queue.peek()) {
      const waited = now - job.submittedAt;
      if (job.abandoned || job.answered) {
        this.queue.shift();
      } else if (queueTimeoutMs > 0 && waited > queueTimeoutMs) {
        this.queue.shift();
        job.fail(503, `no worker became free within the queue timeout (${queueTimeoutMs / 1000} s)`, {
          "retry-after": RETRY_AFTER_SECONDS,
        });
      } else if (requestTimeoutMs > 0 && waited > requestTimeoutMs) {
        this.queue.shift();
        job.fail(504, `the request did not complete within the timeout (${requestTimeoutMs / 1000} s)`);
      } else {
        break;
      }
    }
    this.checkIdle();
  }

  /** Answers every queued job with `status` (used when shutdown time runs out). */
  rejectQueued(status: number, detail: string): void {
    for (const job of this.queue.drain()) job.fail(status, detail);
    this.checkIdle();
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.inflight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private leastBusy(): Worker | undefined {
    let best: Worker | undefined;
    let bestLoad = Infinity;
    for (const w of this.workers) {
      if (w.inflightCount >= w.concurrency) continue;
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
    for (const w of this.workers) if (this.canPrefetch(w)) return w;
    return undefined;
  }

  private canPrefetch(w: Worker): boolean {
    if (w.inflightCount !== 1) return false;
    const running = w.running;
    if (running === undefined) return false;
    const average = this.serviceMs.get(running.route);
    return average !== undefined && average < PREFETCH_MAX_MS;
  }

  private fill(worker: Worker): void {
    while (worker.inflightCount < worker.concurrency || (this.prefetch && this.canPrefetch(worker))) {
      const job = this.queue.shift();
      if (!job) return;
      if (job.abandoned || job.answered) continue;
      this.onDequeued(performance.now() - job.submittedAt);
      this.run(worker, job);
    }
  }

  private run(worker: Worker, job: Job): void {
    this.inflight++;
    job.assignedAt = performance.now();
    worker.assign(job);
  }

  private checkIdle(): void {
    if (this.inflight !== 0 || this.queue.length !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
