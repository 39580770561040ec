/**
 * Streams when things go wrong, through the real CLI, against the Python app (one task at a time
 * per worker) and its TypeScript twin: a client that hangs up (the handler stops, its `finally`
 * runs, the worker serves again, the log says 499), a client that reads nothing (backpressure: the
 * handler is held back, the orchestrator's memory stays flat), a stalled stream past --timeout, a
 * generator that fails midway, an upload abandoned midway, a buffered answer too large for a frame.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request, startServer, type RunningServer } from "../support/server.js";
import { openStream } from "../support/stream-client.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/stream_app.py:app", flags: [] as string[], sequential: true },
  // Async handlers: a worker that runs many tasks at once on an event loop.
  { runtime: "python-async", app: "tests/fixtures/stream_app_async.py:app", flags: [] as string[], sequential: false },
  // One task at a time, as the Python worker: a stream that held its slot would block it.
  { runtime: "typescript", app: "tests/fixtures/stream_app.ts:app", flags: ["--worker-concurrency", "1"], sequential: false },
] as const;

const MB = 1024 * 1024;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s*(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) * 1024 : 0;
}

async function workerPid(url: string): Promise<number> {
  const r = await request(`${url}/pid`);
  assert.equal(r.status, 200, r.text);
  return (r.json as { pid: number }).pid;
}

function accessRecords(server: RunningServer, path: string): Record<string, unknown>[] {
  return server.logs().filter((r) => r.log === "access" && typeof r.path === "string" && r.path === path);
}

for (const { runtime, app, flags, sequential } of apps) {
  describe(`stream faults (${runtime})`, () => {
    let server: RunningServer;
    let url: string;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-stream-faults-"));
      server = await startServer(app, ["--workers", "1", "--access-log", ...flags]);
      url = server.url;
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("a client that hangs up mid-stream stops the handler, frees the worker, and is logged as 499", async () => {
      const pid = await workerPid(url);
      const marker = join(dir, `hangup-${runtime}`);
      const s = await openStream(`${url}/firehose?mb=100000&marker=${encodeURIComponent(marker)}`, {}, false);
      assert.equal(s.status, 200);
      await waitFor(() => s.bytes >= MB, 20_000, "the first megabyte");
      s.hangUp();
      // The generator was closed: its finally block ran.
      await waitFor(() => existsSync(marker), 20_000, "the handler's finally block");
      assert.equal(await workerPid(url), pid, "the same worker serves the next request");
      await waitFor(() => accessRecords(server, "/firehose").length > 0, 10_000, "the access log line");
      const [record] = accessRecords(server, "/firehose");
      assert.equal(record!.status, 499);
      assert.equal(record!.disconnected, true);
      const metrics = (await request(`${url}/metrics`)).text;
      assert.match(metrics, /neutrino_requests_total\{route="\/firehose",method="GET",status="499"\} 1/);
      assert.match(metrics, /neutrino_streams_open\{kind="response"\} 0/);
    });

    it("a client that reads nothing holds the handler back: backpressure, not buffering", async () => {
      const counter = join(dir, `counter-${runtime}`);
      const marker = join(dir, `paused-${runtime}`);
      const s = await openStream(`${url}/firehose?mb=100&counter=${encodeURIComponent(counter)}&marker=${encodeURIComponent(marker)}`, {}, false);
      s.res.pause();
      // The handler yields until the window and the socket buffers are full, then waits: its
      // count of yielded chunks stops growing, far short of the 100 MB it would send.
      let last = -1;
      let same = 0;
      await waitFor(
        () => {
          const now = existsSync(counter) ? Number(readFileSync(counter, "utf8") || -1) : -1;
          same = now === last && now >= 0 ? same + 1 : 0;
          last = now;
          return same >= 20;
        },
        30_000,
        () => `the handler to stop yielding (at chunk ${last})`,
      );
      const yielded = (last + 1) * 64 * 1024;
      assert.ok(yielded < 32 * MB, `the handler yielded ${yielded} bytes to a client that read none`);
      assert.equal(existsSync(marker), false, "the handler is waiting, not finished");
      s.hangUp();
      await waitFor(() => existsSync(marker), 20_000, "the handler's finally block");
      await workerPid(url);
    });

    it("100 MB to a slow reader: the orchestrator's and the worker's memory stay flat", async () => {
      const pid = await workerPid(url);
      const orchestrator = server.proc.pid!;
      const before = { orchestrator: rssBytes(orchestrator), worker: rssBytes(pid) };
      const peak = { ...before };
      const sample = (): void => {
        peak.orchestrator = Math.max(peak.orchestrator, rssBytes(orchestrator));
        peak.worker = Math.max(peak.worker, rssBytes(pid));
      };
      const s = await openStream(`${url}/firehose?mb=100`, {}, false);
      // Read about 25 MB/s: a pause after every 256 KiB. (A pace for the client, not an assertion.)
      let sincePause = 0;
      s.res.on("data", (d: Buffer) => {
        sincePause += d.length;
        if (sincePause < 256 * 1024) return;
        sincePause = 0;
        sample();
        s.res.pause();
        setTimeout(() => s.res.resume(), 10);
      });
      await s.done;
      sample();
      assert.ok(s.complete);
      assert.equal(s.bytes, 100 * MB);
      const grew = { orchestrator: peak.orchestrator - before.orchestrator, worker: peak.worker - before.worker };
      assert.ok(grew.orchestrator < 64 * MB, `the orchestrator's RSS grew by ${(grew.orchestrator / MB).toFixed(1)} MB`);
      assert.ok(grew.worker < 64 * MB, `the worker's RSS grew by ${(grew.worker / MB).toFixed(1)} MB`);
    });

    it("a generator that fails midway cuts the response short", async () => {
      const s = await openStream(`${url}/fail-midway`);
      const body = await s.rest();
      assert.equal(s.status, 200);
      assert.equal(s.complete, false, "the client must not take a cut-short body for the whole one");
      assert.equal(body, "partial\n");
      await waitFor(() => accessRecords(server, "/fail-midway").length > 0, 10_000, "the access log line");
      assert.equal(accessRecords(server, "/fail-midway")[0]!.truncated, true);
      await workerPid(url);
    });

    it("a stream that sends fewer or more bytes than its content-length is cut short", async () => {
      for (const [declared, actual] of [[1000, 500], [500, 1000]]) {
        const s = await openStream(`${url}/liar?declared=${declared}&actual=${actual}`);
        await s.rest();
        assert.equal(s.headers["content-length"], String(declared));
        assert.equal(s.complete, false, `content-length ${declared}, ${actual} bytes sent`);
      }
      await workerPid(url);
    });

    it("an upload abandoned midway ends the handler, and the worker serves again", async () => {
      const pid = await workerPid(url);
      const req = httpRequest(`${url}/upload`, { method: "POST", headers: { "content-length": String(64 * MB) }, agent: false });
      req.on("error", () => {});
      req.write(Buffer.alloc(2 * MB, "u"));
      // The worker has the first chunks once its open-streams count shows the upload.
      await waitFor(async () => /neutrino_streams_open\{kind="request"\} 1/.test((await request(`${url}/metrics`)).text), 20_000, "the upload stream");
      req.destroy();
      await waitFor(async () => /neutrino_streams_open\{kind="request"\} 0/.test((await request(`${url}/metrics`)).text), 20_000, "the upload stream to close");
      assert.equal(await workerPid(url), pid);
      await waitFor(() => accessRecords(server, "/upload").length > 0, 10_000, "the access log line");
      assert.equal(accessRecords(server, "/upload")[0]!.status, 499);
    });

    it("a buffered answer too large for one frame is a 500 that says to stream it; the worker survives", async () => {
      const pid = await workerPid(url);
      const r = await request(`${url}/huge`);
      assert.equal(r.status, 500);
      assert.match((r.json as { detail: string }).detail, /too large to buffer: stream it/);
      assert.equal(await workerPid(url), pid);
    });
  });

  describe(`stream timeouts (${runtime})`, () => {
    let server: RunningServer;
    let url: string;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-stream-timeout-"));
      server = await startServer(app, ["--workers", "1", "--timeout", "1", "--access-log", ...flags]);
      url = server.url;
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("a stream that stalls past --timeout is cut, and a worker serves again", async () => {
      const marker = join(dir, "stalled");
      const s = await openStream(`${url}/stall?marker=${encodeURIComponent(marker)}`);
      assert.equal(s.status, 200);
      await s.waitForBody((t) => t === "started\n", "the first chunk");
      await s.done;
      assert.equal(s.complete, false, "the stalled response is cut short");
      assert.equal(s.text(), "started\n");
      // A worker that could not end the task is replaced: requests sent meanwhile may time out too.
      await waitFor(async () => (await request(`${url}/count?n=2`)).text === "0\n1\n", 30_000, "a worker serving again");
      await waitFor(() => accessRecords(server, "/stall").length > 0, 10_000, "the access log line");
      assert.equal(accessRecords(server, "/stall")[0]!.status, 504);
      assert.ok(server.logs().some((r) => typeof r.msg === "string" && r.msg.includes("made no progress")));
    });

    it("a stream that keeps moving outlives --timeout", async () => {
      // The client reads 10 MB with a 50 ms pause per 256 KiB, so the stream lasts at least 2 s,
      // twice the timeout: each chunk written is progress, and progress is what the timeout watches.
      const s = await openStream(`${url}/download?size=${10 * MB}`, {}, false);
      let sincePause = 0;
      s.res.on("data", (d: Buffer) => {
        sincePause += d.length;
        if (sincePause < 256 * 1024) return;
        sincePause = 0;
        s.res.pause();
        setTimeout(() => s.res.resume(), 50);
      });
      await s.done;
      assert.ok(s.complete);
      assert.equal(s.bytes, 10 * MB);
    });
  });

  describe(`client gone before the answer (${runtime})`, () => {
    let server: RunningServer;
    let url: string;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-gone-"));
      // The TypeScript worker's default concurrency: such a worker is told to drop the task.
      server = await startServer(app, ["--workers", "1", "--access-log", "--status-page"]);
      url = server.url;
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const inflight = async (): Promise<number> => ((await request(`${url}/_neutrino/status.json`)).json as { inflight: number }).inflight;

    it(sequential ? "a one-at-a-time worker finishes the task, whose answer goes nowhere, logged as 499" : "a worker that runs many tasks drops the task at once (CancelTask), logged as 499", async () => {
      const go = join(dir, "go");
      const req = httpRequest(`${url}/wait?go=${encodeURIComponent(go)}`, { agent: false });
      req.on("error", () => {});
      req.end();
      await waitFor(async () => (await inflight()) === 1, 20_000, "the request in flight");
      // A reset: the server keeps half-closed connections open for their answers, so a plain
      // FIN from a client is not a client gone until the answer finds the socket closed.
      req.socket!.resetAndDestroy();
      if (sequential) {
        // Its handler cannot be interrupted before it answers: the slot frees once it does.
        assert.equal(await inflight(), 1);
        writeFileSync(go, "");
      }
      await waitFor(async () => (await inflight()) === 0, 20_000, "the task to end");
      await waitFor(() => accessRecords(server, "/wait").length > 0, 10_000, "the access log line");
      assert.equal(accessRecords(server, "/wait")[0]!.status, 499);
      writeFileSync(go, "");
    });
  });
}
