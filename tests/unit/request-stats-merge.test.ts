/** Several fronts' request statistics summed (the status page under --fronts N): dump() of each, add() into one. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RequestStats } from "../../src/orchestrator/status/request-stats.js";

/** A clock starting at Unix second 1_000_000, moved with `at(seconds)`. */
function fakeClock(): { now: () => number; at: (seconds: number) => void } {
  let ms = 1_000_000_000;
  return { now: () => ms, at: (seconds) => (ms = 1_000_000_000 + seconds * 1000) };
}

describe("request stats summed over fronts", () => {
  it("sums counts per second and reads percentiles from the summed histograms, not from each front's", () => {
    const clock = fakeClock();
    const fast = new RequestStats(clock.now);
    const slow = new RequestStats(clock.now);
    clock.at(1.5);
    for (let i = 0; i < 90; i++) fast.record(200, 0.001);
    for (let i = 0; i < 10; i++) slow.record(i === 0 ? 502 : 200, 1);
    clock.at(3.5);
    fast.record(200, 0.001);
    clock.at(4.2);
    const sum = new RequestStats(clock.now);
    sum.add(fast.dump());
    sum.add(slow.dump());
    assert.equal(sum.totalRequests, 101);
    assert.equal(sum.totalErrors, 1);
    const w = sum.window(60);
    assert.equal(w.requests, 101);
    assert.equal(w.errors, 1);
    // The started second is the fronts' (not the sum's, made later): the window covers 4 s.
    assert.equal(w.seconds, 4);
    // p50 is a fast request, p99 a slow one: only the summed histogram gives both.
    assert.ok(w.p50_ms! < 2, `p50 ${w.p50_ms}`);
    assert.ok(w.p99_ms! > 500, `p99 ${w.p99_ms}`);
    const points = sum.series(4);
    assert.deepEqual(points.map((p) => [p.t, p.requests, p.errors]), [
      [1_000_000, 0, 0],
      [1_000_001, 100, 1],
      [1_000_002, 0, 0],
      [1_000_003, 1, 0],
    ]);
  });

  it("a dump's second older than the one a slot holds is left out; an empty dump adds nothing", () => {
    const clock = fakeClock();
    const old = new RequestStats(clock.now);
    clock.at(1);
    old.record(200, 0.01);
    clock.at(301); // the same slot, 300 s later
    const now = new RequestStats(clock.now);
    now.record(200, 0.01);
    clock.at(302);
    const sum = new RequestStats(clock.now);
    sum.add(now.dump());
    sum.add(old.dump());
    sum.add(new RequestStats(clock.now).dump());
    assert.deepEqual(sum.series(1).map((p) => [p.t, p.requests]), [[1_000_301, 1]]);
    assert.equal(sum.window(299).requests, 1);
  });
});
