/** The /_neutrino/ status page and its status.json over plain HTTP (tests/browser/ loads it in Chromium). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { childPids, request, startServer, type RunningServer } from "../support/server.js";
import { waitForLoad } from "../support/status.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/pyapp.py:app";

async function status(server: RunningServer): Promise<any> {
  const r = await request(`${server.url}/_neutrino/status.json`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

describe("status page", () => {
  it("is off unless asked for: /_neutrino/ is a plain 404", async () => {
    const server = await startServer(APP, ["--workers", "1"]);
    try {
      for (const path of ["/_neutrino/", "/_neutrino/status.json", "/_neutrino"]) {
        const r = await request(`${server.url}${path}`);
        assert.equal(r.status, 404, path);
        assert.equal(r.json.detail, `no route for GET ${path}`);
      }
    } finally {
      await server.stop();
    }
  });

  it("--status-page: status.json shows each worker, the queue, totals and a per-second series", async () => {
    const server = await startServer(APP, ["--workers", "2", "--status-page"]);
    try {
      const first = await status(server);
      assert.deepEqual(first.totals, { requests: 0, errors: 0 });
      assert.deepEqual(first.queue, { depth: 0, capacity: 1024 });
      assert.equal(first.neutrino.app, APP);
      assert.equal(first.neutrino.runtime, "python");
      assert.equal(first.neutrino.pid, server.proc.pid);

      for (let i = 0; i < 5; i++) assert.equal((await request(`${server.url}/add?x=${i}&y=1`)).status, 200);
      assert.equal((await request(`${server.url}/boom`)).status, 500);
      assert.equal((await request(`${server.url}/nope`)).status, 404); // answered without a worker: not counted
      const slow = request(`${server.url}/sleep?seconds=1`);
      await waitForLoad(server, 1);

      const during = await status(server);
      assert.deepEqual(during.totals, { requests: 6, errors: 1 });
      assert.equal(during.inflight, 1);
      const pids = childPids(server.proc.pid!).sort();
      assert.deepEqual(during.workers.map((w: any) => w.pid).sort(), pids, "the workers' real pids");
      assert.deepEqual(during.workers.map((w: any) => w.id), ["w0", "w1"]);
      for (const w of during.workers) {
        assert.deepEqual(Object.keys(w).sort(), ["concurrency", "current", "id", "inflight", "loop_lag_ms", "pid", "rss_bytes", "served", "state"]);
        assert.equal(w.loop_lag_ms, null); // Python workers report no event-loop lag
        assert.ok(w.rss_bytes > 1_000_000, `${w.id} RSS ${w.rss_bytes}`);
        assert.equal(w.concurrency, 1);
      }
      const busy = during.workers.filter((w: any) => w.state === "busy");
      assert.equal(busy.length, 1, JSON.stringify(during.workers));
      assert.equal(busy[0].current.length, 1);
      assert.equal(busy[0].current[0].method, "GET");
      assert.equal(busy[0].current[0].route, "/sleep");
      assert.ok(Number.isInteger(busy[0].current[0].running_ms) && busy[0].current[0].running_ms >= 0);
      assert.equal(during.workers.find((w: any) => w !== busy[0]).state, "idle");
      assert.equal(during.workers.reduce((n: number, w: any) => n + w.served, 0), 6);

      assert.equal((await slow).status, 200);
      // Once the second of the last request is complete, the series holds every request.
      let after: any;
      await waitFor(async () => (after = await status(server)).series.points.reduce((n: number, p: any) => n + p.requests, 0) === 7);
      assert.deepEqual(after.totals, { requests: 7, errors: 1 });
      const points = after.series.points;
      assert.equal(after.series.step_s, 1);
      assert.equal(points.length, 299);
      assert.equal(points.reduce((n: number, p: any) => n + p.requests, 0), 7);
      assert.equal(points.reduce((n: number, p: any) => n + p.errors, 0), 1);
      assert.ok(points.at(-1).t <= Math.floor(after.time / 1000), "complete seconds only");
      assert.equal(after.last_60s.requests, 7);
      assert.ok(after.last_10s.rps > 0);
      assert.ok(after.last_60s.p50_ms > 0 && after.last_60s.p99_ms >= 500, JSON.stringify(after.last_60s));
    } finally {
      await server.stop();
    }
  });

  it("--status-page: a Node worker's event-loop lag, from its heartbeats", async () => {
    const server = await startServer("tests/fixtures/tsapp.ts:app", ["--workers", "2", "--status-page", "--worker-timeout", "1.5"]);
    try {
      await waitFor(async () => (await status(server)).workers.every((w: any) => typeof w.loop_lag_ms === "number" && w.loop_lag_ms >= 0), 20_000, "both workers' loop lag");
    } finally {
      await server.stop();
    }
  });

  it("--status-page: the HTML page, its redirect and its methods", async () => {
    const server = await startServer(APP, ["--workers", "1", "--status-page"]);
    try {
      const page = await request(`${server.url}/_neutrino/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'.*connect-src 'self'/);
      assert.match(page.text, /<title>Neutrino status<\/title>/);
      assert.match(page.text, /id="workers"/);
      assert.doesNotMatch(page.text, /https?:\/\//, "nothing is fetched from elsewhere");

      const bare = await request(`${server.url}/_neutrino`, { redirect: "manual" });
      assert.equal(bare.status, 308);
      assert.equal(bare.headers.get("location"), "/_neutrino/");

      const post = await request(`${server.url}/_neutrino/status.json`, { method: "POST" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      const head = await request(`${server.url}/_neutrino/status.json`, { method: "HEAD" });
      assert.deepEqual([head.status, head.text], [200, ""]);
      assert.equal((await request(`${server.url}/_neutrino/other`)).status, 404);
    } finally {
      await server.stop();
    }
  });

  it("NEUTRINO_STATUS_PAGE and status_page in the config file turn it on; an app route on its path wins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-status-"));
    let server: RunningServer | undefined;
    try {
      writeFileSync(
        join(dir, "statusapp.py"),
        'from neutrino import App\n\napp = App()\n\n\n@app.route("/_neutrino/status.json")\ndef mine():\n    return {"mine": True}\n',
      );
      const app = `${join(dir, "statusapp.py")}:app`;
      server = await startServer(app, ["--workers", "1"], { cwd: dir, env: { NEUTRINO_STATUS_PAGE: "true" } });
      assert.deepEqual((await request(`${server.url}/_neutrino/status.json`)).json, { mine: true });
      assert.equal((await request(`${server.url}/_neutrino/`)).status, 200);
      assert.match(server.stdout(), /the app's own route \/_neutrino\/status\.json hides the built-in endpoint/);
      await server.stop();

      writeFileSync(join(dir, "neutrino.toml"), "status_page = true\n");
      server = await startServer(app, ["--workers", "1"], { cwd: dir });
      assert.equal((await request(`${server.url}/_neutrino/`)).status, 200);
      await server.stop();

      server = await startServer(app, ["--workers", "1", "--no-status-page"], { cwd: dir });
      assert.equal((await request(`${server.url}/_neutrino/`)).status, 404, "the flag beats the file");
    } finally {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
