/**
 * A WSGI app (real Flask, from .venv-test/) on a thread pool in each worker through the real CLI:
 * one request per worker by default, as gunicorn's sync worker; `--worker-concurrency N` threads
 * when asked, as gunicorn's gthread. And what must keep working with threads: --timeout (every
 * request answered, the worker serving on), --worker-timeout for a thread that never returns,
 * drain on SIGTERM, recycling and SIGHUP.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureTestPython, testPython } from "../support/python-apps.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/foreign/flask_threads_app.py:app";
const DJANGO = "tests/fixtures/foreign/django_site/wsgi.py:application";

async function metric(url: string, line: RegExp): Promise<number> {
  const m = line.exec((await request(`${url}/metrics`)).text);
  return m ? Number(m[1]) : NaN;
}

describe("a WSGI app by default: one request per worker", () => {
  let server: RunningServer;
  before(async () => {
    ensureTestPython();
    server = await startServer(APP, ["--workers", "1", "--python", testPython]);
  });
  after(async () => {
    await server.stop();
  });

  it("wsgi.multithread is False and requests that arrive together run one at a time", async () => {
    const held = [1, 2, 3].map(() => request(`${server.url}/overlap?seconds=0.5`));
    // All three at the server at once: one running, one sent ahead, one in the queue.
    await waitFor(async () => (await metric(server.url, /^neutrino_queue_depth (\d+)$/m)) >= 1, 10_000, "a queued request");
    for (const r of await Promise.all(held)) assert.equal(r.status, 200, r.text);
    const seen = await request(`${server.url}/overlap?read=1`);
    assert.deepEqual(seen.json, { most: 1, multithread: false });
  });
});

describe("a WSGI app with --worker-concurrency 4: four threads in the worker", () => {
  let server: RunningServer;
  before(async () => {
    ensureTestPython();
    server = await startServer(APP, ["--workers", "1", "--worker-concurrency", "4", "--python", testPython]);
  });
  after(async () => {
    await server.stop();
  });

  it("four requests meet at a Barrier(4) in one worker (one thread could not), wsgi.multithread True", async () => {
    const replies = await Promise.all([1, 2, 3, 4].map(() => request(`${server.url}/barrier?n=4`)));
    for (const r of replies) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(replies.map((r) => r.json.pid)).size, 1, "one worker");
    assert.ok(replies.every((r) => r.json.multithread === true));
  });
});

describe("WSGI threads and --timeout", () => {
  before(ensureTestPython);

  it("a timed-out request among running ones: each gets its answer, and the slot comes back when the app returns", async () => {
    const server = await startServer(APP, ["--workers", "1", "--worker-concurrency", "3", "--timeout", "1.5", "--python", testPython]);
    try {
      const pid = (await request(`${server.url}/pid`)).json.pid as number;
      const [slow, a, b] = await Promise.all([
        request(`${server.url}/sleep?seconds=4`),
        request(`${server.url}/barrier?n=2`),
        request(`${server.url}/barrier?n=2`),
      ]);
      assert.equal(slow.status, 504, slow.text);
      assert.equal(a.status, 200, a.text);
      assert.equal(b.status, 200, b.text);
      // The worker serves on while its thread is still inside the app...
      assert.equal((await request(`${server.url}/pid`)).json.pid, pid);
      // ...and once the app returns, its result frees the slot: three threads again, same worker.
      await waitFor(async () => (await metric(server.url, /^neutrino_workers\{state="busy"\} (\d+)$/m)) === 0, 20_000, "the timed-out thread's end");
      const three = await Promise.all([1, 2, 3].map(() => request(`${server.url}/barrier?n=3`)));
      for (const r of three) assert.equal(r.status, 200, r.text);
      assert.ok(three.every((r) => r.json.pid === pid), "the same worker");
    } finally {
      await server.stop();
    }
  });

  it("threads stuck past --timeout with nothing else to do: the worker falls silent and --worker-timeout replaces it", async () => {
    const server = await startServer(APP, [
      "--workers", "1", "--worker-concurrency", "2", "--timeout", "1", "--worker-timeout", "2", "--python", testPython,
    ]);
    try {
      const pid = (await request(`${server.url}/pid`)).json.pid as number;
      const stuck = await Promise.all([1, 2].map(() => request(`${server.url}/sleep?seconds=120`)));
      for (const r of stuck) assert.equal(r.status, 504, r.text);
      let next = 0;
      await waitFor(async () => {
        const r = await request(`${server.url}/pid`);
        next = r.status === 200 ? (r.json.pid as number) : 0;
        return next !== 0 && next !== pid;
      }, 30_000, "a replacement worker");
      assert.ok(server.logs().some((l) => /silent for/.test(String(l.msg))), "replaced as hung");
    } finally {
      await server.stop();
    }
  });
});

describe("WSGI threads and clients that leave", () => {
  before(ensureTestPython);

  it("a client that breaks its connection while a thread runs its request: logged 499, the thread's result frees its slot", async () => {
    const server = await startServer(APP, ["--workers", "1", "--worker-concurrency", "2", "--access-log", "--python", testPython]);
    const dir = mkdtempSync(join(tmpdir(), "neutrino-threads-"));
    const gate = join(dir, "open");
    try {
      const pid = (await request(`${server.url}/pid`)).json.pid as number;
      const req = get(`${server.url}/gate?path=${encodeURIComponent(gate)}&marks=${encodeURIComponent(dir)}`);
      req.on("error", () => {});
      await waitFor(() => readdirSync(dir).length === 1, 10_000, "the request on a thread");
      req.socket!.resetAndDestroy();
      const logged = () => server.logs().filter((r) => r.log === "access" && r.path === "/gate");
      await waitFor(() => logged().length > 0, 10_000, "the access log line");
      assert.equal(logged()[0]!.status, 499);
      writeFileSync(gate, "");
      await waitFor(async () => (await metric(server.url, /^neutrino_workers\{state="busy"\} (\d+)$/m)) === 0, 20_000, "the slot back");
      const both = await Promise.all([1, 2].map(() => request(`${server.url}/barrier?n=2`)));
      for (const r of both) assert.equal(r.status, 200, r.text);
      assert.ok(both.every((r) => r.json.pid === pid), "the same worker, both threads");
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("WSGI threads drain, recycle and reload", () => {
  before(ensureTestPython);

  it("SIGTERM: every request running on a thread finishes before the server exits", async () => {
    const server = await startServer(APP, ["--workers", "1", "--worker-concurrency", "4", "--python", testPython]);
    const dir = mkdtempSync(join(tmpdir(), "neutrino-threads-"));
    const gate = join(dir, "open");
    try {
      const held = [1, 2, 3, 4].map(() =>
        request(`${server.url}/gate?path=${encodeURIComponent(gate)}&marks=${encodeURIComponent(dir)}`),
      );
      await waitFor(() => readdirSync(dir).length === 4, 10_000, "four requests on four threads");
      server.proc.kill("SIGTERM");
      await waitFor(() => server.logs().some((l) => /^received SIGTERM: finishing 4 request/.test(String(l.msg))), 10_000, "the drain");
      writeFileSync(gate, "");
      for (const r of await Promise.all(held)) assert.deepEqual(r.json, { opened: true });
      assert.equal(await server.exited, 0);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--max-requests replaces the worker; SIGHUP rolls it while its threads run: each finishes, no request fails", async () => {
    const server = await startServer(APP, ["--workers", "1", "--worker-concurrency", "3", "--max-requests", "6", "--python", testPython]);
    const dir = mkdtempSync(join(tmpdir(), "neutrino-threads-"));
    const gate = join(dir, "open");
    try {
      const pids = new Set<number>();
      await waitFor(async () => {
        const replies = await Promise.all([1, 2, 3].map(() => request(`${server.url}/pid`)));
        for (const r of replies) {
          assert.equal(r.status, 200, r.text);
          pids.add(r.json.pid as number);
        }
        return pids.size >= 2;
      }, 20_000, "a recycled worker");
      const before = (await request(`${server.url}/pid`)).json.pid as number;
      // Two threads held inside the app while the worker is told to go (a graceful Shutdown).
      const held = [1, 2].map(() =>
        request(`${server.url}/gate?path=${encodeURIComponent(gate)}&marks=${encodeURIComponent(dir)}`),
      );
      await waitFor(() => readdirSync(dir).length === 2, 10_000, "two requests on two threads");
      server.proc.kill("SIGHUP");
      await waitFor(async () => {
        const r = await request(`${server.url}/pid`);
        assert.equal(r.status, 200, r.text);
        return r.json.pid !== before;
      }, 20_000, "a new worker after SIGHUP");
      writeFileSync(gate, "");
      for (const r of await Promise.all(held)) assert.deepEqual(r.json, { opened: true });
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it("a Django project's WSGI handler on threads serves its views", async () => {
  ensureTestPython();
  const server = await startServer(DJANGO, ["--workers", "1", "--worker-concurrency", "4", "--python", testPython]);
  try {
    const replies = await Promise.all([1999, 2000, 2001, 2002].map((y) => request(`${server.url}/articles/${y}/`)));
    assert.deepEqual(replies.map((r) => r.json.year), [1999, 2000, 2001, 2002]);
    const echo = await request(`${server.url}/api/echo/`, { method: "POST", body: "payload" });
    assert.deepEqual(echo.json, { method: "POST", body: "payload", script_name: "", path: "/api/echo/" });
    assert.equal((await request(`${server.url}/api/numbers/`)).text, "0\n1\n2\n");
  } finally {
    await server.stop();
  }
});
