/**
 * On workers that run many tasks at once, quick jobs keep away from a worker running a slow one
 * (a CPU-bound handler in a Python framework's thread pool holds the GIL: the quick task would
 * wait for it), with stand-in workers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { performance } from "node:perf_hooks";
import { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import { asWorker, fakeJob, FakeWorker } from "../support/dispatch-fakes.js";

/** Two workers of `concurrency` 8 that run many tasks at once; /quick (0.2 ms) and /slow (50 ms) known. */
function pool(): { d: Dispatcher; a: FakeWorker; b: FakeWorker; t0: number } {
  const d = new Dispatcher(20);
  const a = new FakeWorker(8, false);
  const b = new FakeWorker(8, false);
  d.addWorker(asWorker(a));
  d.addWorker(asWorker(b));
  const t0 = performance.now() + 3_600_000;
  for (const [route, ms] of [["/quick", 0.2], ["/slow", 50]] as const) {
    d.submit(fakeJob(route, t0));
    a.finish(d, ms);
  }
  return { d, a, b, t0 };
}

describe("dispatcher: quick jobs beside slow ones on many-task workers", () => {
  it("a quick job goes to the worker with no slow job in flight, even a busier one", () => {
    const { d, a, b, t0 } = pool();
    d.submit(fakeJob("/quick", t0));
    d.submit(fakeJob("/quick", t0));
    assert.deepEqual([a.routes(), b.routes()], [["/quick"], ["/quick"]]);
    d.submit(fakeJob("/slow", t0));
    assert.deepEqual(a.routes(), ["/quick", "/slow"], "the slow job takes a slot on the least busy worker (a, first of two tied)");
    for (let i = 0; i < 3; i++) d.submit(fakeJob("/quick", t0));
    assert.deepEqual([a.routes().length, b.routes().length], [2, 4], "quick jobs go to b, busier, not beside the slow job on a");
  });

  it("with a slow job on every worker, a quick job still starts at once on the least busy one", () => {
    const { d, a, b, t0 } = pool();
    d.submit(fakeJob("/slow", t0));
    d.submit(fakeJob("/slow", t0));
    assert.deepEqual([a.routes(), b.routes()], [["/slow"], ["/slow"]], "slow jobs are not held back on workers that run many tasks");
    d.submit(fakeJob("/quick", t0));
    d.submit(fakeJob("/quick", t0));
    assert.deepEqual([a.routes().length, b.routes().length, d.queued], [2, 2, 0], "spread by load, none queued");
  });

  it("once the slow job is done, its worker takes quick jobs again", () => {
    const { d, a, b, t0 } = pool();
    const slow = fakeJob("/slow", t0);
    d.submit(slow);
    d.submit(fakeJob("/quick", t0));
    assert.deepEqual([a.routes(), b.routes()], [["/slow"], ["/quick"]]);
    a.finish(d, 50, slow);
    d.submit(fakeJob("/quick", t0));
    assert.deepEqual([a.routes(), b.routes()], [["/quick"], ["/quick"]], "a is idle and free of slow work: the least busy again");
  });
});
