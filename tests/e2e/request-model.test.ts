/**
 * The request model end to end: path, query and body arguments, conversion and 422s,
 * Request, HTTPException, Response, middleware, async handlers overlapping in one worker while
 * sync ones never do. Every case runs against each app below, with the same URLs and the same
 * expected JSON: the Python app and its TypeScript twin must answer alike.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request, runCli, startServer, type Reply, type RunningServer } from "../support/server.js";

const apps: { runtime: string; app: string }[] = [
  { runtime: "python", app: "tests/fixtures/model_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/model_app.ts:app" },
];
/** Apps whose route `/users/{user_id}` cannot get its path parameter: refused at start-up. */
const clashApps: { runtime: string; app: string }[] = [
  { runtime: "python", app: "tests/fixtures/clash_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/model_clash.ts:app" },
];

const json = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });

interface ErrorItem {
  loc: (string | number)[];
  msg: string;
  type: string;
}

function locs(r: Reply): string[] {
  assert.equal(r.status, 422, r.text);
  const body = r.json as { error: string; detail: string; errors: ErrorItem[] };
  assert.equal(body.error, "Unprocessable Entity");
  assert.equal(typeof body.detail, "string");
  for (const e of body.errors) {
    assert.ok(Array.isArray(e.loc) && typeof e.msg === "string" && typeof e.type === "string", JSON.stringify(e));
  }
  return body.errors.map((e) => e.loc.join("."));
}

for (const { runtime, app } of apps) {
  describe(`request model (${runtime})`, () => {
    let server: RunningServer;
    let url: string;
    before(async () => {
      // One worker: the overlap tests are about what happens inside a single worker.
      server = await startServer(app, ["--workers", "1"]);
      url = server.url;
    });
    after(async () => {
      await server.stop();
    });

    it("path parameters, converted by type", async () => {
      const r = await request(`${url}/users/42?verbose=true`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { user_id: 42, verbose: true });
      assert.deepEqual((await request(`${url}/users/7`)).json, { user_id: 7, verbose: false });
      assert.deepEqual(locs(await request(`${url}/users/abc`)), ["path.user_id"]);
    });

    it("typed query parameters with defaults, lists and literals", async () => {
      const r = await request(`${url}/search?q=hi&limit=3&tags=a&tags=b&sort=desc`);
      assert.deepEqual(r.json, { q: "hi", limit: 3, tags: ["a", "b"], sort: "desc" });
      assert.deepEqual((await request(`${url}/search?q=x`)).json, { q: "x", limit: 10, tags: [], sort: "asc" });
      assert.deepEqual(locs(await request(`${url}/search?q=x&limit=many&sort=sideways`)).sort(), ["query.limit", "query.sort"]);
      const missing = locs(await request(`${url}/search`));
      assert.equal(missing.length, 1);
      assert.match(missing[0]!, /\.q$/);
    });

    it("query parameters on any method; path, then query, then body", async () => {
      const r = await request(`${url}/search?q=from-query`, json({ limit: 2, q: "from-body" }));
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { q: "from-query", limit: 2, tags: [], sort: "asc" });
      const add = await request(`${url}/add?x=2`, json({ y: 3 }));
      assert.deepEqual(add.json, { result: 5 });
    });

    it("a nested object body, validated, and a returned object", async () => {
      const r = await request(`${url}/items?quantity=2`, json({ item: { name: "pen", price: 1.5, tags: ["blue"] } }));
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { name: "pen", quantity: 2, total: 3, tags: ["blue"] });
      const defaults = await request(`${url}/items`, json({ item: { name: "cap", price: 2 } }));
      assert.deepEqual(defaults.json, { name: "cap", quantity: 1, total: 2, tags: [] });
      assert.deepEqual(locs(await request(`${url}/items`, json({ item: { name: "pen", price: "cheap" } }))), ["body.item.price"]);
      assert.deepEqual(locs(await request(`${url}/items`, json({ item: { price: 1 } }))), ["body.item.name"]);
      assert.equal((await request(`${url}/items`, { method: "POST", body: "{not json" })).status, 400);
    });

    it("dates, UUIDs and enums from the query string", async () => {
      const id = "12345678-1234-5678-1234-567812345678";
      const r = await request(`${url}/convert?when=2024-01-02T03:04:05Z&day=2024-01-07&id=${id}&color=green`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { year: 2024, hour: 3, weekday: 7, id, color: "green" });
      const bad = locs(await request(`${url}/convert?when=never&day=2024-02-30&id=nope&color=purple`));
      assert.deepEqual(bad.sort(), ["query.color", "query.day", "query.id", "query.when"]);
    });

    it("Request: method, path, raw query and body, request id", async () => {
      const r = await request(`${url}/whoami?a=1&b=two`, { method: "POST", body: "raw bytes, not JSON" });
      assert.equal(r.status, 200, r.text);
      const body = r.json as Record<string, unknown>;
      assert.equal(body.method, "POST");
      assert.equal(body.path, "/whoami");
      assert.equal(body.query, "a=1&b=two");
      assert.equal(body.body, "raw bytes, not JSON");
      assert.equal(typeof body.request_id, "string");
      assert.ok((body.request_id as string).length > 0);
    });

    it("Request: headers, client address and X-Request-Id (routes that read the request get them)", async () => {
      const r = await request(`${url}/whoami`, { headers: { "x-probe": "yes", "x-request-id": "model-test-42" } });
      const body = r.json as Record<string, unknown>;
      assert.equal(body.probe, "yes");
      assert.equal(body.client, "127.0.0.1");
      assert.equal(body.request_id, "model-test-42");
      assert.equal(r.headers.get("x-request-id"), "model-test-42");
    });

    it("HTTPException: its status, the error shape, its headers", async () => {
      const r = await request(`${url}/teapot`);
      assert.equal(r.status, 418);
      assert.deepEqual(r.json, { error: "I'm a Teapot", detail: "short and stout" });
      assert.equal(r.headers.get("x-tea"), "earl grey");
    });

    it("Response: status, headers, media type, a text body as it is", async () => {
      const r = await request(`${url}/text`);
      assert.equal(r.status, 201);
      assert.equal(r.text, "hello");
      assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
      assert.equal(r.headers.get("x-custom"), "yes");
    });

    it("Response: bytes sent untouched", async () => {
      const res = await fetch(`${url}/bytes`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    });

    it("middleware wraps every response, errors included", async () => {
      for (const path of ["/users/1", "/teapot", "/users/nope", "/text", "/async-sleep?seconds=0"]) {
        const r = await request(`${url}${path}`);
        assert.equal(r.headers.get("x-middleware"), "model_app", path);
      }
    });

    it("async handlers overlap in one worker: ten requests that each wait for all ten are answered together", async () => {
      const replies = await Promise.all(Array.from({ length: 10 }, () => request(`${url}/overlap?group=ten&n=10&seconds=10`)));
      for (const r of replies) assert.equal(r.json.most_at_once, 10, r.text);
      assert.equal(new Set(replies.map((r) => r.json.pid)).size, 1);
    });

    it("a mixed app never runs two sync handlers at once in one worker", async () => {
      const sync = Array.from({ length: 5 }, () => request(`${url}/sync-sleep?seconds=0.15`));
      const asyncOnes = Array.from({ length: 5 }, () => request(`${url}/async-sleep?seconds=0.1`));
      const replies = await Promise.all(sync);
      await Promise.all(asyncOnes);
      const pids = new Set<number>();
      for (const r of replies) {
        assert.equal(r.status, 200, r.text);
        const body = r.json as { most_at_once: number; pid: number };
        assert.equal(body.most_at_once, 1);
        pids.add(body.pid);
      }
      assert.equal(pids.size, 1);
    });

    it("the OpenAPI document describes the routes", async () => {
      const r = await request(`${url}/openapi.json`);
      assert.equal(r.status, 200, r.text);
      const doc = r.json as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
      assert.match(doc.openapi, /^3\.1/);
      const add = doc.paths["/add"]!.get!;
      assert.deepEqual(add.parameters?.map((p) => [p.name, p.in]), [["x", "query"], ["y", "query"]]);
      assert.ok(doc.paths["/users/{user_id}"]!.get!.parameters!.some((p) => p.name === "user_id" && p.in === "path"));
    });
  });
}

for (const { runtime, app } of apps) {
  describe(`--worker-concurrency (${runtime})`, () => {
    it("caps the async requests one worker runs at once", async () => {
      const server = await startServer(app, ["--workers", "1", "--worker-concurrency", "2"]);
      try {
        // Each waits (up to 1 s) for all four to be in flight at once: with the cap, never more than two are.
        const replies = await Promise.all(Array.from({ length: 4 }, () => request(`${server.url}/overlap?group=capped&n=4&seconds=1`)));
        for (const r of replies) assert.equal(r.status, 200, r.text);
        assert.deepEqual(replies.map((r) => r.json.most_at_once as number).sort(), [2, 2, 2, 2]);
      } finally {
        await server.stop();
      }
    });
  });
}

for (const { runtime, app } of clashApps) {
  describe(`route clashes are reported at start-up (${runtime})`, () => {
    it("a path parameter the handler does not take stops the server, naming the route", async () => {
      const run = runCli(["serve", app, "--port", "0", "--workers", "1"]);
      assert.notEqual(await run.exited, 0);
      assert.match(run.err(), /\/users\/\{user_id\}/);
      assert.match(run.err(), /user_id/);
      assert.doesNotMatch(run.out(), /listening/);
    });
  });
}
