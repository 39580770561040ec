/**
 * app.inject() answers as `neutrino serve` does: the same requests, in process and through the
 * real CLI and a real worker, give the same status, body and headers.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { app } from "../fixtures/model_app.js";
import { startServer, type RunningServer } from "../support/server.js";

const cases: { method: string; url: string; body?: string; headers?: Record<string, string> }[] = [
  { method: "GET", url: "/add?x=2&y=3" },
  { method: "POST", url: "/add?x=2", body: '{"y": 3}' },
  { method: "POST", url: "/add", body: '{"x": 2}' },
  { method: "POST", url: "/add", body: "{not json" },
  { method: "GET", url: "/users/42?verbose=true" },
  { method: "GET", url: "/users/abc" },
  { method: "GET", url: "/users/%E2%82%AC" },
  { method: "HEAD", url: "/users/7" },
  { method: "DELETE", url: "/users/7" },
  { method: "GET", url: "/nope" },
  { method: "GET", url: "/search?q=x&limit=many&sort=sideways" },
  { method: "POST", url: "/items?quantity=2", body: '{"item": {"name": "pen", "price": 1.5}}' },
  { method: "GET", url: "/convert?when=2024-05-06T07:08:09Z&day=2024-05-06&id=00000000-0000-0000-0000-000000000000&color=red" },
  { method: "GET", url: "/teapot" },
  { method: "GET", url: "/text" },
  { method: "GET", url: "/bytes" },
];

describe("app.inject against the real server", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer("tests/fixtures/model_app.ts:app", ["--workers", "1"]);
  });
  after(async () => {
    await server.stop();
  });

  it("gives the same status, body and headers for each request", async () => {
    for (const c of cases) {
      const served = await fetch(`${server.url}${c.url}`, { method: c.method, ...(c.body === undefined ? {} : { body: c.body }), headers: c.headers ?? {} });
      const servedBody = Buffer.from(await served.arrayBuffer());
      const injected = await app.inject({ method: c.method, url: c.url, ...(c.body === undefined ? {} : { body: c.body }), headers: c.headers ?? {} });
      const what = `${c.method} ${c.url}`;
      assert.equal(injected.statusCode, served.status, what);
      assert.deepEqual(injected.rawBody, servedBody, what);
      for (const name of ["content-type", "allow", "x-middleware", "x-tea", "x-custom"]) {
        assert.equal(injected.headers[name], served.headers.get(name) ?? undefined, `${what}: ${name}`);
      }
    }
  });
});
