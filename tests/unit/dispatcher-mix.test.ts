/**
 * The dispatcher's share between quick and slow work, with stand-in workers: the reserve kept
 * free for quick requests, lent to slow work that backs up, and blocking routes (setBlocking).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { performance } from "node:perf_hooks";
import { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import { asWorker, fakeJob, FakeWorker } from "../support/dispatch-fakes.js";

const job = fakeJob;

/**
 * A dispatcher with two workers that knows /quick (0.2 ms) and /slow (50 ms). Its clock, `t0`,
 * lies ahead of performance.now(): the dispatcher reads the real clock when a worker frees up,
 * and to it no time passes there; the tests move time on with expireQueued (the watchdog's tick).
 */
function pool(concurrency = 1, sequential = true): { d: Dispatcher; a: FakeWorker; b: FakeWorker; t0: number } {
  const d = new Dispatcher(20);
  const a = new FakeWorker(concurrency, sequential);
  const b = new FakeWorker(concurrency, sequential);
  d.addWorker(asWorker(a));
  d.addWorker(asWorker(b));
  const t0 = performance.now() + 3_600_000;
  for (const [route, ms] of [["/quick", 0.2], ["/slow", 50]] as const) {
    d.submit(job(route, t0));
    a.finish(d, ms);
  }
  return { d, a, b, t0 };
}

describe("dispatcher: quick and slow work", () => {
  it("a slow job that would take the last worker free of slow work waits, until slow work backs up", () => {
    const { d, a, b, t0 } = pool();
    d.submit(job("/quick", t0));
    a.finish(d, 0.2);
    d.submit(job("/slow", t0));
    d.submit(job("/slow", t0));
    assert.deepEqual([a.routes(), b.routes(), d.queued], [["/slow"], [], 1], "b stays free for quick requests");
    d.expireQueued(t0 + 50, 0);
    assert.deepEqual([b.routes(), d.queued], [[], 1], "the waiting slow job has not waited long enough to take b");
    d.expireQueued(t0 + 150, 0);
    assert.deepEqual([b.routes(), d.queued], [["/slow"], 0], "it has waited long and no quick job waits: it takes b");
  });

  it("slow jobs keep their order: one submitted while older ones wait queues behind them", () => {
    const { d, a, b, t0 } = pool();
    d.submit(job("/quick", t0));
    a.finish(d, 0.2);
    d.submit(job("/slow", t0));
    const older = job("/slow", t0);
    d.submit(older);
    const newer = job("/slow", t0 + 150);
    d.submit(newer);
    assert.deepEqual([b.jobs, d.queued], [[older], 1], "the older one, backed up, takes b; the newer waits");
  });

  it("the reserve is not lent while a quick job waits, and a freed worker serves waiting quick jobs before older slow ones", () => {
    const { d, a, b, t0 } = pool();
    d.submit(job("/slow", t0));
    // The first quick job runs on b, the next four are prefetched behind it, the sixth queues.
    for (let i = 0; i < 6; i++) d.submit(job("/quick", t0));
    d.submit(job("/slow", t0 + 1));
    assert.deepEqual([a.routes(), b.routes().length, d.queued], [["/slow"], 5, 2]);
    d.expireQueued(t0 + 500, 0);
    assert.equal(d.queued, 2, "no worker is free");
    b.finish(d, 0.2);
    assert.deepEqual([b.routes().length, b.routes().includes("/slow"), d.queued], [5, false, 1], "b takes the queued quick job, not the older slow one");
    for (let i = 0; i < 5; i++) b.finish(d, 0.2);
    d.expireQueued(t0 + 600, 0);
    assert.deepEqual([b.routes(), d.queued], [["/slow"], 0], "with no quick job waiting, the slow one that waited long takes b");
  });

  it("slow jobs that back up get every worker, and each of them runs", () => {
    const { d, a, b, t0 } = pool();
    const slow = Array.from({ length: 6 }, (_, i) => job("/slow", t0 + i));
    for (const j of slow) d.submit(j);
    const ran: Job[] = [];
    for (let now = t0 + 200; a.jobs.length + b.jobs.length > 0; now += 60) {
      d.submit(job("/quick", now)); // quick traffic keeps coming
      d.expireQueued(now, 0);
      assert.ok(a.jobs.length + b.jobs.length > 0);
      for (const w of [a, b]) {
        const done = w.jobs[0];
        if (done) {
          if (done.route === "/slow") ran.push(done);
          w.finish(d, done.route === "/slow" ? 50 : 0.2);
        }
      }
    }
    assert.deepEqual(ran.map((j) => j.taskId).sort(), slow.map((j) => j.taskId).sort(), "no slow job is starved");
    assert.equal(d.queued, 0);
  });

  it("blocking routes: dispatched as sync jobs, held apart from quick ones on workers that run many tasks", () => {
    const { d, a, b, t0 } = pool(4, false);
    d.setBlocking("/spin", true);
    const s1 = job("/spin", t0);
    d.submit(s1);
    assert.equal(s1.blocking, true);
    assert.deepEqual([a.routes(), b.routes()], [["/spin"], []]);
    d.submit(job("/quick", t0));
    d.submit(job("/quick", t0));
    assert.deepEqual([a.routes(), b.routes()], [["/spin"], ["/quick", "/quick"]], "quick jobs avoid the worker whose loop is blocked");
    const s2 = job("/spin", t0 + 1);
    d.submit(s2);
    assert.deepEqual([a.routes().length, b.routes().length, d.queued], [1, 2, 1], "b stays free of blocking work while it is new");
    d.expireQueued(t0 + 200, 0);
    assert.deepEqual(b.routes(), ["/quick", "/quick", "/spin"], "backed up, it takes b: not a, whose sync slot is taken");
    const quick = job("/quick", t0 + 200);
    d.submit(quick);
    d.submit(job("/spin", t0 + 201));
    assert.deepEqual([a.routes().length + b.routes().length, d.queued], [4, 2], "with every worker's loop held, a quick job waits in the queue");
    b.finish(d, 0.2);
    assert.equal(d.queued, 2, "a worker mid-spin takes nothing when one of its other tasks ends");
    a.finish(d, 300, s1);
    assert.deepEqual([a.jobs, d.queued], [[quick], 1], "the first worker that frees up takes the quick job, not the older blocking one");
    a.finish(d, 0.2, quick);
    d.expireQueued(t0 + 400, 0);
    assert.deepEqual(a.routes(), ["/spin"], "backed up, the blocking job takes it next");
    a.finish(d, 300);
    b.finish(d, 300, s2);
    d.setBlocking("/spin", false);
    const s3 = job("/spin", t0 + 300);
    d.submit(s3);
    assert.equal(s3.blocking, undefined, "no longer blocking: a plain job again");
  });

  it("blocking routes: a quick job that cannot wait in the queue takes a slot beside a blocking job rather than a 503", () => {
    const d = new Dispatcher(0);
    const a = new FakeWorker(4, false);
    const b = new FakeWorker(4, false);
    d.addWorker(asWorker(a));
    d.addWorker(asWorker(b));
    d.setBlocking("/spin", true);
    // No quick traffic yet: blocking jobs take every worker.
    d.submit(job("/spin"));
    d.submit(job("/spin"));
    assert.deepEqual([a.routes(), b.routes()], [["/spin"], ["/spin"]]);
    const quick = job("/quick");
    d.submit(quick);
    assert.deepEqual([quick.failedWith, a.routes()], [undefined, ["/spin", "/quick"]]);
  });

  it("a blocking route on sequential workers is held like a slow one", () => {
    const { d, a, b, t0 } = pool();
    d.setBlocking("/spin", true);
    d.submit(job("/quick", t0));
    a.finish(d, 0.2);
    d.submit(job("/spin", t0));
    d.submit(job("/spin", t0));
    assert.deepEqual([a.routes(), b.routes(), d.queued], [["/spin"], [], 1]);
  });
});
