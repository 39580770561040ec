/**
 * The orchestrator's built-in routes through the real CLI: --admin-port moves /metrics,
 * /openapi.json, /docs and the status page off the public port; every built-in answers GET and
 * HEAD only, with the same 405.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { exchange } from "../support/raw-http.js";
import { request, startServer } from "../support/server.js";

const APP = "tests/fixtures/pyapp.py:app";
const MOVED = ["/metrics", "/openapi.json", "/docs", "/_neutrino/", "/_neutrino/status.json"];

describe("--admin-port", () => {
  it("serves /metrics, /openapi.json, /docs and the status page there, and not on the public port", async () => {
    const server = await startServer(APP, ["--workers", "1", "--status-page", "--admin-port", "0"]);
    try {
      const adminPort = server.logs().find((r) => typeof r.adminPort === "number")!.adminPort as number;
      const admin = `http://127.0.0.1:${adminPort}`;
      for (const path of MOVED) {
        assert.equal((await request(`${admin}${path}`)).status, 200, `${path} on the admin port`);
        assert.equal((await request(`${server.url}${path}`)).status, 404, `${path} not on the public port`);
      }
      assert.match((await request(`${admin}/metrics`)).text, /neutrino_queue_depth/);
      // Probes answer on both; the app's routes only on the public port.
      for (const base of [server.url, admin]) assert.equal((await request(`${base}/health`)).status, 200);
      assert.equal((await request(`${server.url}/add?x=1&y=2`)).status, 200);
      assert.equal((await request(`${admin}/add?x=1&y=2`)).status, 404);
      // What the public port refuses, the admin port refuses the same way: a request line of
      // another version (505), CONNECT (501) and an unknown Expect (417), all as JSON.
      const [version] = await exchange(adminPort, "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n");
      assert.equal(version!.status, 505);
      assert.match(JSON.parse(version!.body).detail, /HTTP\/2\.0 is not spoken in an HTTP\/1 request line/);
      const [connect] = await exchange(adminPort, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
      assert.equal(connect!.status, 501);
      assert.match(JSON.parse(connect!.body).detail, /CONNECT is not supported/);
      const [expect] = await exchange(adminPort, "GET /metrics HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n");
      assert.equal(expect!.status, 417);
      assert.equal(JSON.parse(expect!.body).detail, "Expect: teapot is not supported (only 100-continue is)");
      // And HAProxy's `option httpchk OPTIONS *` health check, as likely here as on the public port.
      const [asterisk] = await exchange(adminPort, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(asterisk!.status, 200);
      assert.equal(asterisk!.headers.allow, "GET, HEAD, OPTIONS");
    } finally {
      await server.stop();
    }
  });

  it("without it, a non-loopback bind warns that they answer on the public port", async () => {
    const server = await startServer(APP, ["--workers", "1", "--host", "0.0.0.0"]);
    try {
      assert.match(server.stdout(), /answer on the public port: in production, move them with --admin-port/);
    } finally {
      await server.stop();
    }
  });
});

describe("built-in routes", () => {
  it("every one answers GET and HEAD, and 405 with Allow to any other method", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-builtins-"));
    writeFileSync(join(dir, "a.txt"), "a");
    const server = await startServer(APP, ["--workers", "1", "--status-page", "--static", `/files=${dir}`]);
    try {
      for (const path of ["/health", "/ready", "/files/a.txt", ...MOVED]) {
        assert.equal((await request(`${server.url}${path}`, { method: "HEAD" })).status, 200, `HEAD ${path}`);
        const post = await request(`${server.url}${path}`, { method: "POST", body: "{}" });
        assert.equal(post.status, 405, `POST ${path}`);
        assert.equal(post.headers.get("allow"), "GET, HEAD", `POST ${path}`);
        assert.match(post.json.detail, /POST is not allowed/);
      }
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
