/** CORS in process, against a fake dispatcher: preflights answered here, headers on answers. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cors, normalizeOrigin } from "../../src/orchestrator/http/cors.js";
import { addStaticMount, StaticFiles } from "../../src/orchestrator/http/static-files.js";
import { ApiDocs } from "../../src/orchestrator/openapi/docs-page.js";
import { ROUTES, startFront, stopFront, type Front } from "../support/front.js";

describe("CORS (in process)", () => {
  it("normalizes origins as browsers send them and refuses what is not one", () => {
    assert.equal(normalizeOrigin("https://App.Example.com:443/"), "https://app.example.com");
    assert.equal(normalizeOrigin("http://localhost:3000"), "http://localhost:3000");
    assert.equal(normalizeOrigin("*"), "*");
    for (const bad of ["app.example.com", "https://a.example/path", "ftp://a.example", "https://a.example?q", ""]) {
      assert.throws(() => normalizeOrigin(bad), /origin/, bad);
    }
    assert.throws(() => new Cors({ origins: ["*"], credentials: true }), /credentials/);
  });

  describe("listed origins, with credentials", () => {
    let front: Front;
    before(async () => {
      front = await startFront({ cors: { origins: ["https://app.example", "http://localhost:3000"], credentials: true } });
    });
    after(() => stopFront(front.http));

    it("answers a preflight for a known route itself, with the route's methods", async () => {
      const before = front.dispatcher.tasks.length;
      const res = await fetch(`${front.url}/plain?x=1`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-token" },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
      assert.equal(res.headers.get("access-control-allow-methods"), "GET, POST, HEAD");
      assert.equal(res.headers.get("access-control-allow-headers"), "content-type, x-token");
      assert.equal(res.headers.get("access-control-allow-credentials"), "true");
      assert.equal(res.headers.get("access-control-max-age"), "600");
      assert.match(res.headers.get("vary")!, /Origin/);
      assert.ok(res.headers.get("x-request-id"));
      assert.equal(await res.text(), "");
      assert.equal(front.dispatcher.tasks.length, before, "no worker saw the preflight");
    });

    it("no preflight answer for a disallowed origin, an unknown path, or a plain OPTIONS", async () => {
      const bad = await fetch(`${front.url}/plain`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
      assert.equal(bad.status, 405);
      assert.equal(bad.headers.get("access-control-allow-origin"), null);
      const unknown = await fetch(`${front.url}/nope`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "GET" } });
      assert.equal(unknown.status, 404);
      const plain = await fetch(`${front.url}/plain`, { method: "OPTIONS", headers: { origin: "https://app.example" } });
      assert.equal(plain.status, 405);
      for (const r of [bad, unknown, plain]) await r.arrayBuffer();
    });

    it("adds Allow-Origin, Vary and Expose-Headers to answers for an allowed origin", async () => {
      const res = await fetch(`${front.url}/plain`, { headers: { origin: "http://localhost:3000" } });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:3000");
      assert.equal(res.headers.get("access-control-allow-credentials"), "true");
      assert.equal(res.headers.get("access-control-expose-headers"), "x-request-id");
      assert.equal(res.headers.get("vary"), "Origin");
      // The orchestrator's own answers too.
      const missing = await fetch(`${front.url}/nope`, { headers: { origin: "http://localhost:3000" } });
      await missing.arrayBuffer();
      assert.equal(missing.headers.get("access-control-allow-origin"), "http://localhost:3000");
    });

    it("adds no Access-Control-* header for another origin, only Vary: Origin", async () => {
      for (const headers of [{ origin: "https://evil.example" }, {}] as Record<string, string>[]) {
        const res = await fetch(`${front.url}/plain`, { headers });
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        assert.deepEqual([...res.headers.keys()].filter((k) => k.startsWith("access-control-")), []);
        assert.equal(res.headers.get("vary"), "Origin");
      }
    });

    it("leaves CORS to a worker that answered it itself", async () => {
      front.dispatcher.answer = { headers: [["Access-Control-Allow-Origin", "https://mine.example"]] };
      const res = await fetch(`${front.url}/answer`, { headers: { origin: "https://app.example" } });
      await res.arrayBuffer();
      assert.equal(res.headers.get("access-control-allow-origin"), "https://mine.example");
    });
  });

  describe("any origin (*)", () => {
    let front: Front;
    before(async () => {
      front = await startFront({ cors: { origins: ["*"], credentials: false } });
    });
    after(() => stopFront(front.http));

    it("answers * to every origin, without Vary: Origin", async () => {
      const pre = await fetch(`${front.url}/answer`, { method: "OPTIONS", headers: { origin: "https://any.example", "access-control-request-method": "DELETE" } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), "*");
      assert.equal(pre.headers.get("access-control-allow-methods"), "GET, DELETE, HEAD");
      assert.equal(pre.headers.get("access-control-allow-credentials"), null);
      front.dispatcher.answer = {};
      const res = await fetch(`${front.url}/answer`, { headers: { origin: "https://any.example" } });
      await res.arrayBuffer();
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(res.headers.get("vary"), null);
    });
  });

  it("static files and /openapi.json get X-Request-Id and Access-Control-Allow-Origin too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-front-static-"));
    writeFileSync(join(dir, "app.js"), "console.log(1);\n");
    const docs = new ApiDocs({ title: "t", version: "0" }, () => {});
    docs.update(ROUTES);
    const front = await startFront({
      cors: { origins: ["https://app.example"], credentials: false },
      staticFiles: new StaticFiles(addStaticMount(`/assets=${dir}`)),
      apiDocs: docs,
    });
    try {
      for (const [path, status] of [["/assets/app.js", 200], ["/assets/missing.js", 404], ["/openapi.json", 200]] as const) {
        const res = await fetch(`${front.url}${path}`, { headers: { origin: "https://app.example", "x-request-id": "static-1" } });
        await res.arrayBuffer();
        assert.equal(res.status, status, path);
        assert.equal(res.headers.get("x-request-id"), "static-1", path);
        assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example", path);
      }
    } finally {
      stopFront(front.http);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is off by default: no preflight answer, no Access-Control-* header", async () => {
    const front = await startFront();
    try {
      const pre = await fetch(`${front.url}/plain`, { method: "OPTIONS", headers: { origin: "https://a.example", "access-control-request-method": "POST" } });
      await pre.arrayBuffer();
      assert.equal(pre.status, 405);
      const res = await fetch(`${front.url}/plain`, { headers: { origin: "https://a.example" } });
      await res.arrayBuffer();
      assert.deepEqual([...res.headers.keys()].filter((k) => k.startsWith("access-control-") || k === "vary"), []);
    } finally {
      stopFront(front.http);
    }
  });
});
