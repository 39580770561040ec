/**
 * Streamed responses and request bodies end to end, through the real CLI, against the Python app
 * and its TypeScript twin: chunked streams, Server-Sent Events read event by event while the
 * handler is still running, a download of known length, HEAD, streamed uploads past
 * --max-body-size, and the open-streams count in /metrics and on the status page.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request, startServer, type RunningServer } from "../support/server.js";
import { openStream } from "../support/stream-client.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/stream_app.py:app" },
  { runtime: "python-async", app: "tests/fixtures/stream_app_async.py:app" },
  { runtime: "typescript", app: "tests/fixtures/stream_app.ts:app" },
] as const;

const MAX_BODY = 65536;

async function openStreams(url: string): Promise<Record<string, number>> {
  const text = (await request(`${url}/metrics`)).text;
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^neutrino_streams_open\{kind="(\w+)"\} (\d+)$/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

for (const { runtime, app } of apps) {
  describe(`streaming (${runtime})`, () => {
    let server: RunningServer;
    let url: string;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-stream-"));
      // One worker: a stream holds it, and the next request must find it free again.
      server = await startServer(app, ["--workers", "1", "--compress", "1", "--max-body-size", String(MAX_BODY), "--status-page"]);
      url = server.url;
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("a generator's chunks make a chunked response", async () => {
      const s = await openStream(`${url}/count?n=5`);
      assert.equal(await s.rest(), "0\n1\n2\n3\n4\n");
      assert.ok(s.complete);
      assert.equal(s.status, 200);
      assert.equal(s.headers["transfer-encoding"], "chunked");
      assert.equal(s.headers["content-length"], undefined);
      assert.equal(s.headers["content-type"], "text/plain; charset=utf-8");
      assert.ok(s.headers["x-request-id"]);
    });

    it("Server-Sent Events arrive one by one, uncompressed and unbuffered, before the handler ends", async () => {
      const go = join(dir, `go-${runtime}`);
      const s = await openStream(`${url}/events?go=${encodeURIComponent(go)}`, { headers: { "accept-encoding": "gzip, br" } });
      assert.equal(s.status, 200);
      assert.equal(s.headers["content-type"], "text/event-stream");
      assert.equal(s.headers["cache-control"], "no-cache");
      assert.equal(s.headers["x-accel-buffering"], "no");
      assert.equal(s.headers["content-encoding"], undefined);
      // The handler cannot yield its second event, nor end, until the file exists.
      const first = await s.waitForBody((t) => t.includes("\n\n"), "the first event");
      assert.equal(first, "event: tick\nid: 1\ndata: first\n\n");
      assert.equal(existsSync(go), false);
      assert.equal(s.ended, false);
      const status = (await request(`${url}/_neutrino/status.json`)).json;
      assert.equal(status.streams.response, 1);
      assert.equal(status.workers[0].current[0].streaming, true);
      assert.equal((await openStreams(url)).response, 1);
      writeFileSync(go, "");
      const all = await s.rest();
      assert.ok(s.complete);
      assert.equal(all, 'event: tick\nid: 1\ndata: first\n\nevent: tick\nid: 2\ndata: {"n":2}\n\n');
      await waitFor(async () => (await openStreams(url)).response === 0, 10_000, "the stream gauge back at 0");
    });

    it("a streamed download keeps the worker's content-length", async () => {
      const s = await openStream(`${url}/download?size=200000`);
      const body = await s.rest();
      assert.ok(s.complete);
      assert.equal(s.headers["content-length"], "200000");
      assert.equal(s.headers["transfer-encoding"], undefined);
      assert.equal(body.length, 200000);
    });

    it("HEAD of a streamed route: the head alone, and the worker is free again", async () => {
      const s = await openStream(`${url}/firehose?mb=100`, { method: "HEAD" });
      assert.equal(await s.rest(), "");
      assert.equal(s.status, 200);
      assert.equal(s.headers["content-type"], "application/octet-stream");
      const r = await request(`${url}/count?n=2`);
      assert.equal(r.text, "0\n1\n");
    });

    it("a streamed upload larger than --max-body-size reaches its handler; a buffered one is still refused", async () => {
      const body = Buffer.alloc(5 * 1024 * 1024, "u");
      const r = await request(`${url}/upload`, { method: "POST", body });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { bytes: body.length });
      const refused = await request(`${url}/buffered-upload`, { method: "POST", body: Buffer.alloc(MAX_BODY + 1) });
      assert.equal(refused.status, 413);
      const small = await request(`${url}/buffered-upload`, { method: "POST", body: Buffer.alloc(10) });
      assert.deepEqual(small.json, { bytes: 10 });
      assert.equal((await openStreams(url)).request, 0);
    });

    it("counts finished streams in neutrino_requests_total", async () => {
      const text = (await request(`${url}/metrics`)).text;
      assert.match(text, /neutrino_requests_total\{route="\/count",method="GET",status="200"\} [1-9]/);
      assert.match(text, /neutrino_requests_total\{route="\/events",method="GET",status="200"\} 1/);
    });
  });
}
