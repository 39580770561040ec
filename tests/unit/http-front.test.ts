/**
 * The HTTP front in process, with a fake dispatcher in place of the workers: it decodes the
 * TaskAssignment the server built and answers as a worker would. Covers what the orchestrator
 * itself does around a request: X-Request-Id, headers for the routes that read them, CORS and
 * compression.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { isCompressible, negotiate } from "../../src/http/compression.js";
import { Cors, normalizeOrigin } from "../../src/http/cors.js";
import type { Dispatcher } from "../../src/dispatch/dispatcher.js";
import type { Job } from "../../src/dispatch/job.js";
import { Router } from "../../src/http/router.js";
import { HttpServer, type HttpServerOptions } from "../../src/http/server.js";
import { generateRequestId, isUsableRequestId } from "../../src/http/request-id.js";
import { requestHeaderPairs } from "../../src/http/request-headers.js";
import { addStaticMount, StaticFiles } from "../../src/http/static-files.js";
import { Metrics } from "../../src/metrics.js";
import { ApiDocs } from "../../src/openapi/docs-page.js";
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

export async function startFront(extra: Partial<HttpServerOptions> = {}): Promise<{ http: HttpServer; url: string; dispatcher: FakeDispatcher }> {
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
    ...extra,
    staticFiles: extra.staticFiles ?? null,
    apiDocs: extra.apiDocs ?? null,
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

describe("CORS (in process)", () => {
  it("normalizes origins as browsers send them and refuses what is not one", () => {
    assert.equal(normalizeOrigin("https://App.Example.com:443/"), "https://app.example.com");
    assert.equal(normalizeOrigin("http://localhost:3000"), "http://localhost:3000");
    assert.equal(normalizeOrigin("*"), "*");
    for (const bad of ["app.example.com", "https://a.example/path", "ftp://a.example", "https://a.example?q", ""]) {
      assert.throws(() => normalizeOrigin(bad), /origin/, bad);
    }
    assert.throws(() => new Cors({ origins: ["*"], credentials: true }), /credentials/);
  });

  describe("listed origins, with credentials", () => {
    let front: Awaited<ReturnType<typeof startFront>>;
    before(async () => {
      front = await startFront({ cors: { origins: ["https://app.example", "http://localhost:3000"], credentials: true } });
    });
    after(() => stopFront(front.http));

    it("answers a preflight for a known route itself, with the route's methods", async () => {
      const before = front.dispatcher.tasks.length;
      const res = await fetch(`${front.url}/plain?x=1`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-token" },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
      assert.equal(res.headers.get("access-control-allow-methods"), "GET, POST, HEAD");
      assert.equal(res.headers.get("access-control-allow-headers"), "content-type, x-token");
      assert.equal(res.headers.get("access-control-allow-credentials"), "true");
      assert.equal(res.headers.get("access-control-max-age"), "600");
      assert.match(res.headers.get("vary")!, /Origin/);
      assert.ok(res.headers.get("x-request-id"));
      assert.equal(await res.text(), "");
      assert.equal(front.dispatcher.tasks.length, before, "no worker saw the preflight");
    });

    it("no preflight answer for a disallowed origin, an unknown path, or a plain OPTIONS", async () => {
      const bad = await fetch(`${front.url}/plain`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
      assert.equal(bad.status, 405);
      assert.equal(bad.headers.get("access-control-allow-origin"), null);
      const unknown = await fetch(`${front.url}/nope`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "GET" } });
      assert.equal(unknown.status, 404);
      const plain = await fetch(`${front.url}/plain`, { method: "OPTIONS", headers: { origin: "https://app.example" } });
      assert.equal(plain.status, 405);
      for (const r of [bad, unknown, plain]) await r.arrayBuffer();
    });

    it("adds Allow-Origin, Vary and Expose-Headers to answers for an allowed origin", async () => {
      const res = await fetch(`${front.url}/plain`, { headers: { origin: "http://localhost:3000" } });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:3000");
      assert.equal(res.headers.get("access-control-allow-credentials"), "true");
      assert.equal(res.headers.get("access-control-expose-headers"), "x-request-id");
      assert.equal(res.headers.get("vary"), "Origin");
      // The orchestrator's own answers too.
      const missing = await fetch(`${front.url}/nope`, { headers: { origin: "http://localhost:3000" } });
      await missing.arrayBuffer();
      assert.equal(missing.headers.get("access-control-allow-origin"), "http://localhost:3000");
    });

    it("adds no Access-Control-* header for another origin, only Vary: Origin", async () => {
      for (const headers of [{ origin: "https://evil.example" }, {}] as Record<string, string>[]) {
        const res = await fetch(`${front.url}/plain`, { headers });
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        assert.deepEqual([...res.headers.keys()].filter((k) => k.startsWith("access-control-")), []);
        assert.equal(res.headers.get("vary"), "Origin");
      }
    });

    it("leaves CORS to a worker that answered it itself", async () => {
      answer = { headers: [["Access-Control-Allow-Origin", "https://mine.example"]] };
      const res = await fetch(`${front.url}/answer`, { headers: { origin: "https://app.example" } });
      await res.arrayBuffer();
      assert.equal(res.headers.get("access-control-allow-origin"), "https://mine.example");
    });
  });

  describe("any origin (*)", () => {
    let front: Awaited<ReturnType<typeof startFront>>;
    before(async () => {
      front = await startFront({ cors: { origins: ["*"], credentials: false } });
    });
    after(() => stopFront(front.http));

    it("answers * to every origin, without Vary: Origin", async () => {
      const pre = await fetch(`${front.url}/answer`, { method: "OPTIONS", headers: { origin: "https://any.example", "access-control-request-method": "DELETE" } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), "*");
      assert.equal(pre.headers.get("access-control-allow-methods"), "GET, DELETE, HEAD");
      assert.equal(pre.headers.get("access-control-allow-credentials"), null);
      answer = {};
      const res = await fetch(`${front.url}/answer`, { headers: { origin: "https://any.example" } });
      await res.arrayBuffer();
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.equal(res.headers.get("vary"), null);
    });
  });

  it("static files and /openapi.json get X-Request-Id and Access-Control-Allow-Origin too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-front-static-"));
    writeFileSync(join(dir, "app.js"), "console.log(1);\n");
    const docs = new ApiDocs({ title: "t", version: "0" }, () => {});
    docs.update(ROUTES);
    const front = await startFront({
      cors: { origins: ["https://app.example"], credentials: false },
      staticFiles: new StaticFiles(addStaticMount(`/assets=${dir}`)),
      apiDocs: docs,
    });
    try {
      for (const [path, status] of [["/assets/app.js", 200], ["/assets/missing.js", 404], ["/openapi.json", 200]] as const) {
        const res = await fetch(`${front.url}${path}`, { headers: { origin: "https://app.example", "x-request-id": "static-1" } });
        await res.arrayBuffer();
        assert.equal(res.status, status, path);
        assert.equal(res.headers.get("x-request-id"), "static-1", path);
        assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example", path);
      }
    } finally {
      stopFront(front.http);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is off by default: no preflight answer, no Access-Control-* header", async () => {
    const front = await startFront();
    try {
      const pre = await fetch(`${front.url}/plain`, { method: "OPTIONS", headers: { origin: "https://a.example", "access-control-request-method": "POST" } });
      await pre.arrayBuffer();
      assert.equal(pre.status, 405);
      const res = await fetch(`${front.url}/plain`, { headers: { origin: "https://a.example" } });
      await res.arrayBuffer();
      assert.deepEqual([...res.headers.keys()].filter((k) => k.startsWith("access-control-") || k === "vary"), []);
    } finally {
      stopFront(front.http);
    }
  });
});

describe("compression (in process)", () => {
  it("negotiates by Accept-Encoding q-values, brotli on a tie", () => {
    const cases: [string | undefined, string | null][] = [
      [undefined, null],
      ["", null],
      ["identity", null],
      ["gzip", "gzip"],
      ["br", "br"],
      ["gzip, deflate, br", "br"],
      ["gzip;q=1.0, br;q=0.5", "gzip"],
      ["br;q=0, gzip", "gzip"],
      ["gzip;q=0, br;q=0", null],
      ["*", "br"],
      ["*;q=0.5, gzip", "gzip"],
      ["br;q=0, *", "gzip"],
      ["GZIP ; Q=0.8", "gzip"],
      ["x-gzip", "gzip"],
      ["deflate", null],
    ];
    for (const [header, expected] of cases) assert.equal(negotiate(header), expected, String(header));
  });

  it("compresses JSON, text, JavaScript, XML and SVG only", () => {
    for (const t of ["application/json", "application/json; charset=utf-8", "text/plain", "text/html;charset=utf-8", "text/csv", "application/javascript", "application/problem+json", "application/xml", "image/svg+xml", "application/ld+json"]) {
      assert.ok(isCompressible(t), t);
    }
    for (const t of ["image/png", "application/octet-stream", "application/zip", "font/woff2", "video/mp4", "application/pdf"]) {
      assert.ok(!isCompressible(t), t);
    }
  });

  describe("--compress 1024", () => {
    let front: Awaited<ReturnType<typeof startFront>>;
    before(async () => {
      front = await startFront({ compression: { minBytes: 1024 } });
    });
    after(() => stopFront(front.http));

    const json = (n: number): Buffer => Buffer.from(JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: i, name: `item ${i}` }))));
    /** node:http leaves the body encoded, so the test sees exactly what was sent. */
    async function get(headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
      const { request } = await import("node:http");
      return new Promise((resolve, reject) => {
        const req = request(`${front.url}/answer`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on("error", reject);
        req.end();
      });
    }

    for (const [size, label] of [[60, "small (sync)"], [4000, "large (thread pool)"]] as const) {
      it(`gzip and br round trip, ${label}`, async () => {
        const body = json(size);
        answer = { body, headers: [["ETag", '"v1"']] };
        const gz = await get({ "accept-encoding": "gzip" });
        assert.equal(gz.headers["content-encoding"], "gzip");
        assert.equal(gz.headers["vary"], "Accept-Encoding");
        assert.equal(Number(gz.headers["content-length"]), gz.body.length);
        assert.ok(gz.body.length < body.length);
        assert.deepEqual(gunzipSync(gz.body), body);
        assert.equal(gz.headers["etag"], 'W/"v1"');
        const br = await get({ "accept-encoding": "gzip;q=0.8, br" });
        assert.equal(br.headers["content-encoding"], "br");
        assert.deepEqual(brotliDecompressSync(br.body), body);
      });
    }

    it("leaves alone: a body below the size, a client that accepts no encoding, a type that does not compress, an encoded or no-transform answer", async () => {
      const big = json(200);
      const cases: [typeof answer, Record<string, string>, string][] = [
        [{ body: Buffer.from("x".repeat(1023)) }, { "accept-encoding": "gzip" }, "below the size"],
        [{ body: big }, {}, "no Accept-Encoding"],
        [{ body: big }, { "accept-encoding": "identity" }, "identity only"],
        [{ body: big, headers: [["Content-Type", "image/png"]] }, { "accept-encoding": "gzip" }, "image/png"],
        [{ body: big, headers: [["Content-Encoding", "identity"]] }, { "accept-encoding": "gzip" }, "already encoded"],
        [{ body: big, headers: [["Cache-Control", "public, no-transform"]] }, { "accept-encoding": "gzip" }, "no-transform"],
        [{ body: big, status: 204 }, { "accept-encoding": "gzip" }, "204"],
      ];
      for (const [reply, headers, label] of cases) {
        answer = reply;
        const res = await get(headers);
        assert.equal(res.headers["content-encoding"], reply.headers?.find(([n]) => n === "Content-Encoding")?.[1], label);
        if (res.status !== 204) assert.deepEqual(res.body, reply.body, label);
      }
      // An answer that could be compressed says it varies by Accept-Encoding even when it was not.
      answer = { body: big };
      assert.equal((await get({})).headers["vary"], "Accept-Encoding");
      answer = { body: Buffer.from("{}") };
      assert.equal((await get({ "accept-encoding": "gzip" })).headers["vary"], undefined);
    });
  });

  it("is off by default", async () => {
    const front = await startFront();
    try {
      answer = { body: Buffer.from(JSON.stringify({ data: "x".repeat(5000) })) };
      const res = await fetch(`${front.url}/answer`, { headers: { "accept-encoding": "gzip, br" } });
      assert.equal(res.headers.get("content-encoding"), null);
      assert.equal(res.headers.get("vary"), null);
      assert.equal((await res.text()).length, answer.body!.length);
    } finally {
      stopFront(front.http);
    }
  });
});
