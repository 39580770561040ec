/**
 * The per-request series (`neutrino_requests_total`, `neutrino_request_duration_seconds`), which the
 * front keeps as plain numbers and hands to prom-client only when scraped: what a scrape shows must
 * be what prom-client's own counter and histogram would show.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "../../src/orchestrator/metrics.js";

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("request metrics", () => {
  it("a duration on a bucket's bound counts in that bucket (le), one above every bound only in +Inf; sum and count", async () => {
    const m = new Metrics();
    m.requestDone("/a", "GET", 200, 0.001);
    m.requestDone("/a", "GET", 200, 0.0011);
    m.requestDone("/a", "POST", 201, 20);
    const text = await m.scrape();
    const bucket = (le: string) => sample(text, `neutrino_request_duration_seconds_bucket{le="${le}",route="/a"}`);
    assert.equal(bucket("0.001"), 1);
    assert.equal(bucket("0.0025"), 2);
    assert.equal(bucket("10"), 2);
    assert.equal(bucket("+Inf"), 3);
    assert.equal(sample(text, 'neutrino_request_duration_seconds_count{route="/a"}'), 3);
    assert.equal(sample(text, 'neutrino_request_duration_seconds_sum{route="/a"}'), 0.001 + 0.0011 + 20);
    assert.equal(sample(text, 'neutrino_requests_total{route="/a",method="GET",status="200"}'), 2);
    assert.equal(sample(text, 'neutrino_requests_total{route="/a",method="POST",status="201"}'), 1);
  });

  it("each request is counted once however often it is scraped", async () => {
    const m = new Metrics();
    m.requestDone("/b", "GET", 200, 0.01);
    const total = async () => sample(await m.scrape(), 'neutrino_requests_total{route="/b",method="GET",status="200"}');
    assert.equal(await total(), 1);
    assert.equal(await total(), 1);
    m.requestDone("/b", "GET", 200, 0.01);
    m.requestDone("/b", "GET", 200, 0.01);
    assert.equal(await total(), 3);
    assert.equal(sample(await m.scrape(), 'neutrino_request_duration_seconds_count{route="/b"}'), 3);
  });

  it("the queue wait, one series without labels: there at 0 before any wait, then each wait in its bucket", async () => {
    const m = new Metrics();
    assert.equal(sample(await m.scrape(), "neutrino_queue_wait_seconds_count"), 0);
    m.waited(0.002);
    m.waited(0.005);
    const text = await m.scrape();
    assert.equal(sample(text, 'neutrino_queue_wait_seconds_bucket{le="0.001"}'), 0);
    assert.equal(sample(text, 'neutrino_queue_wait_seconds_bucket{le="0.005"}'), 2);
    assert.equal(sample(text, 'neutrino_queue_wait_seconds_bucket{le="+Inf"}'), 2);
    assert.equal(sample(text, "neutrino_queue_wait_seconds_sum"), 0.007);
  });

  it("a registry's reset zeroes the histograms, and what is observed after it still shows", async () => {
    const m = new Metrics();
    m.requestDone("/c", "GET", 200, 0.01);
    m.registry.resetMetrics();
    assert.equal(sample(await m.scrape(), 'neutrino_request_duration_seconds_count{route="/c"}'), 0);
    m.requestDone("/c", "GET", 200, 0.01);
    assert.equal(sample(await m.scrape(), 'neutrino_request_duration_seconds_count{route="/c"}'), 1);
  });
});
