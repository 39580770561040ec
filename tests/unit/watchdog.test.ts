/**
 * The watchdog's checks with stand-in workers, a real dispatcher and its own clock: hung workers
 * (only started requests fail), request timeouts, and the memory limits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import type { WorkerPool } from "../../src/orchestrator/workers/pool.js";
import { CANCEL_GRACE_MS, Watchdog, type WatchdogOptions } from "../../src/orchestrator/workers/watchdog.js";
import type { Worker } from "../../src/orchestrator/workers/worker.js";
import { fakeJob, FakeWorker as SharedFakeWorker, type FakeJob } from "../support/dispatch-fakes.js";

const job = (submittedAt = 0): FakeJob => fakeJob("/x", submittedAt);

/** Stands in for Worker: what the watchdog reads, and what it did to it. */
class FakeWorker extends SharedFakeWorker {
  readonly id = "w0";
  pid = 1;
  ready = true;
  draining = false;
  lastHeard = 0;
  memory = 0;
  terminated: string | null = null;
  killed: string | null = null;
  cancelled: number[] = [];
  constructor(
    concurrency = 1,
    /** Task ids it said TaskStarted for (a worker of concurrency above 1). */
    readonly started = new Set<number>(),
  ) {
    super(concurrency, concurrency === 1);
  }
  unstartedJobs(): Job[] {
    return this.concurrency === 1 ? this.jobs.slice(1) : this.jobs.filter((j) => !this.started.has(j.taskId));
  }
  rss(): number {
    return this.memory;
  }
  cancel(taskId: number): void {
    this.cancelled.push(taskId);
  }
  terminate(cause: string): void {
    this.terminated = cause;
  }
  kill(cause: string): void {
    this.killed = cause;
  }
}

function setup(
  worker: FakeWorker,
  limits: Partial<Pick<WatchdogOptions, "requestTimeoutMs" | "workerTimeoutMs" | "maxWorkerMemoryBytes">>,
): { watchdog: Watchdog; dispatcher: Dispatcher; recycled: string[]; logs: string[] } {
  const dispatcher = new Dispatcher(10);
  dispatcher.addWorker(worker as unknown as Worker);
  const recycled: string[] = [];
  const logs: string[] = [];
  const pool = {
    serving: [worker],
    workers: [worker],
    recycle: (_w: Worker, cause: string) => void recycled.push(cause),
  } as unknown as WorkerPool;
  const watchdog = new Watchdog({
    pool,
    dispatcher,
    log: pino({ level: "info" }, { write: (line: string) => void logs.push(line) }),
    requestTimeoutMs: 0,
    workerTimeoutMs: 0,
    maxWorkerMemoryBytes: 0,
    ...limits,
  });
  return { watchdog, dispatcher, recycled, logs };
}

describe("Watchdog", () => {
  it("a hung async worker: the requests it started fail with 504, those it never started are left to go elsewhere", () => {
    const started = job();
    const notStarted = [job(), job()];
    const w = new FakeWorker(64, new Set([started.taskId]));
    w.jobs.push(started, ...notStarted);
    const { watchdog, dispatcher, logs } = setup(w, { workerTimeoutMs: 1000 });
    watchdog.tick(900);
    assert.equal(w.killed, null, "not silent long enough yet");
    watchdog.tick(1100);
    assert.equal(started.failedWith, 504);
    for (const j of notStarted) assert.equal(j.failedWith, undefined);
    assert.equal(dispatcher.accepts(w as unknown as Worker), false);
    assert.match(w.killed ?? "", /^hung: silent for 1\.1 s/);
    assert.equal(w.terminated, null, "killed at once: no grace period in which a handed-on task could start");
    assert.ok(logs.some((l) => l.includes("2 request(s) it had not started go to another worker")));
  });

  it("a hung sequential worker: the running request fails, the one waiting behind it does not", () => {
    const running = job();
    const waiting = job();
    const w = new FakeWorker(1);
    w.jobs.push(running, waiting);
    const { watchdog } = setup(w, { workerTimeoutMs: 1000 });
    watchdog.tick(2000);
    assert.equal(running.failedWith, 504);
    assert.equal(waiting.failedWith, undefined);
    assert.ok(w.killed);
  });

  it("a stalled stream: cut and cancelled at once; a one-at-a-time worker that does not end it is replaced", () => {
    const stream = Object.assign(job(0), { streaming: true, progressAt: 5000 });
    const w = new FakeWorker(1);
    w.jobs.push(stream);
    const { watchdog, dispatcher } = setup(w, { requestTimeoutMs: 1000 });
    watchdog.tick(5900);
    assert.equal(stream.failedWith, undefined, "it made progress 0.9 s ago");
    watchdog.tick(6100);
    assert.equal(stream.failedWith, 504);
    assert.deepEqual(w.cancelled, [stream.taskId], "a stream is cancelled whatever the worker's concurrency");
    assert.equal(w.terminated, null, "it gets a grace period to end the task");
    watchdog.tick(6100 + CANCEL_GRACE_MS + 1);
    assert.match(w.terminated ?? "", /timed out/);
    assert.equal(dispatcher.accepts(w as unknown as Worker), false);
  });

  it("a stalled stream on a worker of many tasks is cancelled, never the worker replaced", () => {
    const stream = Object.assign(job(0), { streaming: true, progressAt: 0 });
    const w = new FakeWorker(64);
    w.jobs.push(stream);
    const { watchdog } = setup(w, { requestTimeoutMs: 1000 });
    watchdog.tick(1100);
    watchdog.tick(10_000);
    assert.deepEqual(w.cancelled, [stream.taskId]);
    assert.equal(w.terminated, null);
  });

  it("a silent worker whose stream waits on its client is not hung", () => {
    const stream = Object.assign(job(0), { streaming: true, progressAt: 0, waitingOnClient: true });
    const w = Object.assign(new FakeWorker(1), { lastSent: 0 });
    w.jobs.push(stream);
    const { watchdog } = setup(w, { workerTimeoutMs: 1000 });
    watchdog.tick(5000);
    assert.equal(w.killed, null);
    assert.equal(w.terminated, null);
    stream.waitingOnClient = false;
    watchdog.tick(5000);
    assert.ok(w.killed ?? w.terminated, "silent with nothing to wait for: hung");
  });

  it("a hung idle worker is terminated (SIGTERM first: nothing to hand on)", () => {
    const w = new FakeWorker(1);
    const { watchdog } = setup(w, { workerTimeoutMs: 1000 });
    watchdog.tick(2000);
    assert.match(w.terminated ?? "", /^hung/);
    assert.equal(w.killed, null);
  });

  it("--timeout: an async worker's late request is cancelled; a sequential worker is replaced", () => {
    const late = job(0);
    const onTime = job(900);
    const asyncWorker = new FakeWorker(64, new Set([late.taskId, onTime.taskId]));
    asyncWorker.jobs.push(late, onTime);
    const a = setup(asyncWorker, { requestTimeoutMs: 1000 });
    asyncWorker.lastHeard = 1500;
    a.watchdog.tick(1500);
    assert.equal(late.failedWith, 504);
    assert.equal(onTime.failedWith, undefined);
    assert.deepEqual(asyncWorker.cancelled, [late.taskId]);
    assert.equal(asyncWorker.terminated, null);

    const syncLate = job(0);
    const syncWorker = new FakeWorker(1);
    syncWorker.jobs.push(syncLate);
    const s = setup(syncWorker, { requestTimeoutMs: 1000 });
    syncWorker.lastHeard = 1500;
    s.watchdog.tick(1500);
    assert.equal(syncLate.failedWith, 504);
    assert.match(syncWorker.terminated ?? "", /timed out/);
    assert.equal(s.dispatcher.accepts(syncWorker as unknown as Worker), false);
  });

  it("memory: over the limit the worker is recycled; over twice the limit it is killed", () => {
    const mb = 1024 * 1024;
    const w = new FakeWorker(1);
    const { watchdog, recycled, dispatcher } = setup(w, { maxWorkerMemoryBytes: 100 * mb });
    w.memory = 90 * mb;
    watchdog.tick(1000);
    assert.deepEqual(recycled, []);
    w.memory = 150 * mb;
    watchdog.tick(2000);
    assert.deepEqual(recycled, ["memory 150 MB over the limit of 100 MB"]);
    assert.equal(w.killed, null);
    w.memory = 250 * mb;
    watchdog.tick(3000);
    assert.match(w.killed ?? "", /^memory 250 MB over twice the limit/);
    assert.equal(dispatcher.accepts(w as unknown as Worker), false);
  });
});
