/**
 * Bare ASGI and WSGI callables (no framework, the plain python3 of the machine): detected without
 * --interface, served with every path reaching them, and rolled by --reload like a Neutrino app.
 * Each case runs against both interfaces.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { request, runCli, startServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

/** A module whose `app` answers "<kind> <version> <method> <path>" as text. */
const sources: Record<string, (version: string) => string> = {
  asgi: (version) => `
async def app(scope, receive, send):
    assert scope["type"] in ("http", "lifespan")
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = f"asgi ${version} {scope['method']} {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
`,
  wsgi: (version) => `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"wsgi ${version} {environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()]
`,
};

for (const kind of ["asgi", "wsgi"] as const) {
  describe(`a bare ${kind.toUpperCase()} app`, () => {
    it("is detected and gets every path and method", async () => {
      const dir = mkdtempSync(join(tmpdir(), `neutrino-${kind}-`));
      writeFileSync(join(dir, "bare.py"), sources[kind]!("v1"));
      const server = await startServer("bare.py:app", ["--workers", "1"], { cwd: dir });
      try {
        for (const [method, path] of [["GET", "/"], ["POST", "/a/b/c"], ["DELETE", "/x"]] as const) {
          const r = await request(`${server.url}${path}`, { method });
          assert.equal(r.status, 200, r.text);
          assert.equal(r.text, `${kind} v1 ${method} ${path}`);
        }
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
      assert.equal(await server.stop(), 0);
    });

    it("--reload rolls its workers on an edit", async () => {
      const dir = mkdtempSync(join(tmpdir(), `neutrino-${kind}-reload-`));
      const file = join(dir, "bare.py");
      writeFileSync(file, sources[kind]!("v1"));
      const server = await startServer("bare.py:app", ["--workers", "2", "--reload"], { cwd: dir });
      try {
        await waitFor(() => /watching/.test(server.stdout()));
        assert.equal((await request(`${server.url}/page`)).text, `${kind} v1 GET /page`);
        writeFileSync(file, sources[kind]!("v2"));
        await waitFor(() => /reloaded: 2 new workers serving/.test(server.stdout()), 20_000, "the reload");
        assert.equal((await request(`${server.url}/page`)).text, `${kind} v2 GET /page`);
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
      assert.equal(await server.stop(), 0);
    });

    it(`--interface ${kind === "asgi" ? "wsgi" : "asgi"} refuses it at start-up`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `neutrino-${kind}-wrong-`));
      writeFileSync(join(dir, "bare.py"), sources[kind]!("v1"));
      const other = kind === "asgi" ? "wsgi" : "asgi";
      try {
        const run = runCli(["serve", "bare.py:app", "--port", "0", "--workers", "1", "--interface", other], { cwd: dir });
        assert.notEqual(await run.exited, 0);
        assert.match(run.out() + run.err(), new RegExp(`'bare.py:app' is a function, not an? ${other.toUpperCase()}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
