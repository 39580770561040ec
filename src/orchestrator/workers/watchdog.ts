/**
 * The periodic checks that need a clock: requests past --timeout (504), requests past
 * --queue-timeout (503), workers silent past --worker-timeout (hung: killed), and workers over
 * --max-worker-memory (recycled; killed at twice the limit).
 *
 * A streaming task times out when it makes no progress for --timeout (docs/protocol.md,
 * Timeouts): its response is cut (or answered 504 before its head) and the task cancelled, on a
 * worker of any concurrency; a worker of concurrency 1 that has not ended it CANCEL_GRACE_MS
 * later (a synchronous handler stuck between two chunks never reads the cancel) is replaced.
 */
import { performance } from "node:perf_hooks";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import type { Logger } from "../log.js";
import type { WorkerPool } from "./pool.js";
import type { Worker } from "./worker.js";
import type { Job } from "../dispatch/job.js";

export interface WatchdogOptions {
  readonly pool: WorkerPool;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  /** 0 turns a check off. */
  readonly requestTimeoutMs: number;
  readonly workerTimeoutMs: number;
  readonly maxWorkerMemoryBytes: number;
}

/** Timeouts are enforced to within this much. */
const TICK_MS = 100;
/**
 * Reading /proc for every worker costs microseconds, so it is done on every tick: a worker that
 * leaks per request (4 MB in 10 ms is 400 MB a second) must be caught past the limit, for a
 * graceful recycle, before it reaches twice it.
 */
const MEMORY_CHECK_MS = TICK_MS;

/** Time a cancelled stream's task gets to end before its one-at-a-time worker is replaced. */
export const CANCEL_GRACE_MS = 1_000;

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private lastMemoryCheck = 0;
  /** Streaming tasks cancelled for a stall, and when. */
  private readonly cancelled = new WeakMap<Job, number>();
  /** Tasks whose client left, cancelled again (for good) at their --timeout. */
  private readonly stopped = new WeakSet<Job>();

  constructor(private readonly options: WatchdogOptions) {}

  start(): void {
    const { dispatcher, requestTimeoutMs, workerTimeoutMs, maxWorkerMemoryBytes } = this.options;
    // The queue timeout is the dispatcher's: it expires its own queue on each tick.
    if (requestTimeoutMs + dispatcher.queueTimeoutMs + workerTimeoutMs + maxWorkerMemoryBytes === 0) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round of checks (the timer calls it every TICK_MS; tests call it with their own clock). */
  tick(now = performance.now()): void {
    const { dispatcher, pool, requestTimeoutMs, workerTimeoutMs, maxWorkerMemoryBytes } = this.options;
    dispatcher.expireQueued(now, requestTimeoutMs);
    const checkMemory = maxWorkerMemoryBytes > 0 && now - this.lastMemoryCheck >= MEMORY_CHECK_MS;
    if (checkMemory) this.lastMemoryCheck = now;
    for (const worker of pool.serving) {
      if (!worker.ready) continue;
      if (workerTimeoutMs > 0 && now - worker.lastHeard > workerTimeoutMs && !this.waitsOnClients(worker, now)) this.killHung(worker, now);
      else if (requestTimeoutMs > 0) this.expireRequests(worker, now);
    }
    // Every worker, draining ones included: a retiring worker can still be growing without bound.
    if (checkMemory) for (const worker of pool.workers) this.checkMemory(worker);
  }

  /**
   * A worker silent because its streams wait on their clients (a spent window, an upload still
   * arriving) is not hung: it may say nothing until the orchestrator sends it more.
   */
  private waitsOnClients(worker: Worker, now: number): boolean {
    if (now - worker.lastSent < this.options.workerTimeoutMs) return true;
    return worker.inflightJobs().some((j) => j.waitingOnClient === true);
  }

  private expireRequests(worker: Worker, now: number): void {
    const { requestTimeoutMs, log, dispatcher } = this.options;
    for (const job of worker.inflightJobs()) {
      if (job.streaming) {
        if (this.expireStream(worker, job, now)) return;
        continue;
      }
      if (now - job.submittedAt <= requestTimeoutMs) continue;
      if (job.answered) {
        // Its client left and the handler ran on (an ASGI app hearing http.disconnect): the
        // timeout is as hard for it as for any request.
        if (job.clientGone && !this.stopped.has(job)) {
          this.stopped.add(job);
          log.warn(
            { worker: worker.id, workerPid: worker.pid, route: job.route, requestId: job.requestId },
            `request ${job.requestId} (${job.method} ${job.route}) ran past the timeout after its client left: cancelled`,
          );
          worker.cancel(job.taskId);
        }
        continue;
      }
      job.fail(504, `the request did not complete within the timeout (${seconds(requestTimeoutMs)} s)`);
      if (worker.concurrency > 1) {
        // An async worker abandons the task and answers; its other requests go on.
        log.warn(
          { worker: worker.id, workerPid: worker.pid, route: job.route, requestId: job.requestId },
          `request ${job.requestId} (${job.method} ${job.route}) timed out on worker ${worker.id}: cancelled`,
        );
        worker.cancel(job.taskId);
      } else {
        // A synchronous handler cannot be interrupted: the worker goes, a fresh one takes its place.
        log.warn(
          { worker: worker.id, workerPid: worker.pid, route: job.route, requestId: job.requestId },
          `request ${job.requestId} (${job.method} ${job.route}) timed out on worker ${worker.id} (pid ${worker.pid}): replacing the worker`,
        );
        dispatcher.removeWorker(worker);
        worker.terminate(`its request ${job.requestId} timed out`);
        return;
      }
    }
  }

  /** A stalled stream (see the class comment); true when the worker is being replaced. */
  private expireStream(worker: Worker, job: Job, now: number): boolean {
    const { requestTimeoutMs, log, dispatcher } = this.options;
    const cancelledAt = this.cancelled.get(job);
    const fields = { worker: worker.id, workerPid: worker.pid, route: job.route, requestId: job.requestId };
    if (cancelledAt !== undefined) {
      if (worker.concurrency > 1 || now - cancelledAt <= CANCEL_GRACE_MS) return false;
      log.warn(fields, `stalled stream of request ${job.requestId} (${job.method} ${job.route}) did not end when cancelled: replacing worker ${worker.id} (pid ${worker.pid})`);
      dispatcher.removeWorker(worker);
      worker.terminate(`its request ${job.requestId} timed out`);
      return true;
    }
    if (now - job.progressAt <= requestTimeoutMs) return false;
    log.warn(fields, `request ${job.requestId} (${job.method} ${job.route}) made no progress for ${seconds(requestTimeoutMs)} s on worker ${worker.id}: stream cancelled`);
    job.fail(504, `the request made no progress within the timeout (${seconds(requestTimeoutMs)} s)`);
    worker.cancel(job.taskId);
    this.cancelled.set(job, now);
    return false;
  }

  private killHung(worker: Worker, now: number): void {
    const { log, dispatcher, workerTimeoutMs } = this.options;
    const silent = seconds(now - worker.lastHeard);
    // Only the tasks it started may fail; the others go to another worker once it is gone.
    const unstarted = worker.unstartedJobs();
    const jobs = worker.inflightJobs().filter((j) => !unstarted.includes(j));
    const running = jobs.map((j) => `${j.method} ${j.route} [request ${j.requestId}, running ${seconds(now - j.submittedAt)} s]`);
    // A Node worker's heartbeats come from its event loop: its silence means the loop is blocked
    // (a handler in a synchronous loop), which is what its operator needs to read.
    const timeout = `worker timeout ${seconds(workerTimeoutMs)} s`;
    const what = worker.runtime === "node" ? `event loop blocked for ${silent} s (no heartbeat; ${timeout})` : `silent for ${silent} s (${timeout})`;
    log.error(
      { worker: worker.id, workerPid: worker.pid, silentMs: Math.round(now - worker.lastHeard), requests: running, notStarted: unstarted.length },
      `worker ${worker.id} (pid ${worker.pid}) ${what}` +
        (running.length ? ` while handling ${running.join(", ")}` : " while idle") +
        (unstarted.length ? `; ${unstarted.length} request(s) it had not started go to another worker` : "") +
        ": killing it",
    );
    for (const job of jobs) job.fail(504, `the worker handling this request stopped responding for ${silent} s and was replaced`);
    dispatcher.removeWorker(worker);
    // With tasks to hand on, no grace period: none of them may start in it.
    const cause = worker.runtime === "node" ? `hung: event loop blocked for ${silent} s` : `hung: silent for ${silent} s`;
    if (unstarted.length > 0) worker.kill(cause);
    else worker.terminate(cause);
  }

  private checkMemory(worker: Worker): void {
    const { maxWorkerMemoryBytes, pool, log, dispatcher } = this.options;
    if (!worker.ready && !worker.draining) return;
    const rss = worker.rss();
    if (rss <= maxWorkerMemoryBytes) return;
    const mb = (rss / 1048576).toFixed(0);
    if (rss > 2 * maxWorkerMemoryBytes) {
      // Far over the limit, it may be growing without bound: do not wait for its request to end.
      log.error({ worker: worker.id, workerPid: worker.pid, rssMb: Number(mb) }, `worker ${worker.id} (pid ${worker.pid}) uses ${mb} MB, twice the limit: killing it`);
      dispatcher.removeWorker(worker);
      worker.kill(`memory ${mb} MB over twice the limit`);
      return;
    }
    pool.recycle(worker, `memory ${mb} MB over the limit of ${(maxWorkerMemoryBytes / 1048576).toFixed(0)} MB`);
  }
}
