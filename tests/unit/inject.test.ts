/** app.inject(): requests through an app in process, with the server's routing and the worker's rules. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { App } from "../../src/sdk/index.js";
import { app } from "../fixtures/model_app.js";

describe("app.inject", () => {
  it("routes by path template, binds and converts query, path and JSON body arguments", async () => {
    const get = await app.inject({ url: "/add?x=2&y=3" });
    assert.equal(get.statusCode, 200);
    assert.deepEqual(get.json(), { result: 5 });
    assert.equal(get.body, '{"result":5}');
    assert.equal(get.headers["content-type"], "application/json");
    assert.equal(get.headers["content-length"], "12");
    assert.deepEqual((await app.inject({ method: "POST", url: "/add?x=2", json: { y: 3 } })).json(), { result: 5 });
    assert.deepEqual((await app.inject({ url: "/users/42?verbose=true" })).json(), { user_id: 42, verbose: true });
    assert.deepEqual((await app.inject({ url: "/search?q=hi&tags=a&tags=b" })).json(), { q: "hi", limit: 10, tags: ["a", "b"], sort: "asc" });
  });

  it("answers 404, 405 with Allow, 400 and 422 as the server does", async () => {
    const missing = await app.inject({ url: "/nope" });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: "Not Found", detail: "no route for GET /nope" });
    const wrong = await app.inject({ method: "DELETE", url: "/users/1" });
    assert.equal(wrong.statusCode, 405);
    assert.equal(wrong.headers.allow, "GET, HEAD");
    assert.deepEqual(wrong.json(), { error: "Method Not Allowed", detail: "DELETE is not allowed on /users/{user_id} (allowed: GET, HEAD)" });
    const notJson = await app.inject({ method: "POST", url: "/items", body: "{nope" });
    assert.equal(notJson.statusCode, 400);
    assert.match((notJson.json() as { detail: string }).detail, /not valid JSON/);
    const invalid = await app.inject({ url: "/users/abc" });
    assert.equal(invalid.statusCode, 422);
    assert.deepEqual((invalid.json() as { errors: { loc: unknown[] }[] }).errors.map((e) => e.loc), [["path", "user_id"]]);
  });

  it("runs middleware, HTTPException, Response and the Request the handler reads", async () => {
    const teapot = await app.inject({ url: "/teapot" });
    assert.equal(teapot.statusCode, 418);
    assert.equal(teapot.headers["x-tea"], "earl grey");
    assert.equal(teapot.headers["x-middleware"], "model_app");
    assert.deepEqual(teapot.json(), { error: "I'm a Teapot", detail: "short and stout" });
    const text = await app.inject({ url: "/text" });
    assert.equal(text.statusCode, 201);
    assert.equal(text.headers["content-type"], "text/plain");
    assert.equal(text.body, "hello");
    const bytes = await app.inject({ url: "/bytes" });
    assert.equal(bytes.rawBody.length, 256);
    const who = await app.inject({ method: "POST", url: "/whoami?a=1", headers: { "X-Probe": "yes" }, body: "raw text" });
    const { request_id, ...seen } = who.json() as Record<string, unknown>;
    assert.match(String(request_id), /^inject-\d+$/);
    assert.deepEqual(seen, { method: "POST", path: "/whoami", query: "a=1", probe: "yes", client: "127.0.0.1", body: "raw text" });
  });

  it("answers HEAD like GET without a body", async () => {
    const head = await app.inject({ method: "HEAD", url: "/users/7" });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], String('{"user_id":7,"verbose":false}'.length));
  });

  it("sees routes and middleware added after an earlier inject", async () => {
    const late = new App().route("/a", () => "a");
    assert.equal((await late.inject({ url: "/b" })).statusCode, 404);
    late.route("/b/{n}", ({ n }) => n * 2, { schema: z.object({ n: z.coerce.number() }) });
    late.use(async (_request, next) => {
      const response = await next();
      response.headers.set("x-late", "1");
      return response;
    });
    const b = await late.inject({ url: "/b/21" });
    assert.equal(b.body, "42");
    assert.equal(b.headers["x-late"], "1");
  });

  it("refuses a url that is not a path", async () => {
    await assert.rejects(app.inject({ url: "http://example.com/add" }), /url must be a path starting with "\/"/);
  });
});
