/**
 * The request model end to end (issue 6): path, query and body arguments, validation errors,
 * HTTPException, Response, the Request, middleware and async handlers, through the real CLI and
 * workers. The same runtime-neutral cases run against each twin app.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { post, request, runCli, startServer, type RunningServer } from "../support/server.js";

const modelApps = [{ runtime: "typescript", app: "tests/fixtures/model_app.ts:app" }] as const;
/** Apps whose route `/users/{user_id}` cannot get its path parameter: refused at start-up. */
const clashApps = [{ runtime: "typescript", app: "tests/fixtures/model_clash.ts:app" }] as const;

for (const { runtime, app } of clashApps) {
  it(`a path parameter the handler cannot take stops the app at start-up, naming the route (${runtime})`, async () => {
    const run = runCli(["routes", app]);
    assert.equal(await run.exited, 1);
    assert.match(run.err(), /\/users\/\{user_id\}/);
    assert.match(run.err(), /user_id/);
  });
}

for (const { runtime, app } of modelApps) {
  describe(`request model (${runtime})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1"]);
    });
    after(async () => {
      await server.stop();
    });

    it("takes a path parameter and a query parameter, converted and defaulted", async () => {
      const r = await request(`${server.url}/users/7?verbose=true`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { user_id: 7, verbose: true });
      assert.deepEqual((await request(`${server.url}/users/42`)).json, { user_id: 42, verbose: false });
    });

    it("answers an HTTPException with its status and detail", async () => {
      const r = await request(`${server.url}/users/0`);
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, { error: "Not Found", detail: "no such user" });
    });

    it("422 with a list of {loc, msg, type} naming the source of the bad value", async () => {
      const r = await request(`${server.url}/users/abc`);
      assert.equal(r.status, 422);
      assert.equal(r.json.error, "Unprocessable Entity");
      assert.equal(typeof r.json.detail, "string");
      assert.equal(r.json.errors.length, 1);
      const [error] = r.json.errors;
      assert.deepEqual(error.loc, ["path", "user_id"]);
      assert.equal(typeof error.msg, "string");
      assert.equal(typeof error.type, "string");
      const missing = await post(`${server.url}/items`, '{"name": "pen"}');
      assert.equal(missing.status, 422);
      assert.deepEqual(missing.json.errors.map((e: { loc: unknown }) => e.loc), [["body", "price"]]);
    });

    it("takes a JSON body, with defaults", async () => {
      const r = await post(`${server.url}/items`, '{"name": "pen", "price": 1.5, "tags": ["office"]}');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { name: "pen", price: 1.5, tags: ["office"], total: 1.5 });
      const bare = await post(`${server.url}/items`, '{"name": "cup", "price": 4}');
      assert.deepEqual(bare.json, { name: "cup", price: 4, tags: [], total: 4 });
    });

    it("takes arguments from the query string on any method, over the body", async () => {
      assert.deepEqual((await request(`${server.url}/add?x=2&y=3`)).json, { result: 5 });
      assert.deepEqual((await post(`${server.url}/add`, '{"x": 2, "y": 3}')).json, { result: 5 });
      assert.deepEqual((await post(`${server.url}/add?x=10`, '{"x": 1, "y": 2}')).json, { result: 12 });
    });

    it("gives the handler the Request: method, path, request id, headers, client", async () => {
      const r = await request(`${server.url}/whoami`, { headers: { "user-agent": "model-test/1.0", "x-request-id": "req-model-1" } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { method: "GET", path: "/whoami", request_id: "req-model-1", user_agent: "model-test/1.0", client_host: "127.0.0.1" });
    });

    it("sends a text Response as text", async () => {
      const r = await request(`${server.url}/text`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /^text\/plain\b/);
      assert.equal(r.text, "hello");
    });

    it("sends a bytes Response untouched", async () => {
      const res = await fetch(`${server.url}/bytes`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      const body = Buffer.from(await res.arrayBuffer());
      assert.deepEqual(body, Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    });

    it("sends a Response's status, headers and JSON body", async () => {
      const r = await request(`${server.url}/teapot`);
      assert.equal(r.status, 418);
      assert.equal(r.headers.get("x-kettle"), "yes");
      assert.match(r.headers.get("content-type") ?? "", /^application\/json\b/);
      assert.deepEqual(r.json, { short: "stout" });
    });

    it("runs the middleware on every response, errors included", async () => {
      for (const path of ["/users/1", "/users/0", "/users/abc", "/text", "/bytes", "/teapot", "/add?x=1&y=1"]) {
        const r = await request(`${server.url}${path}`);
        assert.equal(r.headers.get("x-middleware"), "on", path);
      }
    });

    it("runs async handlers side by side in one worker", async () => {
      const started = Date.now();
      const replies = await Promise.all(Array.from({ length: 4 }, () => request(`${server.url}/slow-async?seconds=0.5`)));
      const elapsed = Date.now() - started;
      for (const r of replies) assert.deepEqual(r.json, { slept: 0.5 });
      assert.ok(elapsed < 1500, `4 requests of 0.5 s on one worker took ${elapsed} ms`);
    });
  });
}
