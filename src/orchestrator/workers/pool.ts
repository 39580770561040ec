/**
 * Keeps the pool at its size: starts workers in parallel, answers the jobs of a worker that died
 * with a 502 at once and replaces it, recycles workers (max requests with the replacement ready
 * before the old one leaves; memory by draining the old one at once), resizes on demand, and
 * reloads the app with a rolling restart.
 *
 * Replacements that fail to start are retried with capped backoff for as long as the server runs:
 * once it served, a broken deploy on disk or a worker killed while starting must not take down the
 * workers that still serve. While no worker serves and starts keep failing, the dispatcher answers
 * 503 at once (an outage). Only before the server first served does a crash loop stop it.
 */
import { randomInt } from "node:crypto";
import type { AppSpec } from "../../shared/app-spec.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import type { Job } from "../dispatch/job.js";
import type { Logger } from "../log.js";
import type { RouteInfo, RouteSync } from "../../protocol/messages.js";
import { BlockingRoutes } from "./blocking-routes.js";
import type { WorkerRuntime } from "../runtimes/runtime.js";
import type { SocketDir } from "./socket-dir.js";
import { StartupFailure, Worker, type WorkerListener, type WorkerOptions } from "./worker.js";

export interface PoolOptions {
  readonly size: number;
  readonly runtime: WorkerRuntime;
  readonly app: AppSpec;
  readonly socketDir: SocketDir;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly startTimeoutMs: number;
  readonly secret: string;
  readonly heartbeatIntervalMs: number;
  /** Recycle a worker after this many requests (0: never), plus up to `maxRequestsJitter` more. */
  readonly maxRequests: number;
  readonly maxRequestsJitter: number;
  /** Time a retired worker gets to finish its in-flight requests. */
  readonly drainTimeoutMs: number;
  /** Workers keep failing to start: the server cannot go on. */
  readonly onFatal: (err: Error) => void;
  /** A reload brought a new route table. */
  readonly onRoutes: (routes: RouteInfo[]) => void;
  /** A worker is being replaced: crashed, hung, timeout, memory, max_requests, reload, protocol_error. */
  readonly onRestart: (cause: string) => void;
  /** A worker failed to start (metrics). */
  readonly onStartFailed?: () => void;
  /** Makes the worker objects (tests give stand-ins); the real Worker by default. */
  readonly createWorker?: (options: WorkerOptions) => Worker;
}

/** The pool's health, for the status page and the metrics. */
export interface PoolHealth {
  /** The number of workers the pool keeps. */
  readonly size: number;
  /** Workers taking requests now. */
  readonly serving: number;
  /** Failed worker starts since the last one that succeeded. */
  readonly startFailuresInARow: number;
  /** The last failed start's error, until a start succeeds. */
  readonly lastStartError: string | null;
}

/**
 * Before the server first served: consecutive failures to load the app after which it gives up
 * (gunicorn stops at the first).
 */
const CRASH_LOOP_LIMIT = 5;
/**
 * Signals that come from outside (the OOM killer, an operator): a worker they killed while it
 * started says nothing about the app, so it does not count toward CRASH_LOOP_LIMIT. A crash
 * (SIGSEGV, SIGABRT) does.
 */
const OUTSIDE_SIGNALS = new Set(["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP"]);
const RESPAWN_DELAY_MIN_MS = 100;
const RESPAWN_DELAY_MAX_MS = 5_000;

/** The wait before the next start after `failures` failed ones in a row: doubling from 100 ms, capped at 5 s (the fronts' primary uses it too). */
export function respawnDelayMs(failures: number): number {
  return Math.min(RESPAWN_DELAY_MIN_MS * 2 ** (Math.max(1, failures) - 1), RESPAWN_DELAY_MAX_MS);
}

/** A small fixed set of causes for the restart metric, from the free-text exit cause. */
function restartCause(cause: string): string {
  if (cause.startsWith("hung")) return "hung";
  if (cause.includes("timed out")) return "timeout";
  if (cause.startsWith("memory")) return "memory";
  if (cause.startsWith("protocol error")) return "protocol_error";
  return "crashed";
}

export class WorkerPool implements WorkerListener {
  /** The workers that count toward the pool's size: serving, or starting to take a dead one's place. */
  private readonly active = new Set<Worker>();
  /** Removed from the dispatcher, finishing their in-flight requests before they exit. */
  private readonly retiring = new Set<Worker>();
  /** Started for a reload or a recycle, not yet swapped in. */
  private readonly incoming = new Set<Worker>();
  private readonly recycling = new Set<Worker>();
  /** Routes whose handlers block a Node worker's event loop: the dispatcher keeps them apart. */
  private readonly blockingRoutes = new BlockingRoutes((route, blocking) => this.options.dispatcher.setBlocking(route, blocking));
  private readonly servedLimit = new WeakMap<Worker, number>();
  private nextId = 0;
  private targetSize: number;
  private stopping = false;
  /** Failed starts in a row, of any cause: the backoff and the health report. */
  private startFailures = 0;
  /** Failed starts in a row that were the app's fault (not killed from outside): the crash-loop limit. */
  private appStartFailures = 0;
  private lastStartError: string | null = null;
  /** Start-up is over: the server serves, and failed starts never stop it any more. */
  private startupDone = false;
  private respawnTimer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;

  constructor(private readonly options: PoolOptions) {
    this.targetSize = options.size;
  }

  /** Every worker process the pool owns, whatever its state. */
  get workers(): Worker[] {
    return [...this.active, ...this.retiring, ...this.incoming];
  }

  /** The workers that serve requests now (or will, once started). */
  get serving(): Worker[] {
    return [...this.active];
  }

  /** A new worker with a fresh id, not yet started and not yet in the pool. */
  private newWorker(): Worker {
    const create = this.options.createWorker ?? ((options: WorkerOptions) => new Worker(options));
    const worker = create({
      id: `w${this.nextId++}`,
      runtime: this.options.runtime,
      app: this.options.app,
      socketDir: this.options.socketDir,
      listener: this,
      startTimeoutMs: this.options.startTimeoutMs,
      secret: this.options.secret,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
    });
    const { maxRequests, maxRequestsJitter } = this.options;
    if (maxRequests > 0) this.servedLimit.set(worker, maxRequests + (maxRequestsJitter > 0 ? randomInt(maxRequestsJitter + 1) : 0));
    return worker;
  }

  /** The discovery step: one worker that loads the app and reports its routes, then joins the pool. */
  async discover(): Promise<{ worker: Worker; routes: RouteInfo[] }> {
    const worker = this.newWorker();
    this.active.add(worker);
    await worker.start();
    return { worker, routes: await worker.discoverRoutes() };
  }

  /** Starts the rest of the pool in parallel; all workers join the dispatcher once all are ready. */
  async start(): Promise<void> {
    const starting: Worker[] = [];
    while (this.active.size < this.targetSize) {
      const w = this.newWorker();
      this.active.add(w);
      starting.push(w);
    }
    await Promise.all(starting.map((w) => w.start()));
    for (const w of this.active) this.options.dispatcher.addWorker(w);
    this.startupDone = true;
  }

  get health(): PoolHealth {
    let serving = 0;
    for (const w of this.active) if (this.options.dispatcher.accepts(w)) serving++;
    return { size: this.targetSize, serving, startFailuresInARow: this.startFailures, lastStartError: this.lastStartError };
  }

  // ---- WorkerListener

  taskDone(worker: Worker, job: Job, serviceMs: number): void {
    this.options.dispatcher.taskDone(worker, job, serviceMs);
    const limit = this.servedLimit.get(worker);
    if (limit !== undefined && worker.served >= limit) this.recycle(worker, `served ${worker.served} requests`);
  }

  exited(worker: Worker, lostJobs: Job[], cause: string, unstartedJobs: Job[]): void {
    const { dispatcher, log } = this.options;
    dispatcher.removeWorker(worker);
    for (const job of dispatcher.retry(unstartedJobs)) {
      job.fail(503, "the worker holding this request died and the queue is full", { "retry-after": "1" });
    }
    for (const job of lostJobs) {
      if (!job.answered) {
        log.error(
          { worker: worker.id, workerPid: worker.pid, cause, route: job.route, method: job.method, requestId: job.requestId },
          `worker ${worker.id} (pid ${worker.pid}) died (${cause}) while handling ${job.method} ${job.route} [request ${job.requestId}]`,
        );
      }
      job.fail(502, `the worker handling this request died (${cause})`);
    }
    dispatcher.jobsLost(lostJobs.length);
    const wasServing = this.active.delete(worker);
    this.retiring.delete(worker);
    this.incoming.delete(worker);
    this.recycling.delete(worker);
    if (!wasServing || this.stopping) return;
    this.options.onRestart(restartCause(cause));
    if (lostJobs.length === 0) {
      log.error({ worker: worker.id, workerPid: worker.pid, cause }, `worker ${worker.id} (pid ${worker.pid}) died (${cause}) while idle`);
    }
    // A worker that crashed while serving is always replaced, at once.
    this.fill(0);
  }

  routeSync(_worker: Worker, routeSyncMs: RouteSync): void {
    this.blockingRoutes.report(routeSyncMs);
  }

  output(worker: Worker, stream: "stdout" | "stderr", line: string): void {
    (stream === "stderr" ? process.stderr : process.stdout).write(`[${worker.id}] ${line}\n`);
  }

  // ---- keeping the size

  /** Starts workers until the pool is at its size again, after `delayMs`. */
  private fill(delayMs: number): void {
    if (this.stopping || this.respawnTimer) return;
    const run = (): void => {
      this.respawnTimer = null;
      while (!this.stopping && this.active.size < this.targetSize) this.startReplacement();
    };
    if (delayMs === 0) run();
    else this.respawnTimer = setTimeout(run, delayMs);
  }

  private startReplacement(): void {
    const worker = this.newWorker();
    this.active.add(worker);
    worker.start().then(
      () => {
        this.startSucceeded();
        if (this.stopping || !this.active.has(worker)) return;
        this.options.log.info({ worker: worker.id, workerPid: worker.pid }, `worker ${worker.id} started (pid ${worker.pid})`);
        this.options.dispatcher.addWorker(worker);
      },
      (err: Error) => {
        this.active.delete(worker);
        if (this.stopping) return;
        const delay = this.startFailed(worker, err);
        if (delay !== null) this.fill(delay);
      },
    );
  }

  private startSucceeded(): void {
    this.startFailures = 0;
    this.appStartFailures = 0;
    this.lastStartError = null;
    this.options.dispatcher.setOutage(null);
  }

  /** Counts a failed start; returns the delay before the next try, or null once the pool gave up. */
  private startFailed(worker: Worker, err: Error): number | null {
    this.startFailures++;
    this.lastStartError = err.message;
    this.options.onStartFailed?.();
    const killed = err instanceof StartupFailure && err.signal !== null && OUTSIDE_SIGNALS.has(err.signal);
    if (!killed) this.appStartFailures++;
    const traceback = err instanceof StartupFailure && err.traceback ? `\n${err.traceback}` : "";
    if (!this.startupDone && this.appStartFailures >= CRASH_LOOP_LIMIT) {
      this.options.log.fatal(
        { worker: worker.id, failures: this.appStartFailures, err: err.message },
        `workers failed to start ${this.appStartFailures} times in a row; stopping: ${err.message}${traceback}`,
      );
      this.options.onFatal(err);
      return null;
    }
    const delay = respawnDelayMs(this.startFailures);
    const { dispatcher } = this.options;
    const serving = dispatcher.workerCount;
    // An outage only when nothing is on its way either: while another worker starts, requests wait for it.
    const outage = serving === 0 && ![...this.active].some((w) => !dispatcher.accepts(w));
    if (outage) {
      dispatcher.setOutage({
        detail: `no worker is serving: workers fail to start (${this.startFailures} in a row); the next try is in ${delay} ms`,
        retryAfterSeconds: Math.max(1, Math.ceil(delay / 1000)),
      });
    }
    this.options.log.error(
      { worker: worker.id, failures: this.startFailures, serving, err: err.message },
      `worker ${worker.id} failed to start (${this.startFailures} in a row, ${serving} worker(s) serving` +
        `${outage ? ": answering 503 until one starts" : ""}); retrying in ${delay} ms: ${err.message}${traceback}`,
    );
    return delay;
  }

  /** Drains a worker: no new tasks, in-flight ones finish (up to the drain timeout), then it exits. */
  private retire(worker: Worker): void {
    this.active.delete(worker);
    this.recycling.delete(worker);
    this.retiring.add(worker);
    this.options.dispatcher.removeWorker(worker);
    void worker.stop(this.options.drainTimeoutMs).then(() => this.retiring.delete(worker));
  }

  /**
   * Replaces a worker that served its share (it keeps serving until its replacement is ready, so
   * capacity never dips) or grew past the memory limit (drained at once, see below).
   */
  recycle(worker: Worker, cause: string): void {
    if (this.stopping || !this.active.has(worker) || this.recycling.has(worker)) return;
    const memory = cause.startsWith("memory");
    this.options.onRestart(memory ? "memory" : "max_requests");
    this.options.log.info({ worker: worker.id, workerPid: worker.pid, cause }, `recycling worker ${worker.id} (pid ${worker.pid}): ${cause}`);
    if (memory) {
      // Past the soft limit it takes no new work at all, so that nothing waits on a worker that
      // may reach the hard limit and be killed: it finishes what it holds while a fresh one starts.
      this.retire(worker);
      this.fill(0);
      return;
    }
    this.recycling.add(worker);
    const fresh = this.newWorker();
    this.incoming.add(fresh);
    fresh.start().then(
      () => {
        this.startSucceeded();
        this.incoming.delete(fresh);
        if (this.stopping) {
          void fresh.stop(this.options.drainTimeoutMs);
          return;
        }
        this.active.add(fresh);
        this.options.dispatcher.addWorker(fresh);
        if (this.active.has(worker)) this.retire(worker);
        else if (this.active.size > this.targetSize) this.retire(fresh); // the old one died meanwhile and was replaced
      },
      (err: Error) => {
        this.incoming.delete(fresh);
        this.recycling.delete(worker); // it keeps serving; the next request tries again
        if (!this.stopping) this.startFailed(fresh, err);
      },
    );
  }

  /** SIGTTIN: one more worker. */
  grow(): void {
    this.targetSize++;
    this.options.log.info({ size: this.targetSize }, `adding a worker: pool size ${this.targetSize}`);
    this.fill(0);
  }

  /** SIGTTOU: one worker fewer (never below one); the least busy one is drained. */
  shrink(): void {
    if (this.targetSize <= 1) {
      this.options.log.warn("the pool already has a single worker");
      return;
    }
    this.targetSize--;
    this.options.log.info({ size: this.targetSize }, `removing a worker: pool size ${this.targetSize}`);
    const victim = [...this.active].sort((a, b) => Number(b.ready) - Number(a.ready) || a.inflightCount - b.inflightCount)[0];
    if (victim) this.retire(victim);
  }

  /**
   * SIGHUP: re-imports the app in a fresh set of workers, all ready before any old one goes. If the
   * new code fails to load, the old workers keep serving and the error is logged.
   */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.rollingRestart().finally(() => {
      this.reloading = null;
      if (this.reloadAgain && !this.stopping) {
        this.reloadAgain = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async rollingRestart(): Promise<void> {
    const { log, dispatcher } = this.options;
    log.info(`reloading ${this.options.app.text}`);
    const fresh: Worker[] = [];
    const start = (): Worker => {
      const w = this.newWorker();
      this.incoming.add(w);
      fresh.push(w);
      return w;
    };
    try {
      const first = start();
      await first.start();
      const routes = await first.discoverRoutes();
      await Promise.all(Array.from({ length: this.targetSize - 1 }, () => start().start()));
      if (this.stopping) throw new Error("the server is stopping");
      this.options.onRoutes(routes);
      const old = [...this.active];
      for (const w of fresh) {
        this.incoming.delete(w);
        this.active.add(w);
        dispatcher.addWorker(w);
      }
      for (const w of old) {
        this.retire(w);
        this.options.onRestart("reload");
      }
      this.startSucceeded();
      log.info({ workers: fresh.map((w) => w.id) }, `reloaded: ${fresh.length} new workers serving`);
    } catch (err) {
      for (const w of fresh) {
        this.incoming.delete(w);
        w.kill();
      }
      const traceback = err instanceof StartupFailure && err.traceback ? `\n${err.traceback}` : "";
      log.error({ err: (err as Error).message }, `reload failed; the old workers keep serving: ${(err as Error).message}${traceback}`);
    }
  }

  // ---- stopping

  /** Answers every in-flight request with `status` (shutdown time ran out). */
  failInflight(status: number, detail: string): void {
    for (const w of this.workers) for (const job of w.inflightJobs()) job.fail(status, detail);
  }

  /** Shuts every worker down (Shutdown frame, SIGKILL after `timeoutMs`) and waits for the processes to exit. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    await Promise.all(
      this.workers.map((w) => {
        this.options.dispatcher.removeWorker(w);
        return w.stop(timeoutMs);
      }),
    );
  }

  /** Kills every worker at once (a second Ctrl-C, a failed start-up, a crash loop). */
  kill(): void {
    this.stopping = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    for (const w of this.workers) w.kill();
  }
}
