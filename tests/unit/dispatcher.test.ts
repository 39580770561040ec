/** The dispatcher's choices, with stand-in workers: least busy first, the queue, and prefetch. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import { asWorker, fakeJob, FakeWorker } from "../support/dispatch-fakes.js";

const job = fakeJob;

/** A dispatcher whose routes /quick and /slow have a known service time. */
function warmed(prefetch = true): { d: Dispatcher; w: FakeWorker } {
  const d = new Dispatcher(10, () => {}, prefetch);
  const w = new FakeWorker();
  d.addWorker(asWorker(w));
  for (const [route, ms] of [["/quick", 0.2], ["/slow", 50]] as const) {
    d.submit(job(route));
    w.finish(d, ms);
  }
  return { d, w };
}

describe("dispatcher", () => {
  it("gives a job to the least busy worker", () => {
    const d = new Dispatcher(10);
    const a = new FakeWorker(4, false);
    const b = new FakeWorker(4, false);
    d.addWorker(asWorker(a));
    d.addWorker(asWorker(b));
    for (let i = 0; i < 4; i++) d.submit(job("/x"));
    assert.deepEqual([a.inflightCount, b.inflightCount], [2, 2]);
  });

  it("prefetch: a busy sequential worker takes quick jobs while their summed service time stays under 5 ms, at most 4 besides the running one", () => {
    const { d, w } = warmed();
    for (let i = 0; i < 7; i++) d.submit(job("/quick"));
    assert.equal(w.inflightCount, 5, "one running, four waiting in the worker (0.2 ms each)");
    assert.equal(d.queued, 2);
    w.finish(d, 0.2);
    assert.equal(w.inflightCount, 5, "a queued job moves into the freed prefetch slot");
    assert.equal(d.queued, 1);
    // A route of 2 ms: the next job would wait 2 ms behind one, 4 behind two, 6 behind three.
    const { d: d2, w: w2 } = warmed();
    d2.submit(job("/two"));
    w2.finish(d2, 2);
    for (let i = 0; i < 5; i++) d2.submit(job("/two"));
    assert.equal(w2.inflightCount, 3);
    assert.equal(d2.queued, 2);
  });

  it("prefetch: the least loaded busy worker takes the job", () => {
    const d = new Dispatcher(10);
    const a = new FakeWorker();
    const b = new FakeWorker();
    d.addWorker(asWorker(a));
    d.addWorker(asWorker(b));
    d.submit(job("/quick"));
    a.finish(d, 0.2);
    for (let i = 0; i < 6; i++) d.submit(job("/quick"));
    assert.deepEqual([a.inflightCount, b.inflightCount], [3, 3]);
  });

  it("prefetch: never behind a slow route, nor behind a route not yet timed", () => {
    const { d, w } = warmed();
    d.submit(job("/slow"));
    d.submit(job("/quick"));
    assert.equal(w.inflightCount, 1);
    assert.equal(d.queued, 1);
    w.finish(d, 50);
    d.submit(job("/new"));
    d.submit(job("/quick"));
    assert.equal(w.inflightCount, 2, "the queued /quick runs, /new waits behind it");
    assert.equal(d.queued, 1, "nothing may wait behind /new");
  });

  it("prefetch: not for workers that start every task at once (Node), and not when turned off", () => {
    const node = new Dispatcher(10);
    const nw = new FakeWorker(1, false);
    node.addWorker(asWorker(nw));
    node.submit(job("/quick"));
    nw.finish(node, 0.1);
    node.submit(job("/quick"));
    node.submit(job("/quick"));
    assert.equal(nw.inflightCount, 1);
    const { d, w } = warmed(false);
    d.submit(job("/quick"));
    d.submit(job("/quick"));
    assert.equal(w.inflightCount, 1);
    assert.equal(d.queued, 1);
  });

  it("streams: nothing is prefetched behind a streaming task, and a streamed route is never quick", () => {
    const { d, w } = warmed();
    const stream = job("/quick") as Job & { streaming: boolean };
    d.submit(stream);
    stream.streaming = true; // its head came: it streams
    d.submit(job("/quick"));
    assert.equal(w.inflightCount, 1, "the next job waits in the orchestrator, not behind the stream");
    assert.equal(d.queued, 1);
    // The stream lasted long; its time must not count as /quick's, nor may /quick be prefetched behind again.
    w.finish(d, 60_000);
    assert.equal(w.inflightCount, 1, "the queued job runs");
    d.submit(job("/other"));
    assert.equal(d.queued, 1, "nothing waits behind a route that streamed");
  });

  it("retry: jobs a dead worker never started go to the head of the queue in the order they arrived, before newer ones", () => {
    const { d, w } = warmed();
    const running = job("/quick");
    d.submit(running);
    const waiting = [1, 2, 3, 4].map(() => job("/quick"));
    for (const j of waiting) d.submit(j);
    const fifth = job("/quick");
    d.submit(fifth);
    assert.equal(d.queued, 1);
    // w dies: the four prefetched jobs never started.
    d.removeWorker(asWorker(w));
    d.jobsLost(1);
    assert.deepEqual(d.retry(waiting), []);
    assert.equal(d.queued, 5);
    const fresh = new FakeWorker();
    d.addWorker(asWorker(fresh));
    assert.deepEqual(
      fresh.jobs.map((j) => j.taskId),
      [...waiting, fifth].map((j) => j.taskId),
      "the retried jobs run first, in their order",
    );
  });

  it("retry: a job goes to a worker with room; those that find the queue full are the newest, returned to be answered", () => {
    const d = new Dispatcher(2, () => {}, false);
    const dead = new FakeWorker();
    const busy = new FakeWorker();
    d.addWorker(asWorker(dead));
    d.addWorker(asWorker(busy));
    d.submit(job("/x"));
    d.submit(job("/x"));
    const queued = job("/x");
    d.submit(queued);
    assert.equal(d.queued, 1);
    // Stand-ins for jobs `dead` held behind its running one (as a worker that prefetched would).
    const held = [1, 2, 3].map(() => job("/x"));
    d.removeWorker(asWorker(dead));
    d.jobsLost(1);
    const refused = d.retry(held);
    assert.deepEqual(refused, held.slice(1), "one fits in the queue beside the one already there: the oldest");
    const fresh = new FakeWorker();
    d.addWorker(asWorker(fresh));
    busy.finish(d, 1);
    assert.deepEqual([fresh.jobs, busy.jobs], [[held[0]], [queued]], "the retried job ran before the one queued after it arrived");
  });

  it("slow routes: while quick requests come, slow jobs leave one worker free of them", () => {
    const d = new Dispatcher(10);
    const a = new FakeWorker();
    const b = new FakeWorker();
    d.addWorker(asWorker(a));
    d.addWorker(asWorker(b));
    for (const [route, ms] of [["/quick", 0.2], ["/slow", 50]] as const) {
      d.submit(job(route));
      a.finish(d, ms);
    }
    d.submit(job("/slow"));
    d.submit(job("/slow"));
    assert.deepEqual([a.inflightCount, b.inflightCount], [1, 0], "the second slow job waits; b stays free");
    assert.equal(d.queued, 1);
    d.submit(job("/quick"));
    assert.equal(b.jobs[0]?.route, "/quick", "a quick request finds b at once");
    a.finish(d, 50);
    assert.equal(a.jobs[0]?.route, "/slow", "the waiting slow job takes a once it is free of slow work");
    assert.equal(d.queued, 0);
  });

  it("slow routes: with no quick request for a second, every worker takes slow work", () => {
    const d = new Dispatcher(10);
    const a = new FakeWorker();
    const b = new FakeWorker();
    d.addWorker(asWorker(a));
    d.addWorker(asWorker(b));
    d.submit(job("/quick"));
    a.finish(d, 0.2);
    d.submit(job("/slow"));
    a.finish(d, 50);
    d.submit(job("/slow", 10));
    d.submit(job("/slow", 20));
    assert.equal(d.queued, 1, "held back: a quick request came 20 ms ago");
    d.expireQueued(1500, 0);
    assert.deepEqual([a.inflightCount, b.inflightCount], [1, 1], "quick traffic stopped: the idle worker takes it");
    d.submit(job("/slow", 1600));
    d.submit(job("/slow", 1600));
    assert.equal(d.queued, 2, "both workers busy: queued, not held back");
  });

  it("slow routes: a single worker takes slow work", () => {
    const d = new Dispatcher(10);
    const a = new FakeWorker();
    d.addWorker(asWorker(a));
    d.submit(job("/quick"));
    a.finish(d, 0.2);
    d.submit(job("/slow"));
    a.finish(d, 50);
    d.submit(job("/quick"));
    a.finish(d, 0.2);
    d.submit(job("/slow"));
    assert.equal(a.inflightCount, 1);
  });

  it("overload: a job that would wait past the queue timeout at the measured service time gets 503 at once", () => {
    const d = new Dispatcher(100, () => {}, false, 1000);
    const w = new FakeWorker();
    d.addWorker(asWorker(w));
    d.submit(job("/x"));
    w.finish(d, 200); // 200 ms per request, one slot
    d.submit(job("/x"));
    const queued = Array.from({ length: 7 }, () => job("/x"));
    for (const j of queued) d.submit(j);
    // The k-th to queue starts within k × 200 ms (the running one, then those ahead): five fit in 1 s.
    assert.equal(d.queued, 5);
    assert.deepEqual(queued.map((j) => j.failedWith), [undefined, undefined, undefined, undefined, undefined, 503, 503]);
  });

  it("overload: a burst queued before any service time was measured is shed, newest first, once one is", () => {
    const d = new Dispatcher(100, () => {}, false, 1000);
    const w = new FakeWorker();
    d.addWorker(asWorker(w));
    const burst = Array.from({ length: 10 }, () => job("/x", 0));
    for (const j of burst) d.submit(j);
    assert.equal(d.queued, 9, "nothing measured yet: all wait");
    w.finish(d, 200);
    d.expireQueued(200, 0);
    // burst[1] runs; each queued one has waited 200 ms and the k-th starts within k × 200 ms more:
    // burst[2..5] fit in 1 s, burst[6..9] do not.
    assert.deepEqual(burst.map((j) => j.failedWith), [undefined, undefined, undefined, undefined, undefined, undefined, 503, 503, 503, 503]);
  });

  it("outage: with no worker and the pool failing to start one, jobs get 503 with Retry-After at once, queued ones too", () => {
    const d = new Dispatcher(10);
    const w = new FakeWorker();
    d.addWorker(asWorker(w));
    d.submit(job("/x"));
    const queued = job("/x");
    d.submit(queued);
    d.removeWorker(asWorker(w));
    assert.equal(queued.failedWith, undefined, "no outage declared: it waits for a worker");
    d.setOutage({ detail: "no worker is serving", retryAfterSeconds: 2 });
    assert.equal(queued.failedWith, 503);
    const late = job("/x");
    d.submit(late);
    assert.equal(late.failedWith, 503);
    d.setOutage(null);
    const after = job("/x");
    d.submit(after);
    assert.equal(after.failedWith, undefined);
    assert.equal(d.queued, 1);
  });
});
