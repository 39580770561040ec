/**
 * WSGI apps served unchanged through the real CLI: a real Flask app (a multipart upload, cookies,
 * a streamed generator, its own errors) and a Django project's WSGI handler, with the frameworks
 * from .venv-test/ (tests/requirements.txt). Also what the server does around them: labels by
 * route template, X-Request-Id, --timeout killing and replacing the worker, recycling, SIGHUP.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureTestPython, requestCounts, testPython } from "../support/python-apps.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const FLASK = "tests/fixtures/foreign/flask_app.py:app";
const DJANGO = "tests/fixtures/foreign/django_site/wsgi.py:application";

function open(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, resolve).once("error", reject));
}

describe("a Flask app served unchanged (WSGI)", () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    ensureTestPython();
    server = await startServer(FLASK, ["--workers", "1", "--python", testPython, "--timeout", "2"]);
    url = server.url;
  });
  after(async () => {
    await server.stop();
  });

  it("a route with a converter; the app's own 404 and 405", async () => {
    const r = await request(`${url}/users/7`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { user_id: 7 });
    const head = await request(`${url}/users/7`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(Buffer.byteLength(r.text)), "HEAD keeps the app's length");
    assert.equal((await request(`${url}/users/seven`)).status, 404);
    const wrong = await request(`${url}/users/7`, { method: "POST" });
    assert.equal(wrong.status, 405);
    assert.match(wrong.headers.get("allow") ?? "", /GET/);
  });

  it("a WebDAV method reaches the app as sent, with its headers; on other routes Flask's 405 stands", async () => {
    const found = await request(`${url}/dav/notes`, { method: "PROPFIND", headers: { depth: "1" } });
    assert.equal(found.status, 207, found.text);
    assert.deepEqual(found.json, { name: "notes", method: "PROPFIND", depth: "1" });
    const elsewhere = await request(`${url}/users/7`, { method: "PROPFIND" });
    assert.equal(elsewhere.status, 405, elsewhere.text);
    assert.match(elsewhere.headers.get("allow") ?? "", /GET/, "Flask's own Allow, not the orchestrator's");
    assert.doesNotMatch(elsewhere.headers.get("allow") ?? "", /PROPFIND/);
  });

  it("/docs and /openapi.json are the app's paths (here its 404), not an empty document of the server's", async () => {
    for (const path of ["/docs", "/openapi.json"]) {
      const r = await request(`${url}${path}`);
      assert.equal(r.status, 404, `${path}: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /<title>404 Not Found<\/title>/, "Flask's own 404");
    }
    assert.doesNotMatch(server.stdout(), /\/openapi\.json, \/docs/, "nor named in the warning about built-ins on the public port");
  });

  it("a multipart upload reaches request.files whole", async () => {
    const data = randomBytes(300_000);
    const form = new FormData();
    form.append("note", "héllo");
    form.append("file", new Blob([data]), "photo.bin");
    const r = await request(`${url}/upload`, { method: "POST", body: form });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { filename: "photo.bin", size: data.length, sha256: createHash("sha256").update(data).digest("hex"), note: "héllo" });
  });

  it("cookies: several Set-Cookie headers out, the Cookie header in", async () => {
    const set = await request(`${url}/cookies/set`);
    assert.equal(set.status, 200);
    const cookies = set.headers.getSetCookie();
    assert.equal(cookies.length, 2, JSON.stringify(cookies));
    assert.match(cookies[0]!, /^session=abc123; HttpOnly; Path=\//);
    assert.match(cookies[1]!, /^theme=dark; Path=\//);
    const back = await request(`${url}/cookies`, { headers: { cookie: "session=abc123; theme=dark" } });
    assert.deepEqual(back.json, { session: "abc123", theme: "dark" });
  });

  it("a generator is streamed: chunked, every line", async () => {
    const res = await open(`${url}/stream?n=4`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["transfer-encoding"], "chunked");
    let text = "";
    for await (const chunk of res) text += String(chunk);
    assert.equal(text, "line 0\nline 1\nline 2\nline 3\n");
  });

  it("a client leaving a stream: the worker stops iterating and the generator is closed", async () => {
    const before = (await request(`${url}/stream/closed`)).json.streams as number;
    const res = await open(`${url}/stream/forever`);
    await new Promise<void>((resolve) => res.once("data", () => resolve()));
    res.destroy();
    await waitFor(async () => (await request(`${url}/stream/closed`)).json.streams === before + 1, 10_000, "the generator's finally block");
  });

  it("the environ: SCRIPT_NAME, PATH_INFO, SERVER_NAME/PORT, REMOTE_ADDR, X-Request-Id", async () => {
    const r = await request(`${url}/environ?x=1`, { headers: { "x-request-id": "wsgi-environ-1" } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      SCRIPT_NAME: "", PATH_INFO: "/environ", QUERY_STRING: "x=1", SERVER_NAME: "127.0.0.1",
      SERVER_PORT: String(server.port), REMOTE_ADDR: "127.0.0.1", "wsgi.url_scheme": "http",
      request_id: "wsgi-environ-1", url_for: "/users/1",
    });
  });

  it("an exception in a view is Flask's own 500; its text never reaches the client", async () => {
    const r = await request(`${url}/boom`);
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.text, /secret internals/);
  });

  it("--timeout: 504, the worker is killed and replaced, and the next request is served", async () => {
    const pid = (await request(`${url}/pid`)).json.pid as number;
    const slow = await request(`${url}/sleep?seconds=30`);
    assert.equal(slow.status, 504, slow.text);
    let next = 0;
    await waitFor(async () => {
      const r = await request(`${url}/pid`);
      next = r.status === 200 ? (r.json.pid as number) : 0;
      return next !== 0;
    }, 20_000, "a replacement worker");
    assert.notEqual(next, pid, "a sync worker cannot be interrupted: it is replaced");
  });

  it("metrics label requests by Flask's url_map, never by raw paths", async () => {
    for (const id of [1, 2, 3]) await request(`${url}/users/${id}`);
    const counts = await requestCounts(url);
    assert.ok((counts.get("/users/{user_id} GET 200") ?? 0) >= 3, JSON.stringify([...counts]));
    for (const key of counts.keys()) assert.doesNotMatch(key, /\/users\/\d/, `a raw path as a label: ${key}`);
  });
});

describe("WSGI workers are queued, recycled and reloaded like any other", () => {
  before(ensureTestPython);

  it("the only worker busy and no queue: 503 with Retry-After, and the busy request completes", async () => {
    const server = await startServer(FLASK, ["--workers", "1", "--python", testPython, "--max-queue", "0", "--no-prefetch"]);
    const dir = mkdtempSync(join(tmpdir(), "neutrino-gate-"));
    const gate = join(dir, "open");
    try {
      const held = request(`${server.url}/gate?path=${encodeURIComponent(gate)}`);
      await waitFor(async () => /^neutrino_workers\{state="busy"\} 1$/m.test((await request(`${server.url}/metrics`)).text), 10_000, "a busy worker");
      const rejected = await request(`${server.url}/pid`);
      assert.equal(rejected.status, 503, rejected.text);
      assert.ok(rejected.headers.get("retry-after"));
      writeFileSync(gate, "");
      assert.deepEqual((await held).json, { opened: true });
      assert.equal((await request(`${server.url}/pid`)).status, 200);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--max-requests replaces the worker; SIGHUP rolls it; no request fails", async () => {
    const server = await startServer(FLASK, ["--workers", "1", "--python", testPython, "--max-requests", "3"]);
    try {
      // The replacement takes over once it is ready; until then the old worker serves on.
      const pids = new Set<number>();
      await waitFor(async () => {
        const r = await request(`${server.url}/pid`);
        assert.equal(r.status, 200, r.text);
        pids.add(r.json.pid as number);
        return pids.size >= 2;
      }, 20_000, "a recycled worker");
      const before = (await request(`${server.url}/pid`)).json.pid as number;
      server.proc.kill("SIGHUP");
      await waitFor(async () => {
        const r = await request(`${server.url}/pid`);
        assert.equal(r.status, 200, r.text);
        return r.json.pid !== before;
      }, 20_000, "a new worker after SIGHUP");
    } finally {
      await server.stop();
    }
  });
});

it("--root-path: SCRIPT_NAME, and the URLs Flask builds carry it", async () => {
  ensureTestPython();
  const server = await startServer(FLASK, ["--workers", "1", "--python", testPython, "--root-path", "/api"]);
  try {
    const r = await request(`${server.url}/environ`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.SCRIPT_NAME, "/api");
    assert.equal(r.json.PATH_INFO, "/environ");
    assert.equal(r.json.url_for, "/api/users/1");
  } finally {
    await server.stop();
  }
});

describe("a Django project's WSGI handler", () => {
  let server: RunningServer;
  before(async () => {
    ensureTestPython();
    server = await startServer(DJANGO, ["--workers", "1", "--python", testPython]);
  });
  after(async () => {
    await server.stop();
  });

  it("serves its views: a path converter, an include, a body, a streamed response", async () => {
    const r = await request(`${server.url}/articles/1999/`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { year: 1999, interface: "wsgi" });
    const echo = await request(`${server.url}/api/echo/`, { method: "POST", body: "payload" });
    assert.deepEqual(echo.json, { method: "POST", body: "payload", script_name: "", path: "/api/echo/" });
    const numbers = await request(`${server.url}/api/numbers/`);
    assert.equal(numbers.text, "0\n1\n2\n");
    assert.equal((await request(`${server.url}/missing/`)).status, 404);
  });

  it("labels come from Django's URL resolver", async () => {
    await request(`${server.url}/articles/2001/`);
    const counts = await requestCounts(server.url);
    assert.ok((counts.get("/articles/{year}/ GET 200") ?? 0) >= 1, JSON.stringify([...counts]));
    assert.ok((counts.get("/api/echo/ POST 200") ?? 0) >= 1, JSON.stringify([...counts]));
    assert.ok((counts.get("/api/numbers/ GET 200") ?? 0) >= 1, JSON.stringify([...counts]));
  });
});
