/**
 * Request bodies of the apps users already have, streamed as they arrive: an ASGI app (FastAPI,
 * reading `request.stream()`) and a fetch app (Hono, reading `c.req.raw.body`) get a large or
 * chunked body in pieces, the first before the client has sent the rest; a small one whole. An
 * upload abandoned midway ends the handler and frees the worker; --max-body-size still holds,
 * counted as the bytes pass. Both runtimes run the same cases.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type ClientRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureTestPython, testPython } from "../support/python-apps.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { certDir, makeCert, type CertFiles } from "../support/tls.js";
import { waitFor } from "../support/wait.js";

const MiB = 1024 * 1024;
/** The servers' --max-body-size: the 8 MiB uploads fit, a 10 MiB one does not. */
const LIMIT = 9 * MiB;

const apps: { runtime: string; app: string; flags: () => string[] }[] = [
  { runtime: "ASGI (FastAPI)", app: "tests/fixtures/foreign/upload_fastapi.py:app", flags: () => (ensureTestPython(), ["--python", testPython]) },
  { runtime: "fetch (Hono)", app: "tests/fixtures/upload_hono.ts:default", flags: () => [] },
];

interface Answer {
  status: number;
  text: string;
  json: { chunks: number; bytes: number; sha256: string; detail?: string };
}

/** An upload the test writes piece by piece (chunked without `length`), and its answer. */
class Upload {
  readonly req: ClientRequest;
  readonly answer: Promise<Answer>;

  constructor(url: string, length?: number) {
    this.req = httpRequest(url, { method: "POST", headers: length === undefined ? {} : { "content-length": String(length) } });
    this.answer = new Promise((resolve, reject) => {
      this.req.once("error", reject);
      this.req.once("response", (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.once("end", () => resolve({ status: res.statusCode!, text, json: JSON.parse(text) as Answer["json"] }));
        res.once("error", reject);
      });
    });
  }

  /** Resolves once `data` has been handed to the socket (the server may be pacing the upload). */
  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.req.write(data, (err) => (err ? reject(err) : resolve())));
  }
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

for (const { runtime, app, flags } of apps) {
  describe(`${runtime}: request bodies streamed as they arrive`, () => {
    let server: RunningServer;
    let url: string;
    let dir: string;
    let n = 0;
    const marker = (name: string): string => join(dir, `${name}-${++n}`);
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-bodies-"));
      // One worker taking one task at a time: a request after an abandoned upload is served only
      // if that upload's slot was given back.
      server = await startServer(app, [
        ...["--workers", "1", "--worker-concurrency", "1", "--max-body-size", String(LIMIT), "--timeout", "5"],
        ...flags(),
      ]);
      url = server.url;
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("an 8 MiB upload reaches the handler whole, in more than one chunk", async () => {
      const body = randomBytes(8 * MiB);
      const r = await request(`${url}/upload`, { method: "POST", body });
      assert.equal(r.status, 200, r.text);
      const answer = r.json as Answer["json"];
      assert.equal(answer.bytes, body.length);
      assert.equal(answer.sha256, sha256(body));
      assert.ok(answer.chunks > 1, `${answer.chunks} chunk(s)`);
    });

    it("a small body comes whole, in one piece", async () => {
      const body = randomBytes(1000);
      const r = await request(`${url}/upload`, { method: "POST", body });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { chunks: 1, bytes: 1000, sha256: sha256(body) });
    });

    it("the handler has its first chunk before the client has sent the rest (Content-Length)", async () => {
      const first = marker("first");
      const body = randomBytes(8 * MiB);
      const upload = new Upload(`${url}/upload?marker=${encodeURIComponent(first)}`, body.length);
      await upload.write(body.subarray(0, MiB));
      await waitFor(() => existsSync(first), 20_000, "the handler's first chunk");
      await upload.write(body.subarray(MiB));
      upload.req.end();
      const r = await upload.answer;
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.bytes, body.length);
      assert.equal(r.json.sha256, sha256(body));
    });

    it("a chunked upload is streamed too, its first piece before its end", async () => {
      const first = marker("first");
      const upload = new Upload(`${url}/upload?marker=${encodeURIComponent(first)}`);
      const head = randomBytes(1000);
      await upload.write(head);
      await waitFor(() => existsSync(first), 20_000, "the handler's first chunk");
      const tail = randomBytes(2 * MiB);
      await upload.write(tail);
      upload.req.end();
      const r = await upload.answer;
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.bytes, head.length + tail.length);
      assert.equal(r.json.sha256, sha256(Buffer.concat([head, tail])));
      assert.ok(r.json.chunks >= 2, `${r.json.chunks} chunk(s)`);
    });

    it("an upload abandoned midway ends the handler, and the worker serves again", async () => {
      const first = marker("first");
      const gone = marker("gone");
      const upload = new Upload(`${url}/upload?marker=${encodeURIComponent(first)}&gone=${encodeURIComponent(gone)}`, 8 * MiB);
      upload.answer.catch(() => {});
      await upload.write(randomBytes(MiB));
      await waitFor(() => existsSync(first), 20_000, "the handler's first chunk");
      upload.req.destroy();
      await waitFor(() => existsSync(gone), 20_000, "the handler seeing the client gone");
      const r = await request(`${url}/ping`);
      assert.equal(r.status, 200, r.text);
    });

    it("an upload that stalls past --timeout: 504, and the handler sees the client gone", async () => {
      const first = marker("first");
      const gone = marker("gone");
      const upload = new Upload(`${url}/upload?marker=${encodeURIComponent(first)}&gone=${encodeURIComponent(gone)}`, 2 * MiB);
      await upload.write(randomBytes(1000));
      await waitFor(() => existsSync(first), 20_000, "the handler's first chunk");
      // Nothing more is sent: the upload makes no progress.
      const r = await upload.answer;
      upload.req.destroy();
      assert.equal(r.status, 504, r.text);
      assert.match(r.json.detail ?? "", /no progress/);
      await waitFor(() => existsSync(gone), 20_000, "the handler seeing the upload cut");
      assert.equal((await request(`${url}/ping`)).status, 200);
    });

    it("a chunked body past --max-body-size: 413, and the handler sees the client gone", async () => {
      const gone = marker("gone");
      const upload = new Upload(`${url}/upload?gone=${encodeURIComponent(gone)}`);
      let answered = false;
      const answer = upload.answer.finally(() => (answered = true));
      // Written until the server answers: it stops reading past the limit, so this ends either way.
      const piece = randomBytes(256 * 1024);
      let sent = 0;
      const writing = (async () => {
        while (!answered && sent <= LIMIT + MiB) {
          await upload.write(piece);
          sent += piece.length;
        }
      })().catch(() => {});
      const r = await answer;
      await writing;
      assert.equal(r.status, 413, r.text);
      assert.match(r.json.detail ?? "", /larger than the limit of 9437184 bytes/);
      await waitFor(() => existsSync(gone), 20_000, "the handler seeing the body cut");
      assert.equal((await request(`${url}/ping`)).status, 200);
    });

    it("a Content-Length past --max-body-size is refused before any byte of the body", async () => {
      const upload = new Upload(`${url}/upload`, LIMIT + 1);
      upload.req.flushHeaders();
      const r = await upload.answer;
      upload.req.destroy();
      assert.equal(r.status, 413, r.text);
    });
  });
}

describe("over HTTP/2, a body of unknown length is streamed too", () => {
  const { app, flags } = apps[1]!; // the orchestrator decides; one runtime shows it
  let server: RunningServer;
  let certs: CertFiles;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-bodies-"));
    certs = makeCert(certDir(), "localhost");
    server = await startServer(app, ["--workers", "1", "--ssl-certfile", certs.cert, "--ssl-keyfile", certs.key, ...flags()]);
  });
  after(async () => {
    await server.stop();
    rmSync(certs.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("the handler has its first chunk before the client ends the stream; a GET is not held", async () => {
    const session = http2Connect(`https://localhost:${server.port}`, { ca: certs.certPem });
    try {
      const first = join(dir, "first");
      const stream = session.request({ ":method": "POST", ":path": `/upload?marker=${encodeURIComponent(first)}` });
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        let status = 0;
        let text = "";
        stream.once("response", (h) => (status = Number(h[":status"])));
        stream.setEncoding("utf8").on("data", (d: string) => (text += d));
        stream.once("end", () => resolve({ status, text }));
        stream.once("error", reject);
      });
      const head = randomBytes(1000);
      stream.write(head);
      await waitFor(() => existsSync(first), 20_000, "the handler's first chunk");
      const tail = randomBytes(MiB);
      stream.end(tail);
      const r = await answer;
      assert.equal(r.status, 200, r.text);
      const json = JSON.parse(r.text) as Answer["json"];
      assert.equal(json.bytes, head.length + tail.length);
      assert.equal(json.sha256, sha256(Buffer.concat([head, tail])));
      const ping = session.request({ ":path": "/ping" });
      const status = await new Promise<number>((resolve) => ping.once("response", (h) => resolve(Number(h[":status"]))));
      ping.resume();
      assert.equal(status, 200);
    } finally {
      session.close();
    }
  });
});
