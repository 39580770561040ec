/**
 * The other frameworks the README names, served unchanged through the real CLI with the real
 * framework from .venv-test/ (tests/requirements.txt): Bottle and Pyramid (WSGI), Falcon, Quart and
 * Litestar (ASGI). Each answers a templated route and its own 404, its startup hook has run where
 * it has one, WebSockets reach the ASGI ones, and metrics label requests by the framework's own
 * route template, never by the raw path. (FastAPI, Starlette, Flask and Django have their own files.)
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureTestPython, requestCounts, testPython } from "../support/python-apps.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { WsClient, wsUrl } from "../support/ws-client.js";

const frameworks = [
  { name: "bottle", app: "tests/fixtures/foreign/bottle_app.py:app", startup: false, websocket: false },
  { name: "pyramid", app: "tests/fixtures/foreign/pyramid_app.py:app", startup: false, websocket: false },
  { name: "falcon", app: "tests/fixtures/foreign/falcon_app.py:app", startup: false, websocket: true },
  { name: "quart", app: "tests/fixtures/foreign/quart_app.py:app", startup: true, websocket: true },
  { name: "litestar", app: "tests/fixtures/foreign/litestar_app.py:app", startup: true, websocket: true },
] as const;

for (const framework of frameworks) {
  describe(`a ${framework.name} app served unchanged`, () => {
    let server: RunningServer;
    before(async () => {
      ensureTestPython();
      server = await startServer(framework.app, ["--workers", "1", "--python", testPython]);
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    it("a templated route answers; a path it does not route is the app's own 404", async () => {
      const r = await request(`${server.url}/items/3?q=a`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.framework, framework.name);
      assert.equal(r.json.item_id, 3);
      assert.equal(r.json.q, "a");
      if (framework.startup) assert.equal(r.json.started, "at startup");
      const missing = await request(`${server.url}/no/such/page`);
      assert.equal(missing.status, 404);
      assert.doesNotMatch(missing.text, /no route for/, "the app's 404, not the orchestrator's");
    });

    it("metrics label requests by the framework's route template, never by raw paths", async () => {
      for (const id of [4, 5, 6]) assert.equal((await request(`${server.url}/items/${id}`)).status, 200);
      const counts = await requestCounts(server.url);
      assert.ok((counts.get("/items/{item_id} GET 200") ?? 0) >= 3, JSON.stringify([...counts]));
      for (const key of counts.keys()) assert.doesNotMatch(key, /\/items\/\d/, `a raw path as a label: ${key}`);
    });

    if (framework.websocket) {
      it("a WebSocket reaches the app: messages both ways", async () => {
        const client = await WsClient.open(`${wsUrl(server.url)}/ws`);
        client.ws.send("hi");
        assert.equal(await client.next(), "echo: hi");
        client.ws.close(1000);
        assert.equal((await client.whenClosed()).code, 1000);
      });
    }
  });
}
