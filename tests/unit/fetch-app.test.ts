/**
 * The fetch-app runner of the Node worker: route templates from Hono's paths, the web Request it
 * builds, and how it sends the Response (one TaskResult when the body is complete at once, else
 * a stream that cancels the app's body when the task is cancelled).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { FetchApp, routeTemplates } from "../../src/node-worker/fetch-app.js";
import type { TaskAssignment } from "../../src/protocol/messages.js";
import { captureStderr } from "../support/stderr.js";

function task(path: string, init: Partial<TaskAssignment> = {}): TaskAssignment {
  return {
    type: "TaskAssignment",
    taskId: 1,
    method: "GET",
    route: "/*",
    path,
    query: "",
    params: [],
    headers: [["host", "example.test:8000"]],
    requestId: "req-1",
    clientHost: "10.0.0.9",
    clientPort: 4567,
    body: Buffer.alloc(0),
    ...init,
  };
}

async function collect(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe("routeTemplates: Hono paths as the orchestrator's templates", () => {
  it("parameters, regex parameters, a final wildcard; the catch-all last", () => {
    assert.deepEqual(routeTemplates(["/*", "/users/:id", "/posts/:id{[0-9]+}", "/static/*", "/"]), [
      "/users/{id}",
      "/posts/{id}",
      "/static/*",
      "/",
      "/*",
    ]);
  });

  it("an optional last parameter gives both templates", () => {
    assert.deepEqual(routeTemplates(["/opt/:a?", "/:lang?"]), ["/opt", "/opt/{a}", "/", "/{lang}", "/*"]);
  });

  it("templates of one shape are one route (the router cannot hold both)", () => {
    assert.deepEqual(routeTemplates(["/u/:id", "/u/:name", "/u/:id/posts", "/u/:name/posts", "*"]), ["/u/{id}", "/u/{id}/posts", "/*"]);
  });

  it("what the router cannot express is left to the catch-all", () => {
    assert.deepEqual(routeTemplates(["/a/*/b", "/x/:id-:n", "/o/:a?/b", "/r/:p{.+/.+}", "relative", "/ok(1)"]), ["/*"]);
  });
});

describe("FetchApp", () => {
  const stderr = captureStderr();
  it("finds an object with fetch (with Hono's routes) or a function of the request; nothing else", () => {
    const app = new Hono().get("/users/:id", (c) => c.text("x"));
    assert.deepEqual(
      FetchApp.from(app)?.routes.map((r) => r.path),
      ["/users/{id}", "/*"],
    );
    assert.deepEqual(FetchApp.from((request: Request) => new Response(request.url))?.routes.map((r) => r.path), ["/*"]);
    assert.equal(FetchApp.from(() => new Response("")), null);
    assert.ok(FetchApp.from(() => new Response(""), true), "--interface fetch takes any function");
    assert.equal(FetchApp.from(class Handler {}), null);
    assert.equal(FetchApp.from({ routes: [] }), null);
    assert.equal(FetchApp.from(42), null);
    for (const route of FetchApp.from(app)!.routes) {
      assert.equal(route.headers, true);
      assert.deepEqual(route.methods, ["*"], "every method reaches the app, which answers its own 405");
    }
  });

  it("builds the Request: URL from Host, path and query; headers; the request id; the client as Deno's remoteAddr", async () => {
    let seen: { url: string; method: string; headers: [string, string][]; body: string; info: unknown } | undefined;
    const app = FetchApp.from(async (request: Request, info: unknown) => {
      seen = { url: request.url, method: request.method, headers: [...request.headers], body: await request.text(), info };
      return new Response(null, { status: 204 });
    })!;
    const outcome = await app.run(
      task("/a%20b/c", { method: "POST", query: "q=1", headers: [["host", "example.test:8000"], ["x-request-id", "client-id"], ["x-b", "1"]], body: Buffer.from("hi") }),
      { signal: new AbortController().signal },
    );
    assert.equal(outcome.status, 204);
    assert.deepEqual(seen, {
      url: "http://example.test:8000/a%20b/c?q=1",
      method: "POST",
      headers: [
        ["host", "example.test:8000"],
        ["x-b", "1"],
        ["x-request-id", "req-1"],
      ],
      body: "hi",
      info: { remoteAddr: { transport: "tcp", hostname: "10.0.0.9", port: 4567 } },
    });
  });

  it("a Host that is not a host and port gives a localhost URL; a GET's stray body is dropped", async () => {
    const app = FetchApp.from((request: Request) => new Response(request.url))!;
    const urlFor = async (host: string): Promise<string> =>
      String((await app.run(task("/p", { headers: [["host", host]], body: Buffer.from("stray") }), { signal: new AbortController().signal })).body);
    assert.equal(await urlFor("a b"), "http://localhost/p");
    assert.equal(await urlFor("evil.test/x?"), "http://localhost/p", "a Host cannot change the path");
    assert.equal(await urlFor("[::1]:8000"), "http://[::1]:8000/p");
    assert.equal(await urlFor("127.0.0.1"), "http://127.0.0.1/p");
  });

  it("a streamed request body (a streamBody route) is the Request's body; the signal is the task's", async () => {
    const parts = ["up", "load"];
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => (parts.length ? controller.enqueue(new TextEncoder().encode(parts.shift())) : controller.close()),
    });
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    const app = FetchApp.from(async (request: Request) => {
      signal = request.signal;
      return new Response(`${request.method} ${await request.text()}`);
    })!;
    const outcome = await app.run(task("/u", { method: "PUT" }), { signal: controller.signal, body });
    assert.equal(String(outcome.body), "PUT upload");
    assert.equal(signal?.aborted, false);
    controller.abort();
    assert.equal(signal?.aborted, true);
  });

  it("a body complete at once is one buffered result, with the app's headers", async () => {
    const app = FetchApp.from(new Hono().get("/j", (c) => c.json({ a: 1 })))!;
    const outcome = await app.run(task("/j"), { signal: new AbortController().signal });
    assert.ok(Buffer.isBuffer(outcome.body));
    assert.equal(String(outcome.body), '{"a":1}');
    assert.deepEqual(outcome.headers, [["content-type", "application/json"]]);
  });

  it("a body still being written streams, starting with what was read", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const app = FetchApp.from(
      new Hono().get("/s", (c) =>
        stream(c, async (s) => {
          await s.write("one,");
          await gate;
          await s.write("two");
        }),
      ),
    )!;
    const outcome = await app.run(task("/s"), { signal: new AbortController().signal });
    assert.ok(!Buffer.isBuffer(outcome.body), "streamed");
    release();
    assert.equal(String(await collect(outcome.body)), "one,two");
  });

  it("a body over the buffered limit streams", async () => {
    const big = new Uint8Array(3 * 1024 * 1024).fill(1);
    const outcome = await FetchApp.from(() => new Response(big), true)!.run(task("/"), { signal: new AbortController().signal });
    assert.ok(!Buffer.isBuffer(outcome.body));
    assert.equal((await collect(outcome.body)).length, big.length);
  });

  it("cancelling the task cancels the app's stream, even before anyone reads it", async () => {
    let aborted = false;
    const app = FetchApp.from(
      new Hono().get("/f", (c) =>
        stream(c, async (s) => {
          s.onAbort(() => void (aborted = true));
          while (!s.aborted) await s.write("x");
        }),
      ),
    )!;
    const controller = new AbortController();
    const outcome = await app.run(task("/f"), { signal: controller.signal });
    assert.ok(!Buffer.isBuffer(outcome.body));
    controller.abort();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(aborted, true);
  });

  it("the iterator's return() cancels the app's stream", async () => {
    let cancelled = false;
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => void controller.enqueue(new Uint8Array([pulls++])),
      cancel: () => void (cancelled = true),
    }, { highWaterMark: 0 });
    const outcome = await FetchApp.from(() => new Response(body), true)!.run(task("/"), { signal: new AbortController().signal });
    const iterator = (outcome.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.();
    assert.equal(cancelled, true);
  });

  it("a throwing handler, a non-Response and Response.error() are 500s with the handler-failed flag", async () => {
    const signal = new AbortController().signal;
    const thrown = await FetchApp.from(() => {
      throw new RangeError("nope");
    }, true)!.run(task("/"), { signal });
    assert.equal(thrown.status, 500);
    assert.equal(thrown.flags, 1);
    assert.equal(JSON.parse(String(thrown.body)).detail, "the app failed; the server log has the details", "the error's text stays in the log");
    const notResponse = await FetchApp.from(() => ({ status: "ok" }), true)!.run(task("/"), { signal });
    assert.equal(JSON.parse(String(notResponse.body)).detail, "the fetch handler returned an object, not a Response");
    const networkError = await FetchApp.from(() => Response.error(), true)!.run(task("/"), { signal });
    assert.equal(networkError.status, 500);
    assert.match(stderr(), /app \(its fetch handler\) failed on GET \/ .*\nRangeError: nope/);
    const nodeStreamBody = await FetchApp.from(() => ({ status: 200, headers: new Headers(), body: { pipe() {} } }), true)!.run(task("/"), { signal });
    assert.equal(JSON.parse(String(nodeStreamBody.body)).detail, "the fetch handler returned an object, not a Response");
  });

  it("a body that is not bytes is a 500 when found before the head, an error of the stream after", async () => {
    const signal = new AbortController().signal;
    const strings = (n: number): ReadableStream => {
      let i = 0;
      return new ReadableStream({ pull: (c) => void (i++ < n ? c.enqueue(new Uint8Array([1])) : c.enqueue("text")) });
    };
    const early = await FetchApp.from(() => new Response(strings(0)), true)!.run(task("/"), { signal });
    assert.equal(early.status, 500);
    assert.deepEqual(JSON.parse(String(early.body)), { error: "Internal Server Error", detail: "the response body failed before it was sent", request_id: "req-1" });
    assert.match(stderr(), /the response body failed on GET \/ \(request req-1\)\nTypeError: the response body gave a string, not a Uint8Array/);
    const late = await FetchApp.from(() => new Response(strings(8)), true)!.run(task("/"), { signal });
    assert.equal(late.status, 200);
    await assert.rejects(collect(late.body), /the response body gave a string, not a Uint8Array/);
  });
});
