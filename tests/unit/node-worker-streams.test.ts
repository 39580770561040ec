/**
 * The Node worker's streams, driven over a real Unix socket as the orchestrator drives them
 * (docs/protocol.md, Streams): streamed responses under the flow-control window, Server-Sent
 * Events, failures and cancellation, streamed request bodies, WebSockets, and the buffered body
 * too large for one frame.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  encodeBodyChunk,
  encodeBodyEnd,
  encodeCancelTask,
  encodeDiscoverRoutes,
  encodeShutdown,
  encodeTaskAssignment,
  encodeWebSocketClose,
  encodeWebSocketMessage,
  encodeWindowUpdate,
} from "../../src/protocol/codec.js";
import { FrameDecoder } from "../../src/protocol/frame-decoder.js";
import { BODY_INCOMPLETE, HANDLER_FAILED, INITIAL_WINDOW, MAX_CHUNK, type Message, type Pair } from "../../src/protocol/messages.js";
import { repoRoot } from "../support/paths.js";

const workerMain = join(repoRoot, "dist", "src", "node-worker", "main.js");
const APP = "tests/fixtures/stream_worker_app.mjs:app";

type TaskMessage = Extract<Message, { taskId: number }>;

/** One worker process and the orchestrator's end of its socket. */
class Worker {
  private readonly messages: Message[] = [];
  private waiting: (() => void) | null = null;
  private closed = false;
  stderr = "";
  readonly exited: Promise<number | string>;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly socket: Socket,
  ) {
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      this.messages.push(...decoder.push(chunk));
      this.waiting?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.waiting?.();
    });
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  }

  static async start(): Promise<Worker> {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-test-"));
    const path = join(dir, "w0.sock");
    const server = createServer();
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const proc = spawn(process.execPath, [workerMain, path, "w0", APP], { cwd: repoRoot, stdio: ["pipe", "ignore", "pipe"] });
    proc.stdin!.end("s3cret\n");
    const socket = await accepted;
    server.close();
    rmSync(dir, { recursive: true, force: true });
    const worker = new Worker(proc, socket);
    assert.equal((await worker.take((m) => m.type === "Hello")).type, "Hello");
    const ready = await worker.take((m) => m.type === "WorkerReady" || m.type === "StartupError");
    assert.equal(ready.type, "WorkerReady", JSON.stringify(ready));
    return worker;
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** Waits until `ready()` holds, re-checking whenever something arrives. */
  async until(ready: () => boolean, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (this.closed) throw new Error(`the worker closed the socket; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      // A wait that never ends would hang the whole suite: fail the test instead.
      if (left <= 0) throw new Error(`still waiting after ${ms} ms; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, left).unref();
      });
    }
  }

  /** The first message (in arrival order) that `match` accepts, removed from the queue. */
  async take<M extends Message>(match: (m: Message) => m is M): Promise<M>;
  async take(match: (m: Message) => boolean): Promise<Message>;
  async take(match: (m: Message) => boolean): Promise<Message> {
    let index = -1;
    await this.until(() => (index = this.messages.findIndex(match)) >= 0);
    return this.messages.splice(index, 1)[0]!;
  }

  /** The next frame of task `taskId`. */
  next(taskId: number): Promise<TaskMessage> {
    return this.take((m): m is TaskMessage => "taskId" in m && m.taskId === taskId);
  }

  /** Whether a frame of task `taskId` is waiting. */
  has(taskId: number, type?: string): boolean {
    return this.messages.some((m) => "taskId" in m && m.taskId === taskId && (type === undefined || m.type === type));
  }

  task(taskId: number, method: string, path: string, options: { query?: string; headers?: Pair[]; body?: string } = {}): void {
    const [route, query = ""] = path.split("?");
    this.send(
      encodeTaskAssignment(taskId, method, route!, route!, options.query ?? query, [], options.headers ?? [], `r${taskId}`, "", 0, Buffer.from(options.body ?? "")),
    );
  }

  /** A buffered answer's status and JSON body. */
  async json(taskId: number, path: string, method = "GET"): Promise<{ status: number; body: any }> {
    this.task(taskId, method, path);
    const result = await this.next(taskId);
    assert.equal(result.type, "TaskResult");
    if (result.type !== "TaskResult") throw new Error("unreachable");
    return { status: result.status, body: JSON.parse(result.body.toString()) };
  }

  /** A whole streamed response: its head, the data of each chunk, and the BodyEnd flags. */
  async stream(taskId: number): Promise<{ status: number; headers: Pair[]; chunks: Buffer[]; flags: number }> {
    const head = await this.next(taskId);
    assert.equal(head.type, "ResponseHead", `expected a ResponseHead, got ${JSON.stringify(head)}`);
    if (head.type !== "ResponseHead") throw new Error("unreachable");
    const chunks: Buffer[] = [];
    for (;;) {
      const m = await this.next(taskId);
      if (m.type === "BodyChunk") chunks.push(m.data);
      else if (m.type === "BodyEnd") return { status: head.status, headers: head.headers, chunks, flags: m.flags };
      else assert.fail(`unexpected ${m.type} in a stream`);
    }
  }

  async stop(): Promise<void> {
    if (!this.closed) this.send(encodeShutdown(false));
    await this.exited;
  }
}

const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString();

describe("Node worker: streams over the socket", () => {
  let worker: Worker;
  let id = 0;
  before(async () => (worker = await Worker.start()));
  after(() => worker.stop());

  it("lists streamBody and WebSocket routes in the RouteRegistry; WebSockets as GET without an OpenAPI operation", async () => {
    worker.send(encodeDiscoverRoutes());
    const registry = await worker.take((m) => m.type === "RouteRegistry");
    if (registry.type !== "RouteRegistry") throw new Error("unreachable");
    const byPath = new Map(registry.routes.map((r) => [r.path, r]));
    assert.equal(byPath.get("/upload")!.streamBody, true);
    assert.equal(byPath.get("/chunks")!.streamBody, undefined);
    const { path, methods, headers, websocket, openapi } = byPath.get("/echo")!;
    assert.deepEqual({ path, methods, headers, websocket, openapi }, { path: "/echo", methods: ["GET"], headers: true, websocket: true, openapi: undefined });
  });

  it("an async generator streams: ResponseHead (text/plain by default), one BodyChunk per chunk, BodyEnd", async () => {
    const t = ++id;
    worker.task(t, "GET", "/chunks?n=3&size=4");
    const { status, headers, chunks, flags } = await worker.stream(t);
    assert.equal(status, 200);
    assert.deepEqual(headers, [["content-type", "text/plain; charset=utf-8"]]);
    assert.deepEqual(chunks.map(String), ["aaaa", "bbbb", "cccc"]);
    assert.equal(flags, 0);
  });

  it("strings and bytes from a sync generator, a ReadableStream, and a StreamingResponse's status, headers and type", async () => {
    worker.task(++id, "GET", "/text");
    assert.equal(text((await worker.stream(id)).chunks), "hello world");
    worker.task(++id, "GET", "/readable");
    assert.equal(text((await worker.stream(id)).chunks), "from a ReadableStream");
    worker.task(++id, "GET", "/custom");
    const custom = await worker.stream(id);
    assert.equal(custom.status, 201);
    assert.deepEqual(custom.headers, [["content-type", "text/csv"], ["x-custom", "1"]]);
    assert.equal(text(custom.chunks), "a,b\n1,2\n");
  });

  it("formats events in a text/event-stream: fields, several data lines, a value as JSON data; strings pass as they are", async () => {
    worker.task(++id, "GET", "/events");
    const { headers, chunks } = await worker.stream(id);
    assert.deepEqual(headers, [["content-type", "text/event-stream"]]);
    assert.deepEqual(chunks.map(String), ["event: tick\nid: 1\ndata: one\ndata: two\n\n", 'data: {"n":2}\n\n', ": raw text passes as it is\n\n"]);
  });

  it("splits a chunk larger than MAX_CHUNK", async () => {
    const t = ++id;
    worker.task(t, "GET", `/chunks?n=1&size=${MAX_CHUNK + 10}`);
    assert.equal((await worker.next(t)).type, "ResponseHead");
    const first = await worker.next(t);
    assert.equal(first.type === "BodyChunk" && first.data.length, MAX_CHUNK);
    worker.send(encodeWindowUpdate(t, MAX_CHUNK)); // the first piece spent the whole window
    const second = await worker.next(t);
    assert.equal(second.type === "BodyChunk" && second.data.length, 10);
    assert.deepEqual(await worker.next(t), { type: "BodyEnd", taskId: t, flags: 0 });
  });

  it("sends no more than the window allows, pulls nothing more from the handler, and goes on when granted", async () => {
    const t = ++id;
    const size = 256 * 1024;
    worker.task(t, "GET", `/chunks?n=6&size=${size}`);
    assert.equal((await worker.next(t)).type, "ResponseHead");
    for (let i = 0; i < INITIAL_WINDOW / size; i++) assert.equal((await worker.next(t)).type, "BodyChunk");
    // The window is spent: a buffered request answered after this point proves the stream is parked.
    const { body } = await worker.json(++id, "/state");
    assert.equal(body.yielded, INITIAL_WINDOW / size, "the generator is not asked for a chunk it may not send");
    assert.equal(worker.has(t), false);
    worker.send(encodeWindowUpdate(t, size));
    const more = await worker.next(t);
    assert.equal(more.type, "BodyChunk");
    worker.send(encodeWindowUpdate(t, INITIAL_WINDOW));
    assert.equal((await worker.next(t)).type, "BodyChunk");
    const end = await worker.next(t);
    assert.deepEqual(end, { type: "BodyEnd", taskId: t, flags: 0 });
  });

  it("a stream that throws midway ends with BodyEnd bit 0, its stack logged; the worker goes on", async () => {
    worker.task(++id, "GET", "/fail");
    const { chunks, flags } = await worker.stream(id);
    assert.equal(text(chunks), "partial");
    assert.equal(flags, BODY_INCOMPLETE);
    await worker.until(() => /stream of handler "fail" on GET \/fail \(request r\d+\) failed\nError: the stream broke\n\s+at /.test(worker.stderr));
    assert.equal((await worker.json(++id, "/state")).status, 200);
  });

  it("an item a stream cannot send (a number in text/plain) fails it, and the generator's finally runs", async () => {
    const before = (await worker.json(++id, "/state")).body.finallyRan;
    worker.task(++id, "GET", "/bad-item");
    const { chunks, flags } = await worker.stream(id);
    assert.equal(text(chunks), "fine");
    assert.equal(flags, BODY_INCOMPLETE);
    await worker.until(() => /a streamed body may yield strings and bytes/.test(worker.stderr));
    const after = (await worker.json(++id, "/state")).body.finallyRan;
    assert.equal(after, before + 1);
  });

  it("CancelTask on a stream: BodyEnd bit 0 at once, request.signal aborted, the generator's finally runs", async () => {
    const before = (await worker.json(++id, "/state")).body;
    const t = ++id;
    worker.task(t, "GET", "/forever");
    assert.equal((await worker.next(t)).type, "ResponseHead");
    assert.equal((await worker.next(t)).type, "BodyChunk");
    worker.send(encodeCancelTask(t));
    // Chunks already on their way may come first; then the end.
    let m = await worker.next(t);
    while (m.type === "BodyChunk") m = await worker.next(t);
    assert.deepEqual(m, { type: "BodyEnd", taskId: t, flags: BODY_INCOMPLETE });
    // The generator's finally runs at its next step: wait for it.
    let state = before;
    while (state.finallyRan === before.finallyRan) state = (await worker.json(++id, "/state")).body;
    assert.equal(state.finallyRan, before.finallyRan + 1);
    assert.equal(state.aborted, before.aborted + 1);
    // A WindowUpdate for the ended stream crosses on the wire: ignored.
    worker.send(encodeWindowUpdate(t, 100));
    assert.equal((await worker.json(++id, "/state")).status, 200);
  });

  it("a request that ends normally does not abort its signal", async () => {
    assert.equal((await worker.json(++id, "/remember")).status, 200);
    assert.deepEqual((await worker.json(++id, "/remembered")).body, { aborted: false });
  });

  it("a buffered body too large for one frame is a 500 saying to stream it, logged; the worker serves on", async () => {
    const { status, body } = await worker.json(++id, "/big");
    assert.equal(status, 500);
    assert.deepEqual(body, { error: "Internal Server Error", detail: "response too large to buffer: stream it" });
    await worker.until(() => /GET \/big \(request r\d+\): response too large to buffer: stream it/.test(worker.stderr));
    assert.equal((await worker.json(++id, "/state")).status, 200);
  });

  it("a streamBody route reads BodyChunk frames as a ReadableStream, granting each chunk's bytes back as it is read", async () => {
    const t = ++id;
    worker.task(t, "POST", "/upload");
    const sizes = [10, 300_000, 1];
    for (const size of sizes) worker.send(encodeBodyChunk(t, Buffer.alloc(size, "u")));
    worker.send(encodeBodyEnd(t, 0));
    let granted = 0;
    for (;;) {
      const m = await worker.next(t);
      if (m.type === "WindowUpdate") granted += m.increment;
      else {
        assert.equal(m.type, "TaskResult");
        if (m.type !== "TaskResult") throw new Error("unreachable");
        assert.deepEqual(JSON.parse(m.body.toString()), { bytes: 300_011, chunks: 3 });
        break;
      }
    }
    assert.equal(granted, 300_011);
  });

  it("a streamed body whose client went away (BodyEnd bit 0) fails the read: a 500", async () => {
    const t = ++id;
    worker.task(t, "POST", "/upload");
    worker.send(encodeBodyChunk(t, Buffer.from("some")));
    worker.send(encodeBodyEnd(t, BODY_INCOMPLETE));
    let m = await worker.next(t);
    while (m.type === "WindowUpdate") m = await worker.next(t);
    assert.equal(m.type, "TaskResult");
    if (m.type !== "TaskResult") throw new Error("unreachable");
    assert.equal(m.status, 500);
    assert.equal(m.flags, HANDLER_FAILED);
  });

  it("a handler that stops reading its body: the rest is taken and granted back, so the client can finish", async () => {
    const t = ++id;
    worker.task(t, "POST", "/upload/first");
    worker.send(encodeBodyChunk(t, Buffer.from("first")));
    let m = await worker.next(t);
    while (m.type === "WindowUpdate") m = await worker.next(t);
    assert.equal(m.type, "TaskResult");
    if (m.type !== "TaskResult") throw new Error("unreachable");
    assert.deepEqual(JSON.parse(m.body.toString()), { first: "first" });
  });

  it("WebSocket: accepted before the handler runs, messages echoed text as text and bytes as bytes, close(4000, bye) ends the task", async () => {
    const t = ++id;
    worker.task(t, "GET", "/echo", { headers: [["sec-websocket-protocol", "chat.v1"]] });
    assert.deepEqual(await worker.next(t), { type: "WebSocketAccept", taskId: t, subprotocol: "", headers: [] });
    worker.send(encodeWebSocketMessage(t, false, Buffer.from("héllo")));
    const echo = await worker.take((m) => m.type === "WebSocketMessage" && m.taskId === t);
    assert.deepEqual(echo, { type: "WebSocketMessage", taskId: t, binary: false, data: Buffer.from("héllo") });
    // The message's bytes are granted back once the handler received it.
    const grant = await worker.take((m) => m.type === "WindowUpdate" && m.taskId === t);
    assert.deepEqual(grant, { type: "WindowUpdate", taskId: t, increment: Buffer.byteLength("héllo") });
    worker.send(encodeWebSocketMessage(t, true, Buffer.from([0, 1, 2])));
    assert.deepEqual(await worker.take((m) => m.type === "WebSocketMessage" && m.taskId === t), { type: "WebSocketMessage", taskId: t, binary: true, data: Buffer.from([0, 1, 2]) });
    worker.send(encodeWebSocketMessage(t, false, Buffer.from("close")));
    assert.deepEqual(await worker.take((m) => m.type === "WebSocketClose" && m.taskId === t), { type: "WebSocketClose", taskId: t, code: 4000, reason: "bye" });
  });

  it("WebSocket: the client's close reaches the handler as WebSocketDisconnect; the worker answers with its own close", async () => {
    const t = ++id;
    worker.task(t, "GET", "/echo");
    assert.equal((await worker.next(t)).type, "WebSocketAccept");
    worker.send(encodeWebSocketClose(t, 1001, "going"));
    assert.deepEqual(await worker.next(t), { type: "WebSocketClose", taskId: t, code: 1000, reason: "" });
    const { disconnects } = (await worker.json(++id, "/state")).body;
    assert.deepEqual(disconnects.at(-1), [1001, "going"]);
  });

  it("WebSocket: the subprotocol is the client's first offer the route speaks", async () => {
    const t = ++id;
    worker.task(t, "GET", "/chat", { headers: [["sec-websocket-protocol", "chat.v3, chat.v1, chat.v2"]] });
    assert.deepEqual(await worker.next(t), { type: "WebSocketAccept", taskId: t, subprotocol: "chat.v1", headers: [] });
    assert.deepEqual(await worker.next(t), { type: "WebSocketMessage", taskId: t, binary: false, data: Buffer.from("chat.v1") });
    assert.deepEqual(await worker.next(t), { type: "WebSocketClose", taskId: t, code: 1000, reason: "" }, "returned without closing: 1000");
  });

  it("WebSocket: for await ends at the close", async () => {
    const t = ++id;
    worker.task(t, "GET", "/iterate");
    assert.equal((await worker.next(t)).type, "WebSocketAccept");
    worker.send(encodeWebSocketMessage(t, false, Buffer.from("a")));
    worker.send(encodeWebSocketMessage(t, false, Buffer.from("b")));
    worker.send(encodeWebSocketClose(t, 1000, ""));
    assert.deepEqual(await worker.take((m) => m.type === "WebSocketClose" && m.taskId === t), { type: "WebSocketClose", taskId: t, code: 1000, reason: "" });
    assert.deepEqual((await worker.json(++id, "/state")).body.disconnects.at(-1), ["iterated", 2]);
  });

  it("WebSocket: a handler that throws closes with 1011, its stack logged, no exception text sent", async () => {
    const t = ++id;
    worker.task(t, "GET", "/ws-fail");
    assert.equal((await worker.next(t)).type, "WebSocketAccept");
    worker.send(encodeWebSocketMessage(t, false, Buffer.from("x")));
    assert.deepEqual(await worker.take((m) => m.type === "WebSocketClose" && m.taskId === t), { type: "WebSocketClose", taskId: t, code: 1011, reason: "" });
    await worker.until(() => /WebSocket handler "\/ws-fail" failed on GET \/ws-fail \(request r\d+\)\nError: the websocket handler broke/.test(worker.stderr));
  });

  it("WebSocket: a message too large for one frame is refused in send(); the worker survives", async () => {
    const t = ++id;
    worker.task(t, "GET", "/ws-huge");
    assert.equal((await worker.next(t)).type, "WebSocketAccept");
    const refused = await worker.next(t);
    assert.equal(refused.type, "WebSocketMessage");
    if (refused.type !== "WebSocketMessage") throw new Error("unreachable");
    assert.match(refused.data.toString(), /^RangeError: WebSocket\.send: a message may be at most \d+ bytes, got 68157440$/);
    assert.deepEqual(await worker.next(t), { type: "WebSocketClose", taskId: t, code: 1000, reason: "" });
  });

  it("WebSocket: CancelTask closes it (1001) at once and the handler hears the connection drop (1006)", async () => {
    const t = ++id;
    worker.task(t, "GET", "/echo");
    assert.equal((await worker.next(t)).type, "WebSocketAccept");
    worker.send(encodeCancelTask(t));
    assert.deepEqual(await worker.next(t), { type: "WebSocketClose", taskId: t, code: 1001, reason: "" });
    let disconnects: unknown[] = [];
    while (JSON.stringify(disconnects.at(-1)) !== JSON.stringify([1006, ""])) disconnects = (await worker.json(++id, "/state")).body.disconnects;
  });

  it("a BodyChunk past the flow-control window is a protocol error: the worker exits 2", async () => {
    const w = await Worker.start();
    w.task(1, "POST", "/upload/hold"); // never reads its body
    w.send(encodeBodyChunk(1, Buffer.alloc(INITIAL_WINDOW))); // the window is now 0
    w.send(encodeBodyChunk(1, Buffer.alloc(10)));
    assert.equal(await w.exited, 2);
    assert.match(w.stderr, /protocol error \(malformed\): task 1: data sent past the flow-control window/);
  });
});
