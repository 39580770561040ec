/** The dispatcher with stand-in workers that run many tasks at once: one sync task per worker at a time. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import type { Worker } from "../../src/orchestrator/workers/worker.js";

interface FakeJob extends Job {
  failed: number | null;
}

let clock = 0;
function job(taskId: number, sync = false): FakeJob {
  return {
    taskId,
    sync,
    slow: false,
    streaming: false,
    progressAt: 0,
    frame: Buffer.alloc(0),
    method: "GET",
    route: "/",
    requestId: String(taskId),
    submittedAt: ++clock,
    assignedAt: 0,
    abandoned: false,
    answered: false,
    failed: null,
    complete() {},
    fail(status: number) {
      this.failed = status;
    },
  };
}

/** Stands in for a Worker: what the dispatcher reads and calls, and a way to finish a task. */
class FakeWorker {
  /** Counted here to check the dispatcher never gives a second sync task. */
  syncTasks = 0;
  readonly running: Job[] = [];
  constructor(
    readonly id: string,
    readonly concurrency: number,
  ) {}
  get inflightCount(): number {
    return this.running.length;
  }
  assign(job: Job): void {
    assert.ok(this.running.length < this.concurrency, `${this.id} got more than ${this.concurrency} tasks`);
    if (job.sync) {
      assert.equal(this.syncTasks, 0, `${this.id} got a second sync task`);
      this.syncTasks++;
    }
    this.running.push(job);
  }
  /** The worker answers `job` (as Worker does: slot and sync slot free, then the listener hears it). */
  finish(job: Job, dispatcher: Dispatcher): void {
    const i = this.running.indexOf(job);
    assert.ok(i >= 0, `${this.id} is not running task ${job.taskId}`);
    this.running.splice(i, 1);
    if (job.sync) this.syncTasks--;
    dispatcher.taskDone(this as unknown as Worker, job, 1);
  }
  ids(): number[] {
    return this.running.map((j) => j.taskId);
  }
}

function setup(concurrencies: number[], maxQueue = 100, queueTimeoutMs = 0): { d: Dispatcher; workers: FakeWorker[] } {
  const d = new Dispatcher(maxQueue, () => {}, true, queueTimeoutMs);
  const workers = concurrencies.map((c, i) => new FakeWorker(`w${i}`, c));
  for (const w of workers) d.addWorker(w as unknown as Worker);
  return { d, workers };
}

describe("dispatcher: sync jobs", () => {
  it("sends each job to the least busy worker and queues when all slots are taken", () => {
    const { d, workers } = setup([2, 2]);
    const [w0, w1] = workers as [FakeWorker, FakeWorker];
    const jobs = [1, 2, 3, 4, 5].map((n) => job(n));
    for (const j of jobs) d.submit(j);
    assert.deepEqual([w0.ids(), w1.ids()], [[1, 3], [2, 4]]);
    assert.equal(d.queued, 1);
    w1.finish(jobs[1]!, d);
    assert.deepEqual(w1.ids(), [4, 5]);
    assert.equal(d.queued, 0);
  });

  it("gives a worker at most one sync job, to the least busy worker whose sync slot is free", () => {
    const { d, workers } = setup([4, 4]);
    const [w0, w1] = workers as [FakeWorker, FakeWorker];
    const s1 = job(1, true);
    const s2 = job(2, true);
    const s3 = job(3, true);
    d.submit(s1);
    d.submit(s2);
    d.submit(s3);
    assert.deepEqual([w0.ids(), w1.ids()], [[1], [2]]);
    assert.equal(d.queued, 1, "the third sync job waits although both workers have free slots");
    // Async jobs still use the free slots meanwhile.
    const a4 = job(4);
    const a5 = job(5);
    d.submit(a4);
    d.submit(a5);
    assert.deepEqual([w0.ids(), w1.ids()], [[1, 4], [2, 5]]);
    assert.equal(d.queued, 1);
    // An async job finishing frees a slot, not the sync slot: the sync job keeps waiting.
    w1.finish(a5, d);
    assert.deepEqual(w1.ids(), [2]);
    assert.equal(d.queued, 1);
    // The sync job on w1 finishes: the waiting one goes there.
    w1.finish(s2, d);
    assert.deepEqual(w1.ids(), [3]);
    assert.equal(w1.syncTasks, 1);
    assert.equal(d.queued, 0);
  });

  it("a worker that frees up takes the older of the queued jobs it may run", () => {
    const { d, workers } = setup([2]);
    const w0 = workers[0]!;
    const s1 = job(1, true);
    const a2 = job(2);
    d.submit(s1);
    d.submit(a2);
    assert.deepEqual(w0.ids(), [1, 2]);
    const s3 = job(3, true);
    const a4 = job(4);
    const s5 = job(5, true);
    const a6 = job(6);
    for (const j of [s3, a4, s5, a6]) d.submit(j);
    assert.equal(d.queued, 4);
    // The sync slot is taken: the async job 2 finishing lets in async 4, not the older sync 3.
    w0.finish(a2, d);
    assert.deepEqual(w0.ids(), [1, 4]);
    // Sync 1 finishing frees both slots kinds: sync 3 (older than async 6) goes first.
    w0.finish(s1, d);
    assert.deepEqual(w0.ids(), [4, 3]);
    w0.finish(a4, d);
    assert.deepEqual(w0.ids(), [3, 6]);
    w0.finish(s3, d);
    assert.deepEqual(w0.ids(), [6, 5]);
    assert.equal(d.queued, 0);
  });

  it("a worker that takes one task at a time runs sync and async jobs alike", () => {
    const { d, workers } = setup([1, 1]);
    const [w0, w1] = workers as [FakeWorker, FakeWorker];
    const jobs = [job(1, true), job(2), job(3, true), job(4)];
    for (const j of jobs) d.submit(j);
    assert.deepEqual([w0.ids(), w1.ids()], [[1], [2]]);
    w1.finish(jobs[1]!, d);
    assert.deepEqual(w1.ids(), [3]);
    w0.finish(jobs[0]!, d);
    assert.deepEqual(w0.ids(), [4]);
  });

  it("the two queues share --max-queue; a full queue answers 503", () => {
    const { d } = setup([2], 2);
    const running = [job(1, true), job(2)];
    const queued = [job(3, true), job(4)];
    const refused = [job(5), job(6, true)];
    for (const j of [...running, ...queued, ...refused]) d.submit(j);
    assert.equal(d.queued, 2);
    assert.deepEqual(
      [...queued, ...refused].map((j) => j.failed),
      [null, null, 503, 503],
    );
  });

  it("expires and rejects queued sync jobs too", () => {
    const { d } = setup([2], 100, 500);
    d.submit(job(1, true));
    d.submit(job(2));
    const waiting = [job(3, true), job(4)];
    for (const j of waiting) d.submit(j);
    d.expireQueued(clock + 1000, 0);
    assert.deepEqual(waiting.map((j) => j.failed), [503, 503]);
    assert.equal(d.queued, 0);
    const more = [job(5, true), job(6)];
    for (const j of more) d.submit(j);
    d.rejectQueued(503, "shutting down");
    assert.deepEqual(more.map((j) => j.failed), [503, 503]);
  });

  it("never runs two sync jobs in one worker, and serves everything, under a random mix", () => {
    let seed = 42;
    const random = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const { d, workers } = setup([8, 8, 8], 5000);
    const all: FakeJob[] = [];
    let maxQueued = 0;
    for (let step = 0; step < 2000; step++) {
      const busy = workers.filter((w) => w.running.length > 0);
      if (random() < 0.55 || busy.length === 0) {
        const j = job(step + 1, random() < 0.5);
        all.push(j);
        d.submit(j);
      } else {
        const w = busy[Math.floor(random() * busy.length)]!;
        w.finish(w.running[Math.floor(random() * w.running.length)]!, d);
      }
      for (const w of workers) assert.ok(w.syncTasks <= 1);
      maxQueued = Math.max(maxQueued, d.queued);
    }
    assert.ok(maxQueued > 10, "the queues were used");
    // Drain: finish everything; whatever was queued runs meanwhile.
    for (let w = workers.find((x) => x.running.length > 0); w; w = workers.find((x) => x.running.length > 0)) {
      w.finish(w.running[0]!, d);
    }
    assert.equal(d.queued, 0);
    assert.equal(all.filter((j) => j.failed !== null).length, 0);
  });
});
