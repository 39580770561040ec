/** The TS SDK's streaming pieces: ServerSentEvent, StreamingResponse, middleware, app.inject, app.websocket and Request streams. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { Executor } from "../../src/node-worker/executor.js";
import { App, Request, Response, ServerSentEvent, StreamingResponse, WebSocketDisconnect } from "../../src/sdk/index.js";
import { captureStderr } from "../support/stderr.js";

describe("ServerSentEvent", () => {
  it("writes the fields it has, one data line per line of data, and the blank line that dispatches it", () => {
    assert.equal(String(new ServerSentEvent({ data: "hello" })), "data: hello\n\n");
    assert.equal(
      String(new ServerSentEvent({ data: "a\nb\r\nc", event: "tick", id: 7, retry: 1500, comment: "keep" })),
      ": keep\nevent: tick\nid: 7\nretry: 1500\ndata: a\ndata: b\ndata: c\n\n",
    );
    assert.equal(String(new ServerSentEvent({ data: { n: [1, 2] } })), 'data: {"n":[1,2]}\n\n', "a value other than a string is JSON");
    assert.equal(String(new ServerSentEvent({ comment: "ping" })), ": ping\n\n");
  });

  it("refuses fields that would break the format", () => {
    assert.throws(() => new ServerSentEvent({ data: "x", event: "a\nb" }), /event must be one line/);
    assert.throws(() => new ServerSentEvent({ data: "x", id: "1\r" }), /id must be one line/);
    assert.throws(() => new ServerSentEvent({ data: "x", id: "a\0b" }), /id must not contain NUL/);
    assert.throws(() => new ServerSentEvent({ data: "x", retry: 1.5 }), /retry must be a whole number/);
  });
});

describe("StreamingResponse", () => {
  it("takes an async iterable, an iterable or a ReadableStream; text/plain by default; its own status, headers and type", () => {
    assert.equal(new StreamingResponse(["a"]).headers.get("content-type"), "text/plain; charset=utf-8");
    const r = new StreamingResponse(new ReadableStream(), { status: 202, headers: { "x-a": "1" }, mediaType: "text/event-stream" });
    assert.deepEqual([r.status, r.headers.get("x-a"), r.headers.get("content-type")], [202, "1", "text/event-stream"]);
    assert.ok(Response.isResponse(r) && StreamingResponse.isStreamingResponse(r));
    assert.throws(() => new StreamingResponse("text" as never), /must be an async iterable, an iterable or a ReadableStream/);
    assert.throws(() => new StreamingResponse(42 as never), TypeError);
  });
});

describe("streamed responses through app.inject", () => {
  const printed = captureStderr();
  const seen: string[] = [];
  const app = new App()
    .use(async (_request, next) => {
      const response = await next();
      seen.push(response.constructor.name);
      response.headers.set("x-mw", "1");
      return response;
    })
    .route("/gen", async function* gen() {
      yield "a";
      yield Buffer.from("b");
    })
    .route("/events", () => new StreamingResponse([new ServerSentEvent({ data: "x" }), { y: 1 }], { mediaType: "text/event-stream" }))
    .route("/empty", () => new Response(new ReadableStream(), { status: 204 }))
    .route("/broken", async function* broken() {
      yield 42;
    })
    .route("/array", () => ["not", "streamed"])
    .route("/upload", async (_args, request) => {
      let text = "";
      for await (const chunk of request.body) text += Buffer.from(chunk).toString();
      return { text, json: (() => { try { return request.json(); } catch (err) { return String(err); } })() };
    }, { methods: ["POST"], streamBody: true })
    .websocket("/ws", async () => {});

  it("collects a streamed body whole; middleware sees a StreamingResponse and passes it through", async () => {
    const res = await app.inject({ url: "/gen" });
    assert.deepEqual([res.statusCode, res.body, res.headers["content-type"], res.headers["x-mw"]], [200, "ab", "text/plain; charset=utf-8", "1"]);
    assert.equal(seen.at(-1), "StreamingResponse");
    assert.equal((await app.inject({ url: "/events" })).body, 'data: x\n\ndata: {"y":1}\n\n');
  });

  it("a 204 sends no body even when it is a stream; an array is a JSON value, not a stream", async () => {
    assert.deepEqual([(await app.inject({ url: "/empty" })).statusCode, (await app.inject({ url: "/empty" })).body], [204, ""]);
    assert.deepEqual((await app.inject({ url: "/array" })).json(), ["not", "streamed"]);
  });

  it("a stream that yields what it cannot send rejects the inject with the reason", async () => {
    await assert.rejects(app.inject({ url: "/broken" }), /may yield strings and bytes .* not number/);
  });

  it("a streamBody route reads the injected body as a stream; request.json() says to read the stream", async () => {
    const res = await app.inject({ method: "POST", url: "/upload", body: "hello" });
    assert.equal(res.statusCode, 200);
    const { text, json } = res.json() as { text: string; json: string };
    assert.equal(text, "hello");
    assert.match(json, /TypeError: request\.json\(\): this route streams its body/);
    assert.equal(printed(), "");
  });

  it("a WebSocket route cannot be injected: 426", async () => {
    const res = await app.inject({ url: "/ws" });
    assert.equal(res.statusCode, 426);
    assert.equal(res.headers.upgrade, "websocket");
  });
});

describe("app.websocket", () => {
  it("registers a GET route that reads the request, with its subprotocols", () => {
    const app = new App().websocket("/chat", async () => {}, { subprotocols: ["v2", "v1"] });
    const route = app.getRoute("/chat");
    assert.deepEqual([route.methods, route.readsRequest, route.websocket], [["GET"], true, { subprotocols: ["v2", "v1"] }]);
  });

  it("refuses a bad handler, path, subprotocol or a path already taken", () => {
    const app = new App().route("/taken", () => 1);
    assert.throws(() => app.websocket("/taken", async () => {}), /already registered/);
    assert.throws(() => app.websocket("nope", async () => {}), /must be a string starting with "\/"/);
    assert.throws(() => app.websocket("/x", 1 as never), /handler must be a function/);
    assert.throws(() => app.websocket("/x", async () => {}, { subprotocols: ["a b"] }), /subprotocols must be a list of tokens/);
  });

  it("WebSocketDisconnect carries the code and reason", () => {
    const err = new WebSocketDisconnect(1001, "away");
    assert.deepEqual([err.code, err.reason, err.name, WebSocketDisconnect.isWebSocketDisconnect(err)], [1001, "away", "WebSocketDisconnect", true]);
    assert.deepEqual([new WebSocketDisconnect().code, new WebSocketDisconnect().reason], [1000, ""]);
  });
});

describe("Request streams", () => {
  it("request.stream() gives a buffered body as a one-chunk stream; signal is never aborted without a connection", async () => {
    const request = new Request({ method: "POST", path: "/", body: Buffer.from("abc") });
    const chunks: Uint8Array[] = [];
    for await (const chunk of request.stream()) chunks.push(chunk);
    assert.deepEqual(chunks.map((c) => Buffer.from(c).toString()), ["abc"]);
    assert.equal(request.signal.aborted, false);
  });
});

describe("OpenAPI of a streamBody route", () => {
  it("documents the body as bytes and takes every argument from the query string", () => {
    const app = new App().route("/put/{name}", async () => ({}), {
      methods: ["PUT"],
      streamBody: true,
      schema: z.object({ name: z.string(), part: z.number() }),
    });
    const { openapi } = new Executor(app).routes[0]!;
    assert.deepEqual(openapi!.requestBody, { content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } });
    assert.deepEqual(
      (openapi!.parameters as { name: string; in: string }[]).map((p) => [p.name, p.in]),
      [["name", "path"], ["part", "query"]],
    );
  });
});
