/** The status page's rolling per-second statistics, on a clock the test moves by hand. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HISTORY_SECONDS, LATENCY_BUCKETS, latencyBucket, RequestStats } from "../../src/orchestrator/status/request-stats.js";

/** A clock starting at Unix second 1_000_000, moved with `at(seconds)`. */
function fakeClock(): { now: () => number; at: (seconds: number) => void } {
  let ms = 1_000_000_000;
  return { now: () => ms, at: (seconds) => (ms = 1_000_000_000 + seconds * 1000) };
}

/** Within `tolerance` (a fraction) of `expected`. */
function near(actual: number | null, expected: number, tolerance = 0.1): void {
  assert.ok(actual !== null && Math.abs(actual - expected) <= expected * tolerance, `${actual} is not within ${tolerance * 100} % of ${expected}`);
}

describe("request stats", () => {
  it("latency buckets grow on a log scale and clamp at both ends", () => {
    assert.equal(latencyBucket(0), 0);
    assert.equal(latencyBucket(Number.NaN), 0);
    assert.equal(latencyBucket(1e9), LATENCY_BUCKETS - 1);
    let previous = 0;
    for (let ms = 0.01; ms < 200_000; ms *= 1.05) {
      const b = latencyBucket(ms);
      assert.ok(b >= previous && b < LATENCY_BUCKETS);
      previous = b;
    }
    // Four buckets per doubling.
    assert.equal(latencyBucket(20) - latencyBucket(10), 4);
  });

  it("counts requests and 5xx per second, with percentiles read from the histogram", () => {
    const clock = fakeClock();
    const stats = new RequestStats(clock.now);
    clock.at(1.2);
    for (let ms = 1; ms <= 100; ms++) stats.record(ms === 100 ? 503 : 200, ms / 1000);
    clock.at(2.5);
    const points = stats.series(HISTORY_SECONDS);
    assert.equal(points.length, HISTORY_SECONDS - 1);
    const last = points.at(-1)!;
    assert.equal(last.t, 1_000_001);
    assert.equal(last.requests, 100);
    assert.equal(last.errors, 1);
    near(last.p50_ms, 50);
    near(last.p90_ms, 90);
    near(last.p99_ms, 99);
    assert.deepEqual(points.at(-2), { t: 1_000_000, requests: 0, errors: 0, p50_ms: null, p90_ms: null, p99_ms: null });
    for (let i = 1; i < points.length; i++) assert.equal(points[i]!.t, points[i - 1]!.t + 1, "one point per second, in order");
    assert.deepEqual([stats.totalRequests, stats.totalErrors], [100, 1]);
  });

  it("leaves the current second out until it is complete", () => {
    const clock = fakeClock();
    const stats = new RequestStats(clock.now);
    clock.at(3.1);
    stats.record(200, 0.002);
    clock.at(3.9);
    assert.equal(stats.series(5).reduce((n, p) => n + p.requests, 0), 0);
    clock.at(4.0);
    assert.equal(stats.series(5).at(-1)!.requests, 1);
  });

  it("gives the request rate over a window, divided by the uptime while the server is younger", () => {
    const clock = fakeClock();
    const stats = new RequestStats(clock.now);
    for (let s = 0; s < 4; s++) {
      clock.at(s + 0.5);
      for (let i = 0; i < 10; i++) stats.record(200, 0.001);
    }
    clock.at(4.1);
    const young = stats.window(10);
    assert.deepEqual([young.seconds, young.requests, young.rps], [4, 40, 10]);
    clock.at(20.1);
    const later = stats.window(10);
    assert.deepEqual([later.seconds, later.requests, later.rps, later.p50_ms], [10, 0, 0, null]);
    assert.equal(stats.window(60).requests, 40);
  });

  it("never reads a slot left over from an older second as a newer one", () => {
    const clock = fakeClock();
    const stats = new RequestStats(clock.now);
    clock.at(10.5);
    stats.record(200, 0.01);
    // Second 310 shares second 10's slot: nothing was recorded in 310, so it reads as empty.
    clock.at(400.5);
    assert.equal(stats.series(HISTORY_SECONDS).reduce((n, p) => n + p.requests, 0), 0);
    assert.equal(stats.window(60).requests, 0);
    // Recording in 310's turn of the slot starts it afresh.
    clock.at(10.5 + HISTORY_SECONDS);
    stats.record(200, 1);
    clock.at(11 + HISTORY_SECONDS);
    const last = stats.series(HISTORY_SECONDS).at(-1)!;
    assert.equal(last.requests, 1);
    near(last.p50_ms, 1000, 0.2);
    assert.equal(stats.totalRequests, 2, "the totals keep everything");
  });
});
