/** /health and /ready are answered by the orchestrator itself, even when every worker is busy. */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { answerProbe } from "../../src/orchestrator/http/probes.js";
import { request, startServer } from "../support/server.js";
import { waitForLoad } from "../support/status.js";

describe("health and readiness probes", () => {
  it("answer while every worker is busy and requests are queued", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "1", "--status-page"]);
    try {
      let slowDone = false;
      const slow = [request(`${server.url}/sleep?seconds=1`), request(`${server.url}/sleep?seconds=0.5`)];
      void Promise.all(slow).then(() => (slowDone = true));
      await waitForLoad(server, 1, 1);
      const health = await request(`${server.url}/health`);
      const ready = await request(`${server.url}/ready`);
      assert.equal(slowDone, false, "the probes did not wait for the worker");
      assert.deepEqual([health.status, health.json], [200, { status: "ok" }]);
      assert.deepEqual([ready.status, ready.json], [200, { status: "ready" }]);
      for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
    } finally {
      await server.stop();
    }
  });

  it("an app route on a probe path wins, with a warning at start-up; the paths are configurable", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "1", "--health-path", "/add", "--ready-path", "/_ready"]);
    try {
      assert.deepEqual((await request(`${server.url}/add?x=1&y=2`)).json, { result: 3 });
      assert.equal((await request(`${server.url}/_ready`)).status, 200);
      assert.equal((await request(`${server.url}/ready`)).status, 404);
      assert.match(server.stdout(), /the app's own route \/add hides the built-in endpoint/);
    } finally {
      await server.stop();
    }
  });

  it("readiness is 503 while the server drains", async () => {
    const http = createServer((req, res) => {
      if (!answerProbe({ health: "/health", ready: "/ready" }, req.url!, true, res)) res.end();
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      const r = await request(`${url}/ready`);
      assert.deepEqual([r.status, r.json], [503, { status: "draining" }]);
      assert.equal((await request(`${url}/health`)).status, 200, "still alive while draining");
    } finally {
      http.close();
    }
  });
});
