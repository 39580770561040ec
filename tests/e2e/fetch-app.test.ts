/**
 * Fetch apps (Hono, a plain `(request) => Response` function) served unchanged through the real
 * CLI: web Request and Response both ways, the app's own 404 and errors, streamed bodies (SSE,
 * backpressure, a failure midway, a client that leaves), the request's signal aborted when the
 * client goes or time runs out, X-Request-Id, metrics and the access log labelled by the app's
 * route templates (never raw paths), the built-in endpoints, recycling, SIGHUP and --interface.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { get } from "node:http";
import { after, before, describe, it } from "node:test";
import { exchange } from "../support/raw-http.js";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";
import { openStream } from "../support/stream-client.js";
import { waitFor } from "../support/wait.js";

const HONO = "tests/fixtures/hono_app.ts:default";
const FUNCTION = "tests/fixtures/fetch_function.ts:default";

function accessRecords(server: RunningServer, path: string): Record<string, unknown>[] {
  return server.logs().filter((r) => r.log === "access" && r.path === path);
}

describe("a Hono app served unchanged (fetch app)", () => {
  let server: RunningServer;
  let url: string;
  before(async () => {
    server = await startServer(HONO, ["--workers", "1", "--status-page", "--access-log"]);
    url = server.url;
  });
  after(async () => {
    await server.stop();
  });

  it("a route with a parameter; X-Request-Id reaches the app and comes back", async () => {
    const r = await request(`${url}/users/42`, { headers: { "x-request-id": "fetch-app-42" } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { id: "42", requestId: "fetch-app-42" });
    assert.equal(r.headers.get("x-request-id"), "fetch-app-42");
    // Without one, the app sees the id the orchestrator made, the one the client gets.
    const made = await request(`${url}/users/7`);
    assert.equal(made.json.requestId, made.headers.get("x-request-id"));
    assert.ok(made.json.requestId);
  });

  it("a JSON POST, answered by the app with its own status and validation", async () => {
    const created = await request(`${url}/items`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "pen" }) });
    assert.equal(created.status, 201, created.text);
    assert.match(created.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(created.json, { created: { name: "pen" } });
    const refused = await request(`${url}/items`, { method: "POST", body: JSON.stringify({ name: 3 }) });
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.json, { message: "name must be a string" });
  });

  it("the app's own 404, 405 and error handler stand", async () => {
    const missing = await request(`${url}/no/such/page`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { message: "the app has no /no/such/page" });
    // A path of a known template with a method the app does not route: still the app's answer.
    const wrongMethod = await request(`${url}/users/1`, { method: "DELETE" });
    assert.equal(wrongMethod.status, 404);
    assert.deepEqual(wrongMethod.json, { message: "the app has no /users/1" });
    const broken = await request(`${url}/boom`);
    assert.equal(broken.status, 500);
    assert.deepEqual(broken.json, { message: "the app caught: the handler broke" });
  });

  it("a method beyond the usual seven reaches the app as sent; TRACE, which no Request can carry, is a 501", async () => {
    const purged = await request(`${url}/cache/k1`, { method: "PURGE" });
    assert.equal(purged.status, 200, purged.text);
    assert.deepEqual(purged.json, { purged: "k1", method: "PURGE" });
    const elsewhere = await request(`${url}/users/1`, { method: "PURGE" });
    assert.equal(elsewhere.status, 404, "the app's own answer");
    assert.deepEqual(elsewhere.json, { message: "the app has no /users/1" });
    const [trace] = await exchange(server.port, `TRACE /users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(trace!.status, 501, trace!.body);
    assert.match(trace!.body, /a fetch handler cannot be given a TRACE request/);
    assert.equal((await request(`${url}/users/2`)).status, 200, "the worker serves on");
  });

  it("the Request the app gets: method, scheme, Host, path and query; HEAD answered without a body", async () => {
    const r = await request(`${url}/request?x=1&y=%20`, { headers: { "user-agent": "fetch-app-test", "x-forwarded-for": "203.0.113.7" } });
    assert.deepEqual(r.json, {
      method: "GET",
      scheme: "http:",
      host: `127.0.0.1:${server.port}`,
      path: "/request",
      query: "?x=1&y=%20",
      agent: "fetch-app-test",
      forwardedFor: "203.0.113.7",
    });
    // Behind a trusted proxy (127.0.0.1 by default) the URL is the one the client used.
    const proxied = await request(`${url}/request`, { headers: { "x-forwarded-proto": "https", "x-forwarded-host": "app.example" } });
    assert.equal(proxied.json.scheme, "https:");
    assert.equal(proxied.json.host, "app.example");
    const head = await request(`${url}/users/1`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    // Hono drops a HEAD's body and knows no length: none is sent, not a false 0.
    assert.equal(head.headers.get("content-length"), null);
  });

  it("several Set-Cookie headers stay apart", async () => {
    const r = await request(`${url}/cookies`);
    assert.equal(r.text, "two cookies");
    assert.deepEqual(r.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
  });

  it("the request body reaches the app whole, read as a stream", async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const r = await request(`${url}/digest`, { method: "POST", body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { bytes: body.length, sha256: createHash("sha256").update(body).digest("hex") });
  });

  it("a streamed body (streamText) reaches the client as it is written", async () => {
    const s = await openStream(`${url}/stream`);
    assert.equal(s.status, 200);
    assert.equal(s.headers["transfer-encoding"], "chunked");
    // The handler waits for the release after its first write: the first line is here before the end.
    assert.equal(await s.waitForBody((text) => text.includes("\n"), "the first line"), "first\n");
    assert.equal(s.ended, false);
    assert.deepEqual((await request(`${url}/release`, { method: "POST" })).json, { released: true });
    assert.equal(await s.rest(), "first\nsecond\n");
    assert.equal(s.complete, true);
  });

  it("Server-Sent Events (streamSSE): the first event arrives before the stream ends", async () => {
    const s = await openStream(`${url}/events`);
    assert.equal(s.status, 200);
    assert.match(String(s.headers["content-type"]), /^text\/event-stream/);
    assert.equal(await s.waitForBody((text) => text.includes("\n\n"), "the first event"), "event: first\ndata: one\n\n");
    assert.equal(s.ended, false);
    await request(`${url}/release`, { method: "POST" });
    assert.equal(await s.rest(), "event: first\ndata: one\n\ndata: two\nid: 2\n\n");
    assert.equal(s.complete, true);
  });

  it("a body from c.body(ReadableStream), bigger than one chunk, arrives whole", async () => {
    const s = await openStream(`${url}/chunks?n=40&size=65536`);
    assert.equal(s.status, 200);
    assert.equal(s.headers["content-type"], "application/octet-stream", "Hono's own type for c.body(stream)");
    const body = await s.rest();
    assert.equal(s.complete, true);
    assert.equal(body, "x".repeat(40 * 65536));
  });

  it("a body whose stream fails midway is cut short, and the worker serves on", async () => {
    const s = await openStream(`${url}/fail-midway`);
    assert.equal(await s.waitForBody((text) => text.length > 0, "the first piece"), "partial\n");
    await request(`${url}/release`, { method: "POST" });
    assert.equal(await s.rest(), "partial\n");
    assert.equal(s.complete, false, "the client must not take a cut-short body for the whole one");
    await waitFor(() => /the body broke/.test(server.stderr() + server.stdout()), 10_000, "the error in the log");
    // Named as the access log names the request: its path and its id, not "streamed response".
    assert.match(server.stderr(), /the streamed response of GET \/fail-midway \(request [\w-]+\) failed\n/);
    assert.equal((await request(`${url}/users/4`)).json.id, "4");
  });

  it("a client that reads nothing holds the app's stream back: backpressure, not buffering", async () => {
    const ended = async (): Promise<Record<string, number>> => (await request(`${url}/ended`)).json;
    const { streamsAborted, foreverWritten: before } = await ended();
    const s = await openStream(`${url}/forever`, {}, false);
    s.res.pause();
    // The app writes until the window and the socket buffers are full, then waits: its count of
    // written chunks stops growing, far short of what a buffering server would take.
    let last = -1;
    let same = 0;
    await waitFor(
      async () => {
        const now = (await ended()).foreverWritten!;
        same = now === last ? same + 1 : 0;
        last = now;
        return same >= 20;
      },
      30_000,
      () => `the app to stop writing (at chunk ${last})`,
    );
    const written = (await ended()).foreverWritten! - before!;
    assert.ok(written * 16 * 1024 < 32 * 1024 * 1024, `the app wrote ${written} chunks of 16 KiB to a client that read none`);
    s.hangUp();
    await waitFor(async () => (await ended()).streamsAborted === streamsAborted! + 1, 10_000, "the app's onAbort");
  });

  it("a client that leaves mid-stream stops the app's stream (its onAbort runs), logged as 499; the worker serves on", async () => {
    const before = (await request(`${url}/ended`)).json.streamsAborted as number;
    const s = await openStream(`${url}/forever`);
    await s.waitForBody((text) => text.length > 0, "the first bytes");
    s.hangUp();
    await waitFor(async () => (await request(`${url}/ended`)).json.streamsAborted === before + 1, 10_000, "the app's onAbort");
    assert.equal((await request(`${url}/users/3`)).json.id, "3");
    await waitFor(() => accessRecords(server, "/forever").length > 0, 10_000, "the access log line");
    assert.equal(accessRecords(server, "/forever")[0]!.status, 499);
  });

  it("a client whose connection breaks before the answer aborts the app's request.signal, logged as 499", async () => {
    const { signalsAborted: before, hangsStarted } = (await request(`${url}/ended`)).json as Record<string, number>;
    const req = get(`${url}/hang`);
    req.on("error", () => {});
    await waitFor(async () => (await request(`${url}/ended`)).json.hangsStarted === hangsStarted! + 1, 10_000, "the app holding the request");
    // A reset, as from a client that crashed or lost its network: a plain FIN could be a client
    // that half-closed after sending its request and still waits for the answer.
    req.socket!.resetAndDestroy();
    await waitFor(async () => (await request(`${url}/ended`)).json.signalsAborted === before! + 1, 10_000, "the aborted signal");
    await waitFor(() => accessRecords(server, "/hang").length > 0, 10_000, "the access log line");
    assert.equal(accessRecords(server, "/hang")[0]!.status, 499);
  });

  it("metrics and the access log label requests by the app's route template, never the raw path", async () => {
    for (const path of ["/users/100", "/users/101", "/users/102", "/no/such/page/9"]) await request(`${url}${path}`);
    const metrics = (await request(`${url}/metrics`)).text;
    assert.match(metrics, /neutrino_requests_total\{[^}]*route="\/users\/\{id\}"[^}]*\}/);
    assert.match(metrics, /neutrino_requests_total\{[^}]*route="\/\*"[^}]*\}/);
    assert.doesNotMatch(metrics, /route="\/users\/10\d"/);
    assert.doesNotMatch(metrics, /route="\/no\/such/);
    await waitFor(() => server.logs().some((r) => r.path === "/no/such/page/9"), 10_000, "the access log line");
    const routeOf = (path: string): unknown => server.logs().find((r) => r.path === path)?.route;
    assert.equal(routeOf("/users/101"), "/users/{id}");
    assert.equal(routeOf("/no/such/page/9"), "/*");
  });

  it("the orchestrator's own endpoints answer before the app's catch-all", async () => {
    assert.deepEqual((await request(`${url}/health`)).json, { status: "ok" });
    assert.deepEqual((await request(`${url}/ready`)).json, { status: "ready" });
    assert.match((await request(`${url}/metrics`)).text, /^# HELP /);
    const status = await request(`${url}/_neutrino/status.json`);
    assert.equal(status.status, 200, status.text);
    assert.ok(Array.isArray(status.json.workers), status.text);
  });

  it("`neutrino routes` lists the templates Hono knows, then the catch-all", async () => {
    const run = runCli(["routes", HONO]);
    assert.equal(await run.exited, 0, run.err());
    const paths = run
      .out()
      .split("\n")
      .map((line) => line.trim().split(/\s+/).pop())
      .filter((p): p is string => typeof p === "string" && p.startsWith("/"));
    assert.ok(paths.includes("/users/{id}"), run.out());
    assert.ok(paths.includes("/items"), run.out());
    assert.equal(paths.at(-1), "/*", run.out());
    assert.match(run.out(), /^ANY +\/users\/\{id\}$/m, "every method goes to the app");
  });
});

describe("--timeout with a fetch app: 504, and the request's signal is aborted", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(HONO, ["--workers", "1", "--timeout", "1"]);
  });
  after(async () => {
    await server.stop();
  });

  it("a request past --timeout gets 504; the app sees its signal aborted; the worker serves on", async () => {
    const r = await request(`${server.url}/hang`);
    assert.equal(r.status, 504, r.text);
    await waitFor(async () => (await request(`${server.url}/ended`)).json.signalsAborted === 1, 10_000, "the aborted signal");
    assert.equal((await request(`${server.url}/users/5`)).json.id, "5");
  });
});

describe("a fetch app's workers recycled and reloaded, its answers compressed", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(HONO, ["--workers", "1", "--max-requests", "3", "--compress"]);
  });
  after(async () => {
    await server.stop();
  });

  const pid = async (): Promise<number> => {
    const r = await request(`${server.url}/pid`);
    assert.equal(r.status, 200, r.text);
    return r.json.pid as number;
  };

  it("--max-requests replaces the worker, SIGHUP too, and no request fails meanwhile", async () => {
    // Every poll is a request that must succeed; the replacement takes over once it is ready.
    const first = await pid();
    await waitFor(async () => (await pid()) !== first, 20_000, "a new worker after 3 requests");
    const beforeReload = await pid();
    server.proc.kill("SIGHUP");
    await waitFor(async () => (await pid()) !== beforeReload, 20_000, "a new worker after SIGHUP");
  });

  it("a buffered JSON answer is compressed", async () => {
    const r = await request(`${server.url}/large`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-encoding"), "gzip");
    assert.equal(r.json.items.length, 500);
  });
});

describe("a plain function (request) => Response", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(FUNCTION, ["--workers", "1"]);
  });
  after(async () => {
    await server.stop();
  });

  it("gets every path and method, with its body, and answers with its own Response", async () => {
    const r = await request(`${server.url}/any/where?q=1`, { method: "PUT", body: "payload" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("content-type"), "text/plain;charset=UTF-8");
    assert.equal(r.text, "PUT /any/where?q=1 payload");
    const bytes = await request(`${server.url}/bytes`);
    assert.equal(bytes.headers.get("content-type"), null, "a body of no stated type goes without one, not as JSON");
    assert.deepEqual([...Buffer.from(bytes.text, "latin1")], [1, 2, 3]);
  });

  it("a handler that throws is a 500 with the usual error body, its text only in the log; one returning no Response too", async () => {
    const thrown = await request(`${server.url}/throw`);
    assert.equal(thrown.status, 500);
    const id = thrown.headers.get("x-request-id");
    // As a neutrino handler's: the error's text may hold a secret, so the client gets the id.
    assert.deepEqual(thrown.json, { error: "Internal Server Error", detail: "the app failed; the server log has the details", request_id: id });
    assert.doesNotMatch(thrown.text, /not today|TypeError/);
    await waitFor(() => server.stderr().includes(`failed on GET /throw (request ${id})`), 10_000, "the failure logged with the request id");
    assert.match(server.stderr(), /TypeError: not today/);
    const nothing = await request(`${server.url}/nothing`);
    assert.equal(nothing.status, 500);
    assert.equal(nothing.json.detail, "the fetch handler returned a string, not a Response");
  });
});

describe("examples/hono.ts", () => {
  it("answers as examples/myapp.ts does, and streams its events", async () => {
    const server = await startServer("examples/hono.ts:default", ["--workers", "1"]);
    try {
      assert.deepEqual((await request(`${server.url}/add?x=2&y=3`)).json, { result: 5 });
      const processed = await request(`${server.url}/process`, { method: "POST", body: JSON.stringify({ data: { hello: "world" } }) });
      assert.deepEqual(processed.json, { processed: { hello: "world" } });
      const ticks = await openStream(`${server.url}/ticks`);
      assert.equal(await ticks.rest(), "data: 1\nid: 1\n\ndata: 2\nid: 2\n\ndata: 3\nid: 3\n\n");
    } finally {
      await server.stop();
    }
  });
});

describe("which exports are fetch apps, and --interface", { concurrency: true }, () => {
  const refusals: { name: string; args: string[]; message: RegExp }[] = [
    {
      name: "a function that takes no request is refused, naming both kinds of app",
      args: ["tests/fixtures/fetch_function.ts:noRequest"],
      message: /"tests\/fixtures\/fetch_function\.ts:noRequest" is a function, not a neutrino App nor a fetch app/,
    },
    {
      name: "--interface neutrino refuses a Hono app",
      args: [HONO, "--interface", "neutrino"],
      message: /is a Hono, not a neutrino App/,
    },
    {
      name: "--interface fetch refuses a neutrino App",
      args: ["tests/fixtures/tsapp.ts:app", "--interface", "fetch"],
      message: /is an App, not a fetch app/,
    },
    {
      name: "--interface asgi is not for a Node app",
      args: [HONO, "--interface", "asgi"],
      message: /--interface asgi is not for a Node app/,
    },
  ];
  for (const c of refusals) {
    it(c.name, async () => {
      const run = runCli(["serve", ...c.args, "--port", "0", "--workers", "1"]);
      assert.notEqual(await run.exited, 0);
      assert.match(run.err(), c.message);
    });
  }

  it("an object with a fetch method, in plain JavaScript, is called as a method", async () => {
    const server = await startServer("tests/fixtures/fetch_object.mjs:default", ["--workers", "1"]);
    try {
      const r = await request(`${server.url}/somewhere`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { message: "hello from /somewhere", client: "127.0.0.1" });
    } finally {
      await server.stop();
    }
  });

  it("--interface fetch serves any function as a fetch app", async () => {
    const server = await startServer("tests/fixtures/fetch_function.ts:noRequest", ["--workers", "1", "--interface", "fetch"]);
    try {
      const r = await request(`${server.url}/whatever`);
      assert.equal(r.status, 200);
      assert.equal(r.text, "no request needed");
    } finally {
      await server.stop();
    }
  });
});
