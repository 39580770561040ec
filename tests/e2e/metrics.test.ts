/** Prometheus metrics, aggregated in the orchestrator, through a real scrape. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request, startServer, type Reply } from "../support/server.js";
import { waitFor } from "../support/wait.js";

/** The value of the first sample line that starts with `prefix`, or undefined. */
function sample(text: string, prefix: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("metrics", () => {
  it("one scrape of /metrics sees every worker: requests by route and status, latency, workers, restarts", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "2"]);
    try {
      for (let i = 0; i < 3; i++) await request(`${server.url}/add?x=1&y=${i}`);
      await request(`${server.url}/boom`);
      await request(`${server.url}/nope`);
      await request(`${server.url}/exit`);
      // The worker that died on /exit is replaced: scrape once the pool is whole again.
      let scrape!: Reply;
      await waitFor(async () => sample((scrape = await request(`${server.url}/metrics`)).text, 'neutrino_workers{state="idle"}') === 2);
      assert.equal(scrape.status, 200);
      assert.match(scrape.headers.get("content-type") ?? "", /text\/plain/);
      const text = scrape.text;
      assert.equal(sample(text, 'neutrino_requests_total{route="/add",method="GET",status="200"}'), 3);
      assert.equal(sample(text, 'neutrino_requests_total{route="/boom",method="GET",status="500"}'), 1);
      assert.equal(sample(text, 'neutrino_requests_total{route="(none)",method="GET",status="404"}'), 1);
      assert.equal(sample(text, 'neutrino_requests_total{route="/exit",method="GET",status="502"}'), 1);
      assert.equal(sample(text, 'neutrino_request_duration_seconds_count{route="/add"}'), 3);
      assert.equal(sample(text, 'neutrino_worker_restarts_total{cause="crashed"}'), 1);
      assert.equal(sample(text, "neutrino_queue_depth"), 0);
      assert.equal(sample(text, 'neutrino_workers{state="idle"}'), 2);
      // w0 or w1 died on /exit and its replacement is w2: whichever ids exist, each has its RSS.
      const rss = [...text.matchAll(/^neutrino_worker_rss_bytes\{worker="w\d+"\} (\d+)$/gm)].map((m) => Number(m[1]));
      assert.equal(rss.length, 2);
      for (const bytes of rss) assert.ok(bytes > 1_000_000);
      assert.ok(sample(text, "neutrino_orchestrator_process_resident_memory_bytes")! > 0, "default process metrics");
    } finally {
      await server.stop();
    }
  });

  it("--metrics-port serves them on a port of their own, and not on the main one", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "1", "--metrics-port", "0"]);
    try {
      const port = server.logs().find((r) => r.metricsPort)!.metricsPort as number;
      const scrape = await request(`http://127.0.0.1:${port}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(scrape.text, /neutrino_queue_depth 0/);
      assert.equal((await request(`${server.url}/metrics`)).status, 404);
    } finally {
      await server.stop();
    }
  });
});
