/**
 * The orchestrator's side of a WebSocket, in process, with a scripted worker: the answers the SDKs
 * never give (a refused handshake, a close before the accept, a subprotocol the client did not
 * offer, a bad header), the windows of both directions, protocol errors, and the CancelTask a
 * worker gets when it does not answer a close. A real `ws` client talks to a real HttpServer.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import type { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import { Router } from "../../src/orchestrator/http/router.js";
import { HttpServer } from "../../src/orchestrator/http/server.js";
import { Metrics } from "../../src/orchestrator/metrics.js";
import type { Worker } from "../../src/orchestrator/workers/worker.js";
import { FrameDecoder } from "../../src/protocol/frame-decoder.js";
import type { Message, StreamFrame, TaskAssignment } from "../../src/protocol/messages.js";
import { decodeFrame } from "../../src/protocol/codec.js";
import { waitFor } from "../support/wait.js";
import { WsClient } from "../support/ws-client.js";
import { pino } from "pino";

/** A stream frame as a worker writes it, before the task id is filled in. */
type Unplaced = StreamFrame extends infer F ? (F extends StreamFrame ? Omit<F, "taskId"> : never) : never;

/** Takes each job as a worker would, and lets the test answer for it. */
class ScriptedWorker {
  readonly jobs: Job[] = [];
  readonly tasks: TaskAssignment[] = [];
  /** Frames the orchestrator sent the worker for the tasks (messages, windows, closes). */
  readonly sent: Message[] = [];
  readonly cancelled: number[] = [];
  private readonly decoder = new FrameDecoder();
  submit(job: Job): void {
    this.jobs.push(job);
    this.tasks.push(decodeFrame(job.frame, 4, job.frame.length) as TaskAssignment);
    job.assigned?.(this as unknown as Worker);
  }
  send(frames: Buffer | readonly Buffer[]): void {
    for (const f of Buffer.isBuffer(frames) ? [frames] : frames) this.sent.push(...this.decoder.push(f));
  }
  cancel(taskId: number): void {
    this.cancelled.push(taskId);
  }
  /** A frame from the worker for the latest job; returns the protocol error it raised, if any. */
  frame(m: Unplaced): string | void {
    const job = this.jobs.at(-1)!;
    return job.onStreamFrame!({ ...m, taskId: job.taskId } as StreamFrame, this as unknown as Worker);
  }
  get latest(): Job {
    return this.jobs.at(-1)!;
  }
  of<T extends Message["type"]>(type: T): Extract<Message, { type: T }>[] {
    return this.sent.filter((m) => m.type === type) as Extract<Message, { type: T }>[];
  }
}

describe("WebSocket relay (in process)", () => {
  let http: HttpServer;
  let url: string;
  let worker: ScriptedWorker;
  const metrics = new Metrics();
  before(async () => {
    worker = new ScriptedWorker();
    http = new HttpServer({
      router: new Router([{ path: "/ws", methods: ["GET"], websocket: true }]),
      dispatcher: { submit: (job: Job) => worker.submit(job) } as unknown as Dispatcher,
      maxBodySize: 1024,
      timeouts: { headersMs: 10_000, requestMs: 10_000, keepAliveMs: 1_000 },
      probes: { health: "/health", ready: "/ready" },
      metrics,
      metricsPath: "/metrics",
      accessLog: null,
      log: pino({ enabled: false }),
      staticFiles: null,
      apiDocs: null,
      websocket: { maxPayload: 4 * 1024 * 1024, pingIntervalMs: 0, pingTimeoutMs: 0, perMessageDeflate: false },
    });
    url = `ws://127.0.0.1:${(await http.listen("127.0.0.1", 0)).port}`;
  });
  after(() => {
    http.drain();
    http.closeAll();
  });
  beforeEach(() => {
    worker.jobs.length = 0;
    worker.tasks.length = 0;
    worker.sent.length = 0;
    worker.cancelled.length = 0;
  });

  /** Opens /ws; the scripted worker accepts with `subprotocol`. */
  async function open(protocols: string[] = [], subprotocol = ""): Promise<WsClient> {
    const seen = worker.jobs.length;
    const client = WsClient.open(`${url}/ws`, protocols);
    await waitFor(() => worker.jobs.length > seen, 5_000, "the handshake's task");
    assert.equal(worker.frame({ type: "WebSocketAccept", subprotocol, headers: [["x-hello", "1"]] }), undefined);
    return client;
  }

  const messagesIn = async (): Promise<number> =>
    (await metrics.registry.getSingleMetric("neutrino_websocket_messages_total")!.get()).values.find((v) => v.labels.direction === "in")?.value ?? 0;

  it("sends the handshake as a GET task with the headers and the client's address, and an empty body", async () => {
    const client = await open(["chat"], "chat");
    const task = worker.tasks[0]!;
    assert.equal(task.method, "GET");
    assert.equal(task.route, "/ws");
    assert.ok(task.headers.some(([n, v]) => n === "upgrade" && v === "websocket"));
    assert.ok(task.headers.some(([n, v]) => n === "sec-websocket-protocol" && v === "chat"));
    assert.equal(task.clientHost, "127.0.0.1");
    assert.equal(task.body.length, 0);
    assert.equal(client.ws.protocol, "chat");
    client.ws.close(1000);
    await waitFor(() => worker.of("WebSocketClose").length === 1);
    assert.deepEqual(worker.of("WebSocketClose")[0]!.code, 1000);
    worker.frame({ type: "WebSocketClose", code: 1000, reason: "" });
    await client.whenClosed();
  });

  it("a TaskResult instead of the accept refuses the handshake with that HTTP answer", async () => {
    const refused = WsClient.refused(`${url}/ws`);
    await waitFor(() => worker.jobs.length > 0);
    worker.latest.complete({ type: "TaskResult", taskId: worker.latest.taskId, status: 403, flags: 0, headers: [["x-why", "no token"]], body: Buffer.from('{"error":"Forbidden"}') });
    const answer = await refused;
    assert.equal(answer.status, 403);
    assert.equal(answer.headers["x-why"], "no token");
    assert.equal(answer.headers["content-type"], "application/json");
    assert.ok(answer.headers["x-request-id"]);
    assert.equal(answer.body, '{"error":"Forbidden"}');
  });

  it("a WebSocketClose before the accept is a 403", async () => {
    const refused = WsClient.refused(`${url}/ws`);
    await waitFor(() => worker.jobs.length > 0);
    worker.frame({ type: "WebSocketClose", code: 1008, reason: "policy" });
    const answer = await refused;
    assert.equal(answer.status, 403);
    assert.equal(JSON.parse(answer.body).error, "Forbidden");
  });

  it("an accept with a subprotocol the client did not offer, or a header with CR/LF, is a 502; the worker is told the connection is gone", async () => {
    const refused = WsClient.refused(`${url}/ws`, ["a"]);
    await waitFor(() => worker.jobs.length > 0);
    worker.frame({ type: "WebSocketAccept", subprotocol: "b", headers: [] });
    assert.equal((await refused).status, 502);
    assert.deepEqual(worker.of("WebSocketClose").map((m) => m.code), [1006]);

    worker.jobs.length = 0;
    const injected = WsClient.refused(`${url}/ws`);
    await waitFor(() => worker.jobs.length > 0);
    worker.frame({ type: "WebSocketAccept", subprotocol: "", headers: [["x-evil", "1\r\nset-cookie: a=b"]] });
    const answer = await injected;
    assert.equal(answer.status, 502);
    assert.equal(answer.headers["set-cookie"], undefined);
  });

  it("client messages past the worker's window wait for its WindowUpdate", async () => {
    const client = await open();
    const before = await messagesIn();
    const big = Buffer.alloc(600 * 1024, 1);
    client.ws.send(big);
    client.ws.send(big);
    client.ws.send(big);
    // The window (1 MiB) lets two through, then the client's socket is no longer read.
    await waitFor(() => worker.of("WebSocketMessage").length === 2, 5_000, "two messages to the worker");
    await fetch(url.replace("ws:", "http:") + "/health"); // a round trip through the server's event loop
    assert.equal(worker.of("WebSocketMessage").length, 2);
    assert.ok((await messagesIn()) - before <= 3);
    assert.equal(worker.frame({ type: "WindowUpdate", increment: 600 * 1024 }), undefined);
    await waitFor(() => worker.of("WebSocketMessage").length === 3, 5_000, "the third message after the window update");
    assert.ok(worker.of("WebSocketMessage").every((m) => m.binary && m.data.length === 600 * 1024));
    worker.frame({ type: "WebSocketClose", code: 1000, reason: "" });
    assert.equal((await client.whenClosed()).code, 1000);
  });

  it("a worker message reaches the client, and its window comes back once written", async () => {
    const client = await open();
    worker.frame({ type: "WebSocketMessage", binary: false, data: Buffer.from("héllo") });
    assert.equal(await client.next(), "héllo");
    await waitFor(() => worker.of("WindowUpdate").length === 1);
    assert.equal(worker.of("WindowUpdate")[0]!.increment, Buffer.byteLength("héllo"));
    worker.frame({ type: "WebSocketClose", code: 4002, reason: "done" });
    assert.deepEqual(await client.whenClosed(), { code: 4002, reason: "done" });
  });

  it("frames out of place are protocol errors", async () => {
    const refused = WsClient.refused(`${url}/ws`);
    await waitFor(() => worker.jobs.length > 0);
    assert.match(String(worker.frame({ type: "WebSocketMessage", binary: true, data: Buffer.from("x") })), /before the WebSocketAccept/);
    assert.match(String(worker.frame({ type: "BodyChunk", data: Buffer.from("x") })), /without a ResponseHead/);
    worker.latest.fail(503, "test over");
    assert.equal((await refused).status, 503);
    const client = await open();
    assert.match(String(worker.frame({ type: "WebSocketAccept", subprotocol: "", headers: [] })), /second answer/);
    assert.match(String(worker.frame({ type: "ResponseHead", status: 200, flags: 0, headers: [] })), /second answer/);
    worker.frame({ type: "WebSocketClose", code: 1000, reason: "" });
    await client.whenClosed();
  });

  it("a worker that does not answer the client's close is sent CancelTask", async () => {
    const client = await open();
    client.ws.close(4003);
    await client.whenClosed();
    await waitFor(() => worker.of("WebSocketClose").length === 1);
    assert.equal(worker.of("WebSocketClose")[0]!.code, 4003);
    await waitFor(() => worker.cancelled.includes(worker.latest.taskId), 10_000, "CancelTask");
  });

  it("the worker's death after the accept closes with 1011, and the dead worker is told nothing", async () => {
    const dead = await open();
    worker.latest.fail(502, "the worker handling this request died (killed by SIGKILL)");
    assert.deepEqual(await dead.whenClosed(), { code: 1011, reason: "" });
    assert.equal(worker.of("WebSocketClose").length, 0);
  });
});
