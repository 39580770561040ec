/**
 * The HTTP front in process, with a fake dispatcher in place of the workers: it decodes the
 * TaskAssignment the server built and answers as a worker would. Covers what the orchestrator
 * itself does around a request: X-Request-Id, headers for the routes that read them, CORS and
 * compression.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Dispatcher } from "../../src/dispatch/dispatcher.js";
import type { Job } from "../../src/dispatch/job.js";
import { Router } from "../../src/http/router.js";
import { HttpServer, type HttpServerOptions } from "../../src/http/server.js";
import { generateRequestId, isUsableRequestId } from "../../src/http/request-id.js";
import { requestHeaderPairs } from "../../src/http/request-headers.js";
import { Metrics } from "../../src/metrics.js";
import { decodeFrame } from "../../src/protocol/codec.js";
import type { Pair, RouteInfo, TaskAssignment } from "../../src/protocol/messages.js";

const ROUTES: RouteInfo[] = [
  { path: "/plain", methods: ["GET", "POST"] },
  { path: "/reads", methods: ["GET"], headers: true },
  { path: "/sync", methods: ["GET"], sync: true },
  { path: "/answer", methods: ["GET", "DELETE"] },
];

/** What the fake worker answers on /answer: set per test. */
let answer: { status?: number; headers?: Pair[]; body?: Buffer } = {};

/** Stands in for the dispatcher and the workers: records each task and answers it at once. */
class FakeDispatcher {
  readonly tasks: TaskAssignment[] = [];
  readonly jobs: Job[] = [];
  submit(job: Job): void {
    const task = decodeFrame(job.frame, 4, job.frame.length) as TaskAssignment;
    this.tasks.push(task);
    this.jobs.push(job);
    if (task.route === "/answer") {
      job.complete({ type: "TaskResult", taskId: task.taskId, status: answer.status ?? 200, flags: 0, headers: answer.headers ?? [], body: answer.body ?? Buffer.from("{}") });
      return;
    }
    const body = Buffer.from(JSON.stringify({ requestId: task.requestId, headers: task.headers, client: [task.clientHost, task.clientPort] }));
    job.complete({ type: "TaskResult", taskId: task.taskId, status: 200, flags: 0, headers: [], body });
  }
}

export async function startFront(extra: Omit<Partial<HttpServerOptions>, "staticFiles" | "apiDocs"> = {}): Promise<{ http: HttpServer; url: string; dispatcher: FakeDispatcher }> {
  const dispatcher = new FakeDispatcher();
  const http = new HttpServer({
    router: new Router(ROUTES),
    dispatcher: dispatcher as unknown as Dispatcher,
    maxBodySize: 1024,
    timeouts: { headersMs: 10_000, requestMs: 10_000, keepAliveMs: 1_000 },
    probes: { health: "/health", ready: "/ready" },
    metrics: new Metrics(),
    metricsPath: "/metrics",
    accessLog: null,
    staticFiles: null,
    apiDocs: null,
    ...extra,
  });
  const address = await http.listen("127.0.0.1", 0);
  return { http, url: `http://127.0.0.1:${address.port}`, dispatcher };
}

export function stopFront(http: HttpServer): void {
  http.drain();
  http.closeAll();
}

describe("request ids", () => {
  it("generates short, distinct ids made of usable characters", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => generateRequestId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) {
      assert.ok(isUsableRequestId(id), id);
      assert.ok(id.length <= 20, id);
    }
  });

  it("accepts 1 to 128 characters of [A-Za-z0-9._~:/+=-], nothing else", () => {
    for (const ok of ["a", "abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "x".repeat(128), "a.b_c~d:e/f+g=h-i"]) {
      assert.ok(isUsableRequestId(ok), ok);
    }
    for (const bad of ["", "x".repeat(129), "a b", "a,b", "ü", "a\tb", "<script>", "a;b"]) {
      assert.ok(!isUsableRequestId(bad), bad);
    }
  });
});

describe("request headers for the worker", () => {
  it("lower-cases the names and keeps repeated headers as repeated pairs, in order", () => {
    assert.deepEqual(requestHeaderPairs(["Host", "x", "X-Tag", "a", "x-tag", "b", "Cookie", "c=1"]), [
      ["host", "x"],
      ["x-tag", "a"],
      ["x-tag", "b"],
      ["cookie", "c=1"],
    ]);
    assert.deepEqual(requestHeaderPairs([]), []);
  });
});

describe("HTTP front (in process)", () => {
  let front: Awaited<ReturnType<typeof startFront>>;
  before(async () => {
    front = await startFront();
  });
  after(() => stopFront(front.http));

  it("generates an X-Request-Id, returns it and sends it to the worker", async () => {
    const res = await fetch(`${front.url}/plain`);
    const id = res.headers.get("x-request-id");
    assert.ok(id && isUsableRequestId(id), String(id));
    assert.equal(((await res.json()) as { requestId: string }).requestId, id);
    const again = await fetch(`${front.url}/plain`);
    assert.notEqual(again.headers.get("x-request-id"), id);
  });

  it("takes a usable X-Request-Id from the request, replaces an unusable one", async () => {
    const mine = "client-id_1.2:3/4+5=6~7";
    const res = await fetch(`${front.url}/plain`, { headers: { "x-request-id": mine } });
    assert.equal(res.headers.get("x-request-id"), mine);
    assert.equal(((await res.json()) as { requestId: string }).requestId, mine);
    for (const bad of ["has space", "x".repeat(129), "semi;colon"]) {
      const r = await fetch(`${front.url}/plain`, { headers: { "x-request-id": bad } });
      const id = r.headers.get("x-request-id")!;
      assert.notEqual(id, bad);
      assert.ok(isUsableRequestId(id));
      assert.equal(((await r.json()) as { requestId: string }).requestId, id);
    }
  });

  it("puts X-Request-Id on the orchestrator's own answers: 404, 405, 413, probes, metrics", async () => {
    const cases: [string, RequestInit, number][] = [
      ["/nope", {}, 404],
      ["/reads", { method: "POST", body: "{}" }, 405],
      ["/plain", { method: "POST", body: "x".repeat(2000) }, 413],
      ["/health", {}, 200],
      ["/ready", {}, 200],
      ["/metrics", {}, 200],
    ];
    for (const [path, init, status] of cases) {
      const res = await fetch(`${front.url}${path}`, { ...init, headers: { "x-request-id": `id-${status}` } });
      await res.arrayBuffer();
      assert.equal(res.status, status, path);
      assert.equal(res.headers.get("x-request-id"), `id-${status}`, path);
    }
  });

  it("keeps the orchestrator's X-Request-Id over one the worker set", async () => {
    answer = { headers: [["X-Request-Id", "from-the-worker"]] };
    const res = await fetch(`${front.url}/answer`, { headers: { "x-request-id": "from-the-client" } });
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-request-id"), "from-the-client");
  });

  it("sends headers and the client's address only to routes that read the request", async () => {
    const plain = (await (await fetch(`${front.url}/plain`, { headers: { "X-Custom": "1" } })).json()) as { headers: Pair[]; client: [string, number] };
    assert.deepEqual(plain.headers, []);
    assert.deepEqual(plain.client, ["", 0]);
    const reads = (await (await fetch(`${front.url}/reads`, { headers: { "X-Custom": "Yes" } })).json()) as { headers: Pair[]; client: [string, number] };
    assert.ok(reads.headers.some(([n, v]) => n === "x-custom" && v === "Yes"), JSON.stringify(reads.headers));
    assert.ok(reads.headers.some(([n]) => n === "host"));
    for (const [name] of reads.headers) assert.equal(name, name.toLowerCase());
    assert.equal(reads.client[0], "127.0.0.1");
    assert.ok(reads.client[1] > 0);
  });

  it("marks the jobs of sync routes, and only those", async () => {
    await (await fetch(`${front.url}/sync`)).arrayBuffer();
    await (await fetch(`${front.url}/plain`)).arrayBuffer();
    const [sync, plain] = front.dispatcher.jobs.slice(-2);
    assert.equal(sync!.sync, true);
    assert.equal(plain!.sync, false);
  });
});
