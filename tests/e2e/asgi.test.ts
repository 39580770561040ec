/**
 * ASGI apps served unchanged through the real CLI: a real FastAPI app (pydantic bodies and
 * FastAPI's own 422, a StreamingResponse, a WebSocket, lifespan state) and a Django project's ASGI
 * handler, with the frameworks from .venv-test/ (tests/requirements.txt). Also what the server
 * does around them: labels by route template (never by raw path), X-Request-Id, --timeout
 * cancelling the app's task, the client leaving a stream or leaving before the answer (the app
 * runs on and hears http.disconnect), a failed lifespan startup.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureTestPython, requestCounts, testPython } from "../support/python-apps.js";
import { exchange } from "../support/raw-http.js";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";
import { WsClient, wsUrl } from "../support/ws-client.js";

const FASTAPI = "tests/fixtures/foreign/fastapi_app.py:app";
const DJANGO = "tests/fixtures/foreign/django_site/asgi.py:application";

function open(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, resolve).once("error", reject));
}

describe("a FastAPI app served unchanged (ASGI)", () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    ensureTestPython();
    server = await startServer(FASTAPI, ["--workers", "1", "--python", testPython, "--timeout", "2"]);
    url = server.url;
  });
  after(async () => {
    await server.stop();
  });

  it("path parameters and query strings reach the app's own routing", async () => {
    const r = await request(`${url}/items/42?q=hello`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { item_id: 42, q: "hello" });
  });

  it("a pydantic body is validated by FastAPI, which answers its own 422", async () => {
    const ok = await request(`${url}/items`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "pen", price: 1.5 }) });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { name: "pen", total: 3 });
    const bad = await request(`${url}/items`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "pen" }) });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(bad.json.detail[0].type, "missing");
    assert.deepEqual(bad.json.detail[0].loc, ["body", "price"]);
  });

  it("the app's own 404 and 405 stand", async () => {
    const missing = await request(`${url}/no/such/page`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { detail: "Not Found" });
    const wrongMethod = await request(`${url}/items/1`, { method: "DELETE" });
    assert.equal(wrongMethod.status, 405);
    assert.deepEqual(wrongMethod.json, { detail: "Method Not Allowed" });
  });

  it("FastAPI's own /docs and /openapi.json answer, with no warning that they hide the server's", async () => {
    const doc = await request(`${url}/openapi.json`);
    assert.equal(doc.status, 200);
    assert.ok(doc.json.paths["/items/{item_id}"], "FastAPI's document");
    assert.match((await request(`${url}/docs`)).text, /swagger-ui/i);
    assert.doesNotMatch(server.stdout(), /hides the built-in endpoint/);
  });

  it("a method beyond the usual seven reaches the app as sent; on other routes its 405 stands", async () => {
    const purged = await request(`${url}/cache/k1`, { method: "PURGE" });
    assert.equal(purged.status, 200, purged.text);
    assert.deepEqual(purged.json, { purged: "k1", method: "PURGE" });
    const elsewhere = await request(`${url}/items/1`, { method: "PROPFIND" });
    assert.equal(elsewhere.status, 405, elsewhere.text);
    assert.deepEqual(elsewhere.json, { detail: "Method Not Allowed" }, "FastAPI's own 405, not the orchestrator's");
    const [trace] = await exchange(server.port, `TRACE /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(trace!.status, 405);
    assert.match(trace!.body, /Method Not Allowed/);
  });

  it("an exception in a route: the app's own 500, its text never sent, its traceback logged", async () => {
    const r = await request(`${url}/boom`);
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.text, /secret internals/);
    await waitFor(() => /RuntimeError: secret internals/.test(server.stdout() + server.stderr()), 10_000, "the traceback in the log");
    assert.equal((await request(`${url}/items/1`)).status, 200, "the worker serves on");
  });

  it("lifespan startup state reaches every request", async () => {
    const r = await request(`${url}/state`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.started_by, /^lifespan in \d+$/);
  });

  it("the worker shortens the GIL's switch interval, so the loop waits less for a busy def endpoint's thread", async () => {
    const r = await request(`${url}/pid`);
    assert.equal(r.json.switch_interval, 0.0005, "Python's default is 0.005");
  });

  it("the http scope: decoded path, raw path, query bytes, client, server, X-Request-Id", async () => {
    const r = await request(`${url}/scope/caf%C3%A9%20x/y?a=1&b=%20`, { headers: { "x-request-id": "asgi-scope-1" } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.path, "/scope/café x/y");
    assert.equal(r.json.raw_path, "/scope/caf%C3%A9%20x/y");
    assert.equal(r.json.query, "a=1&b=%20");
    assert.equal(r.json.root_path, "");
    assert.equal(r.json.client[0], "127.0.0.1");
    assert.deepEqual(r.json.server, ["127.0.0.1", server.port]);
    assert.equal(r.json.http_version, "1.1");
    assert.equal(r.json.request_id, "asgi-scope-1");
    assert.equal(r.json.url_for, `http://127.0.0.1:${server.port}/items/1`);
    assert.equal(r.headers.get("x-request-id"), "asgi-scope-1");
    // Without one from the client, the app sees the id the orchestrator made and sends back.
    const made = await request(`${url}/scope/x`);
    assert.equal(made.json.request_id, made.headers.get("x-request-id"));
  });

  it("a StreamingResponse is streamed: chunked, piece by piece", async () => {
    const res = await open(`${url}/stream?n=5`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.match(String(res.headers["content-type"]), /^text\/plain/);
    let text = "";
    for await (const chunk of res) text += String(chunk);
    assert.equal(text, [0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join(""));
  });

  it("a client leaving a stream stops the app's generator", async () => {
    const before = (await request(`${url}/stream/closed`)).json.streams as number;
    const res = await open(`${url}/stream/forever`);
    await new Promise<void>((resolve) => res.once("data", () => resolve()));
    res.destroy();
    await waitFor(async () => (await request(`${url}/stream/closed`)).json.streams === before + 1, 10_000, "the generator's finally block");
  });

  /** Opens `path`, waits until the app runs it, then breaks the connection (RST). */
  async function leaveMidRequest(path: string): Promise<void> {
    const req = get(`${url}${path}`);
    req.on("error", () => {});
    await waitFor(async () => /^neutrino_workers\{state="busy"\} 1$/m.test((await request(`${url}/metrics`)).text), 10_000, "the request in the app");
    req.socket!.resetAndDestroy();
  }

  it("a client that leaves before the answer: the app runs on and hears http.disconnect, as under uvicorn", async () => {
    const before = (await request(`${url}/stream/closed`)).json.noticed as number;
    const logged = server.stdout().length + server.stderr().length;
    await leaveMidRequest("/watch");
    await waitFor(async () => (await request(`${url}/stream/closed`)).json.noticed === before + 1, 10_000, "request.is_disconnected() true in the app");
    await waitFor(async () => /^neutrino_workers\{state="busy"\} 0$/m.test((await request(`${url}/metrics`)).text), 10_000, "the slot freed by the app's end");
    // Its answer to nobody (send() raises an OSError) is no failure of the app's.
    assert.doesNotMatch((server.stdout() + server.stderr()).slice(logged), /Traceback|failed/);
  });

  it("an app that runs on after its client left is cancelled at --timeout, and the worker serves on", async () => {
    const before = (await request(`${url}/stream/closed`)).json.hangs as number;
    await leaveMidRequest("/hang");
    await waitFor(async () => (await request(`${url}/stream/closed`)).json.hangs === before + 1, 10_000, "the handler's finally block");
    // It was still running at its deadline: the log says it was cancelled then.
    assert.match(server.stdout() + server.stderr(), /ran past the timeout after its client left: cancelled/);
    await waitFor(async () => /^neutrino_workers\{state="busy"\} 0$/m.test((await request(`${url}/metrics`)).text), 10_000, "the slot freed");
  });

  it("a WebSocket: accept, messages both ways, the app's close code", async () => {
    const client = await WsClient.open(`${wsUrl(url)}/ws/echo`);
    client.ws.send("hi");
    assert.equal(await client.next(), "echo: hi");
    client.ws.send("close");
    assert.deepEqual(await client.whenClosed(), { code: 4000, reason: "bye" });
  });

  it("a WebSocket's scope has the scheme and host the client used, seen through a trusted proxy (wss)", async () => {
    const direct = await WsClient.open(`${wsUrl(url)}/ws/url`);
    assert.deepEqual(JSON.parse((await direct.next()) as string), { url: `ws://127.0.0.1:${server.port}/ws/url`, scheme: "ws" });
    const proxied = await WsClient.open(`${wsUrl(url)}/ws/url`, [], { headers: { "x-forwarded-proto": "https", "x-forwarded-host": "app.example" } });
    assert.deepEqual(JSON.parse((await proxied.next()) as string), { url: "wss://app.example/ws/url", scheme: "wss" });
  });

  it("a WebSocket to a path the app does not route is refused with 403", async () => {
    const refused = await WsClient.refused(`${wsUrl(url)}/no/such/socket`);
    assert.equal(refused.status, 403);
  });

  it("--timeout: 504, the app's task is cancelled and the same worker serves on", async () => {
    const pid = (await request(`${url}/pid`)).json.pid as number;
    const slow = await request(`${url}/sleep?seconds=30`);
    assert.equal(slow.status, 504, slow.text);
    const after = await request(`${url}/pid`);
    assert.equal(after.status, 200);
    assert.equal(after.json.pid, pid, "an ASGI worker is not replaced: its task is cancelled");
  });

  it("metrics label requests by the app's route templates, never by raw paths", async () => {
    for (const id of [1, 2, 3]) await request(`${url}/items/${id}`);
    for (const page of ["a", "b", "c"]) await request(`${url}/unknown-${page}`);
    // A router included with a prefix, and a {rest:path} parameter that spans segments.
    for (const id of [4, 5]) assert.equal((await request(`${url}/v1/users/${id}`)).json.user_id, id);
    for (const rest of ["a/b", "c/d/e"]) assert.equal((await request(`${url}/scope/${rest}`)).status, 200);
    const counts = await requestCounts(url);
    assert.ok((counts.get("/items/{item_id} GET 200") ?? 0) >= 3, JSON.stringify([...counts]));
    assert.equal(counts.get("/v1/users/{user_id} GET 200"), 2, JSON.stringify([...counts]));
    assert.ok((counts.get("/scope/* GET 200") ?? 0) >= 2, JSON.stringify([...counts]));
    assert.ok((counts.get("/* GET 404") ?? 0) >= 3, JSON.stringify([...counts]));
    for (const key of counts.keys()) assert.doesNotMatch(key, /unknown-|\/items\/\d/, `a raw path as a label: ${key}`);
  });

  it("the server's own endpoints are not hidden by the app's catch-all", async () => {
    const metrics = await request(`${url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^# HELP neutrino_requests_total/m);
    assert.equal((await request(`${url}/ready`)).status, 200);
  });
});

describe("ASGI start-up", () => {
  before(ensureTestPython);

  it("a failing lifespan startup fails start-up with the app's message", async () => {
    const run = runCli(["serve", FASTAPI, "--port", "0", "--workers", "1", "--python", testPython], { env: { FAIL_STARTUP: "1" } });
    const code = await run.exited;
    assert.notEqual(code, 0);
    assert.match(run.out() + run.err(), /the database is unreachable/);
  });

  it("lifespan shutdown runs in every worker when the server stops", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-lifespan-"));
    const log = join(dir, "lifespan.log");
    try {
      const server = await startServer(FASTAPI, ["--workers", "2", "--python", testPython], { env: { LIFESPAN_LOG: log } });
      assert.equal((await request(`${server.url}/state`)).status, 200);
      assert.equal(await server.stop(), 0);
      const lines = readFileSync(log, "utf8").trim().split("\n");
      assert.equal(lines.length, 2, lines.join("|"));
      for (const line of lines) assert.match(line, /^shutdown \d+$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a background task still running when the server stops is finished first, then lifespan shutdown", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-background-"));
    const log = join(dir, "lifespan.log");
    try {
      const server = await startServer(FASTAPI, ["--workers", "1", "--python", testPython], { env: { LIFESPAN_LOG: log } });
      const r = await request(`${server.url}/later?seconds=0.5`);
      assert.deepEqual(r.json, { queued: true });
      assert.equal(await server.stop(), 0);
      const lines = readFileSync(log, "utf8").trim().split("\n");
      assert.equal(lines.length, 2, lines.join("|"));
      assert.match(lines[0]!, /^background \d+$/);
      assert.equal(lines[1], lines[0]!.replace("background", "shutdown"));
      assert.match(server.stdout() + server.stderr(), /waiting for 1 background task\(s\) of the ASGI app to finish/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--root-path: root_path, path starting with it, routing on the rest, URLs carrying it", async () => {
    const server = await startServer(FASTAPI, ["--workers", "1", "--python", testPython, "--root-path", "/api"]);
    try {
      const r = await request(`${server.url}/scope/x`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.root_path, "/api");
      assert.equal(r.json.path, "/api/scope/x");
      assert.equal(r.json.url_for, `http://127.0.0.1:${server.port}/api/items/1`);
      assert.deepEqual((await request(`${server.url}/items/3`)).json, { item_id: 3, q: "" });
    } finally {
      await server.stop();
    }
  });

  it("--interface wsgi refuses an ASGI app, naming what it wanted", async () => {
    const run = runCli(["serve", FASTAPI, "--port", "0", "--workers", "1", "--python", testPython, "--interface", "wsgi"]);
    const code = await run.exited;
    assert.notEqual(code, 0);
    assert.match(run.out() + run.err(), /not a WSGI app/);
  });
});

describe("a Django project's ASGI handler", () => {
  let server: RunningServer;
  before(async () => {
    ensureTestPython();
    server = await startServer(DJANGO, ["--workers", "1", "--python", testPython]);
  });
  after(async () => {
    await server.stop();
  });

  it("serves its views, labelled by the URL resolver's templates", async () => {
    const r = await request(`${server.url}/articles/2024/`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { year: 2024, interface: "asgi" });
    const head = await request(`${server.url}/articles/2024/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(Buffer.byteLength(r.text)), "HEAD keeps the app's length");
    assert.equal((await request(`${server.url}/nope/`)).status, 404);
    const counts = await requestCounts(server.url);
    assert.equal(counts.get("/articles/{year}/ GET 200"), 1, JSON.stringify([...counts]));
  });
});
