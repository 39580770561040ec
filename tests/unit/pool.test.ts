/**
 * The pool's supervision with stand-in workers and a real dispatcher: failed starts after start-up
 * never stop it (capped backoff, the outage 503), signals from outside are no crash loop, and a
 * worker past the memory limit leaves the dispatcher at once.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { pino } from "pino";
import type { AppSpec } from "../../src/shared/app-spec.js";
import { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import type { WorkerRuntime } from "../../src/orchestrator/runtimes/runtime.js";
import { StartupFailure } from "../../src/shared/startup-failure.js";
import { WorkerPool } from "../../src/orchestrator/workers/pool.js";
import type { SocketDir } from "../../src/orchestrator/workers/socket-dir.js";
import type { Worker, WorkerOptions } from "../../src/orchestrator/workers/worker.js";
import { fakeJob, FakeWorker as SharedFakeWorker, type FakeJob } from "../support/dispatch-fakes.js";

const job = (): FakeJob => fakeJob();

/** Stands in for Worker: its start is settled by the test; it dies when told to. */
class FakeWorker extends SharedFakeWorker {
  readonly id: string;
  pid = 1;
  served = 0;
  ready = false;
  stopped = false;
  killed = false;
  private settle: { resolve(): void; reject(e: Error): void } | null = null;
  constructor(readonly options: WorkerOptions) {
    super();
    this.id = options.id;
  }
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.settle = {
        resolve: () => {
          this.ready = true;
          resolve();
        },
        reject,
      };
    });
  }
  discoverRoutes(): Promise<never[]> {
    return Promise.resolve([]);
  }
  unstartedJobs(): Job[] {
    return this.jobs.slice(1);
  }
  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }
  kill(): void {
    this.killed = true;
  }
  /** Its start succeeds (WorkerReady). */
  ready_(): void {
    this.settle!.resolve();
  }
  /** Its start fails the way `err` says. */
  failStart(err: Error): void {
    this.settle!.reject(err);
  }
  /** The process dies after having been ready. */
  die(): void {
    this.ready = false;
    const held = this.jobs.splice(0);
    this.options.listener.exited(this as unknown as Worker, held.slice(0, 1), "killed by SIGKILL", held.slice(1));
  }
}

const importError = (): StartupFailure => new StartupFailure("import_error", "this deploy is broken");
const killedWhileStarting = (): StartupFailure => new StartupFailure("exited", "worker exited before it was ready (killed by SIGKILL)", "", "SIGKILL");

/** Lets promise callbacks run (start() settling). */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(size: number): {
  pool: WorkerPool;
  dispatcher: Dispatcher;
  workers: FakeWorker[];
  fatal: Error[];
  logs: string[];
} {
  const workers: FakeWorker[] = [];
  const fatal: Error[] = [];
  const logs: string[] = [];
  const dispatcher = new Dispatcher(10);
  const pool = new WorkerPool({
    size,
    runtime: {} as WorkerRuntime,
    app: {} as AppSpec,
    socketDir: {} as SocketDir,
    dispatcher,
    log: pino({ level: "info" }, { write: (line: string) => void logs.push(line) }),
    startTimeoutMs: 1000,
    secret: "s",
    heartbeatIntervalMs: 0,
    maxRequests: 0,
    maxRequestsJitter: 0,
    drainTimeoutMs: 1000,
    onFatal: (err) => fatal.push(err),
    onRoutes: () => {},
    onRestart: () => {},
    createWorker: (options) => {
      const w = new FakeWorker(options);
      workers.push(w);
      return w as unknown as Worker;
    },
  });
  return { pool, dispatcher, workers, fatal, logs };
}

/** Starts the pool: discovery, then the rest, every start succeeding. */
async function started(size: number): Promise<ReturnType<typeof setup>> {
  const s = setup(size);
  const discovering = s.pool.discover();
  s.workers[0]!.ready_();
  await discovering;
  const starting = s.pool.start();
  for (const w of s.workers.slice(1)) w.ready_();
  await starting;
  return s;
}

describe("WorkerPool", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
  afterEach(() => mock.timers.reset());

  it("after start-up, a replacement that keeps failing to start never stops the pool: retried with capped backoff", async () => {
    const { pool, workers, fatal, logs } = await started(2);
    workers[0]!.die();
    for (let i = 1; i <= 8; i++) {
      workers.at(-1)!.failStart(importError());
      await flush();
      assert.equal(pool.health.startFailuresInARow, i);
      mock.timers.tick(5_000); // the backoff never exceeds 5 s
      await flush();
    }
    assert.deepEqual(fatal, []);
    assert.equal(pool.health.serving, 1);
    assert.match(pool.health.lastStartError ?? "", /this deploy is broken/);
    assert.ok(logs.some((l) => l.includes("failed to start (8 in a row, 1 worker(s) serving); retrying in 5000 ms")));
    workers.at(-1)!.ready_();
    await flush();
    assert.deepEqual(pool.health, { size: 2, serving: 2, startFailuresInARow: 0, lastStartError: null });
  });

  it("with no worker serving and starts failing, the dispatcher answers 503 with Retry-After at once, queued jobs too", async () => {
    const { pool, dispatcher, workers } = await started(1);
    const queued = [job(), job()];
    workers[0]!.die();
    for (const j of queued) dispatcher.submit(j); // a replacement is on its way: they wait
    assert.equal(dispatcher.queued, 2);
    workers.at(-1)!.failStart(importError());
    await flush();
    for (const j of queued) assert.equal(j.failedWith, 503);
    const late = job();
    dispatcher.submit(late);
    assert.equal(late.failedWith, 503);
    assert.equal(late.failedHeaders?.["retry-after"], "1");
    assert.equal(pool.health.serving, 0);
    mock.timers.tick(100);
    await flush();
    workers.at(-1)!.ready_();
    await flush();
    const after = job();
    dispatcher.submit(after);
    assert.equal(after.failedWith, undefined);
    assert.deepEqual(workers.at(-1)!.jobs, [after]);
  });

  it("a failed start while another worker is starting is no outage: requests wait for that one", async () => {
    const { pool, dispatcher, workers } = await started(2);
    workers[0]!.die();
    workers[1]!.die();
    const [a, b] = workers.slice(-2);
    const waiting = job();
    dispatcher.submit(waiting);
    a!.failStart(killedWhileStarting());
    await flush();
    assert.equal(waiting.failedWith, undefined, "b is on its way");
    b!.ready_();
    await flush();
    assert.deepEqual(b!.jobs, [waiting]);
    assert.equal(pool.health.serving, 1);
  });

  it("before start-up completed, five failures to load the app stop the server", async () => {
    const { workers, fatal, pool } = setup(2);
    const discovering = pool.discover();
    workers[0]!.ready_();
    await discovering;
    workers[0]!.die(); // a replacement starts while start-up is still under way
    for (let i = 0; i < 5; i++) {
      workers.at(-1)!.failStart(importError());
      await flush();
      mock.timers.tick(5_000);
      await flush();
    }
    assert.equal(fatal.length, 1);
  });

  it("workers killed by a signal while starting are no crash loop, even before start-up completed", async () => {
    const { workers, fatal, pool } = setup(2);
    const discovering = pool.discover();
    workers[0]!.ready_();
    await discovering;
    workers[0]!.die();
    for (let i = 0; i < 8; i++) {
      workers.at(-1)!.failStart(killedWhileStarting());
      await flush();
      mock.timers.tick(5_000);
      await flush();
    }
    assert.deepEqual(fatal, []);
    assert.equal(pool.health.startFailuresInARow, 8);
  });

  it("a worker past the memory limit takes no new work at once and drains while a replacement starts", async () => {
    const { pool, dispatcher, workers } = await started(1);
    const old = workers[0]!;
    const held = job();
    dispatcher.submit(held);
    pool.recycle(old as unknown as Worker, "memory 300 MB over the limit of 250 MB");
    assert.equal(dispatcher.accepts(old as unknown as Worker), false);
    assert.equal(old.stopped, true, "told to finish what it holds and exit");
    assert.deepEqual(old.jobs, [held]);
    const fresh = workers.at(-1)!;
    assert.notEqual(fresh, old);
    const next = job();
    dispatcher.submit(next);
    assert.deepEqual(old.jobs, [held], "nothing new for the old worker");
    fresh.ready_();
    await flush();
    assert.deepEqual(fresh.jobs, [next]);
  });

  it("--max-requests keeps the old worker serving until its replacement is ready", async () => {
    const { pool, dispatcher, workers } = await started(1);
    const old = workers[0]!;
    pool.recycle(old as unknown as Worker, "served 100 requests");
    assert.equal(dispatcher.accepts(old as unknown as Worker), true);
    workers.at(-1)!.ready_();
    await flush();
    assert.equal(dispatcher.accepts(old as unknown as Worker), false);
    assert.equal(old.stopped, true);
  });
});
