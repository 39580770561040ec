/**
 * /openapi.json and /docs over plain HTTP, through the real CLI. The fixture worker
 * (tests/fixtures/openapi_worker.mjs) sends the RouteRegistry the test wants, "openapi" entries
 * included; the example apps show that whatever their SDK sends, every route is listed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURE_APP, FIXTURE_FLAGS } from "../support/openapi-fixture.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";


const EXAMPLES = ["examples/myapp.py:app", "examples/myapp.ts:app"] as const;

describe("OpenAPI document and docs page", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(FIXTURE_APP, [...FIXTURE_FLAGS]);
  });
  after(() => server?.stop());

  it("/openapi.json: OpenAPI 3.1.0 with every route and method, the SDK's operations kept, minimal ones added", async () => {
    const res = await request(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    const doc = res.json;
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(doc.info, { title: FIXTURE_APP, version: "0.0.0" });
    assert.deepEqual(
      Object.fromEntries(Object.entries(doc.paths as Record<string, object>).map(([p, item]) => [p, Object.keys(item)])),
      { "/add": ["get", "post"], "/process": ["post"], "/users/{user_id}": ["get"], "/broken": ["get"] },
    );
    const add = doc.paths["/add"];
    assert.equal(add.get.summary, "Add two numbers");
    assert.deepEqual(add.get.parameters.map((p: { name: string; in: string }) => [p.name, p.in]), [["x", "query"], ["y", "query"]]);
    assert.deepEqual([add.get.operationId, add.post.operationId], ["add", "add_post"]);
    assert.ok(doc.paths["/process"].post.requestBody.content["application/json"].schema);
    assert.deepEqual(doc.paths["/users/{user_id}"].get, {
      parameters: [{ name: "user_id", in: "path", required: true, schema: { type: "string" } }],
      responses: { "200": { description: "OK" } },
    });
    assert.deepEqual(doc.paths["/broken"].get, { responses: { "200": { description: "OK" } } });
    assert.match(server.stdout(), /route \/broken: its \\"openapi\\" entry is not an object/);
  });

  it("/openapi.json: HEAD, If-None-Match → 304, other methods 405", async () => {
    const first = await request(`${server.url}/openapi.json`);
    const etag = first.headers.get("etag")!;
    const head = await request(`${server.url}/openapi.json`, { method: "HEAD" });
    assert.deepEqual([head.status, head.text, head.headers.get("content-length")], [200, "", String(Buffer.byteLength(first.text))]);
    assert.equal((await request(`${server.url}/openapi.json`, { headers: { "if-none-match": etag } })).status, 304);
    const post = await request(`${server.url}/openapi.json`, { method: "POST" });
    assert.deepEqual([post.status, post.headers.get("allow"), post.json.error], [405, "GET, HEAD", "Method Not Allowed"]);
  });

  it("/docs: an HTML page whose assets all load from this server, with no external URL", async () => {
    const page = await request(`${server.url}/docs`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy")!, /default-src 'self'.*connect-src 'self'/);
    assert.doesNotMatch(page.text, /https?:|\/\//, "no external or protocol-relative URL");
    const refs = [...page.text.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(refs.length >= 3, refs.join(", "));
    const expected: Record<string, RegExp> = { ".js": /^text\/javascript/, ".css": /^text\/css/, ".png": /^image\/png$/ };
    for (const ref of refs) {
      const asset = await fetch(new URL(ref, `${server.url}/docs`));
      const body = await asset.text();
      assert.equal(asset.status, 200, ref);
      const type = expected[ref.slice(ref.lastIndexOf("."))]!;
      assert.match(asset.headers.get("content-type")!, type, ref);
      if (ref.endsWith("init.js")) {
        assert.doesNotMatch(body, /https?:/);
        assert.match(body, /url: "openapi.json"/);
      }
    }
    assert.ok(refs.includes("docs/swagger-ui-bundle.js") && refs.includes("docs/swagger-ui.css"));
    const redirect = await fetch(`${server.url}/docs/`, { redirect: "manual" });
    assert.deepEqual([redirect.status, redirect.headers.get("location")], [301, "../docs"]);
    assert.equal((await request(`${server.url}/docs/package.json`)).status, 404, "only the page's own files are served");
  });
});

describe("OpenAPI: precedence, reload and --no-docs", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-openapi-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("an app route on /openapi.json wins, with a warning; /docs stays", async () => {
    const routes = join(dir, "own.json");
    writeFileSync(routes, JSON.stringify([{ path: "/openapi.json", methods: ["GET"] }]));
    const server = await startServer(FIXTURE_APP, [...FIXTURE_FLAGS], { env: { OPENAPI_FIXTURE_ROUTES: routes } });
    try {
      assert.deepEqual((await request(`${server.url}/openapi.json`)).json, {}, "the fixture app's answer");
      assert.equal((await request(`${server.url}/docs`)).status, 200);
      assert.match(server.stdout(), /the app's own route \/openapi.json hides the built-in endpoint/);
    } finally {
      await server.stop();
    }
  });

  it("a reload (SIGHUP) rebuilds the document from the new routes", async () => {
    const routes = join(dir, "reload.json");
    writeFileSync(routes, JSON.stringify([{ path: "/one", methods: ["GET"] }]));
    const server = await startServer(FIXTURE_APP, [...FIXTURE_FLAGS], { env: { OPENAPI_FIXTURE_ROUTES: routes } });
    try {
      assert.deepEqual(Object.keys((await request(`${server.url}/openapi.json`)).json.paths), ["/one"]);
      writeFileSync(routes, JSON.stringify([{ path: "/one", methods: ["GET"] }, { path: "/two/{n}", methods: ["PUT"], openapi: { summary: "Two" } }]));
      server.proc.kill("SIGHUP");
      await waitFor(() => /reloaded/.test(server.stdout()));
      const doc = (await request(`${server.url}/openapi.json`)).json;
      assert.deepEqual(Object.keys(doc.paths), ["/one", "/two/{n}"]);
      assert.equal(doc.paths["/two/{n}"].put.summary, "Two");
      assert.equal(doc.paths["/two/{n}"].put.parameters[0].name, "n");
    } finally {
      await server.stop();
    }
  });

  it("--no-docs and NEUTRINO_DOCS=false turn /openapi.json and /docs off", async () => {
    for (const [flags, env] of [[["--no-docs"], {}], [[], { NEUTRINO_DOCS: "false" }]] as const) {
      const server = await startServer(FIXTURE_APP, [...FIXTURE_FLAGS, ...flags], { env });
      try {
        for (const path of ["/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"]) {
          const res = await request(`${server.url}${path}`);
          assert.equal(res.status, 404, `${path} with ${flags.join(" ")} ${JSON.stringify(env)}`);
          assert.equal(res.json.error, "Not Found");
        }
        assert.deepEqual((await request(`${server.url}/add?x=2&y=3`)).json, { result: 5 });
      } finally {
        await server.stop();
      }
    }
  });
});

describe("OpenAPI for the example apps", () => {
  for (const app of EXAMPLES) {
    it(`${app}: /openapi.json lists every route, /docs answers`, async () => {
      const server = await startServer(app, ["--workers", "1"]);
      try {
        const doc = (await request(`${server.url}/openapi.json`)).json;
        assert.equal(doc.openapi, "3.1.0");
        assert.equal(doc.info.title, app);
        assert.deepEqual(Object.keys(doc.paths).sort(), ["/add", "/process"]);
        assert.deepEqual(Object.keys(doc.paths["/add"]).sort(), ["get", "post"]);
        assert.deepEqual(Object.keys(doc.paths["/process"]), ["post"]);
        for (const item of Object.values(doc.paths) as Record<string, { responses: Record<string, unknown> }>[]) {
          for (const op of Object.values(item)) assert.ok(op.responses["200"], "every operation has a 200 response");
        }
        assert.equal((await request(`${server.url}/docs`)).status, 200);
      } finally {
        await server.stop();
      }
    });
  }
});
