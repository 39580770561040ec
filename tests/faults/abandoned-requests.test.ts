/**
 * Requests whose client leaves before the answer, on a one-at-a-time Python worker (which cannot
 * be interrupted): one waiting in the queue is dropped unrun, one running has its answer dropped,
 * and both are counted and logged as 499 (a client gone), never as the 200 nobody received. Over
 * HTTP/1 the client resets its connection; over HTTP/2 it resets the stream (a browser cancelling a
 * fetch), and the session serves on. A client that resets while its body is still arriving is a 499
 * too, and the part of the body that came never reaches a handler as if it were the whole.
 */
import assert from "node:assert/strict";
import { get } from "node:http";
import { connect as netConnect } from "node:net";
import { connect as http2Connect, constants } from "node:http2";
import { after, before, describe, it } from "node:test";
import { request, startServer, type RunningServer } from "../support/server.js";
import { certDir, h2Request, makeCert, removeDir, type CertFiles } from "../support/tls.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/pyapp.py:app";

function accessRecords(server: RunningServer, query: string): Record<string, unknown>[] {
  return server.logs().filter((r) => r.log === "access" && r.query === query);
}

async function busy(url: string): Promise<void> {
  await waitFor(async () => /^neutrino_workers\{state="busy"\} 1$/m.test((await request(`${url}/metrics`)).text), 10_000, "the worker busy");
}

/** A GET on its own connection, reset (RST) `afterMs` after it went out. */
function resetAfter(url: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = get(url);
    req.on("error", () => {});
    req.once("socket", (socket) => {
      socket.once("connect", () =>
        setTimeout(() => {
          socket.resetAndDestroy();
          resolve();
        }, afterMs),
      );
    });
  });
}

describe("a client that leaves before its answer (HTTP/1, one sequential worker)", () => {
  let server: RunningServer;
  before(async () => {
    // No prefetch: the second request waits in the orchestrator's queue, not on the worker.
    server = await startServer(APP, ["--workers", "1", "--access-log", "--no-prefetch"]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it("one waiting in the queue is dropped unrun and logged 499; the one ahead is answered", async () => {
    const ahead = request(`${server.url}/sleep?seconds=0.6`);
    await busy(server.url);
    await resetAfter(`${server.url}/sleep?seconds=4.5`, 100);
    assert.equal((await ahead).status, 200);
    await waitFor(() => accessRecords(server, "seconds=4.5").length === 1, 10_000, "the queued request's record");
    const [record] = accessRecords(server, "seconds=4.5");
    assert.equal(record!.status, 499);
    assert.equal(record!.disconnected, true);
    assert.equal(record!.workerMs, 0, "it never reached the worker");
    // Not run: the worker is free at once for the next request (the dropped one would hold it 4.5 s).
    const next = await request(`${server.url}/add?x=1&y=2`);
    assert.deepEqual(next.json, { result: 3 });
    assert.match((await request(`${server.url}/metrics`)).text, /neutrino_requests_total\{route="\/sleep",method="GET",status="499"\} 1/);
  });

  it("one whose client resets mid-body is logged 499 and never reaches the worker", async () => {
    const socket = netConnect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    // Expect: 100-continue, so the server says when it has the head (and routed it); then the
    // reset, before any of the body. (With part of the body unread before it, the server may see
    // the end of the stream instead, which is the 400 of a body cut short: logged too.)
    socket.write("POST /echo?n=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
    await new Promise<void>((resolve) => socket.once("data", () => resolve()));
    socket.resetAndDestroy();
    await waitFor(() => accessRecords(server, "n=1").length === 1, 10_000, "the record of the request cut short");
    const [record] = accessRecords(server, "n=1");
    assert.equal(record!.status, 499, JSON.stringify(record));
    assert.equal(record!.workerMs, 0);
    assert.match(String(record!.detail), /went away before sending the whole request body/);
  });

  it("one running when its client resets: the answer is dropped and logged 499, not 200", async () => {
    await resetAfter(`${server.url}/sleep?seconds=0.55`, 200);
    await waitFor(() => accessRecords(server, "seconds=0.55").length === 1, 10_000, "its record");
    assert.equal(accessRecords(server, "seconds=0.55")[0]!.status, 499);
    assert.deepEqual((await request(`${server.url}/add?x=2&y=2`)).json, { result: 4 });
  });
});

describe("a client that resets its HTTP/2 stream before its answer (one sequential worker)", () => {
  let certs: CertFiles;
  let server: RunningServer;
  before(async () => {
    certs = makeCert(certDir(), "localhost");
    server = await startServer(APP, ["--workers", "1", "--access-log", "--no-prefetch", "--ssl-certfile", certs.cert, "--ssl-keyfile", certs.key]);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    removeDir(certs.dir);
  });

  it("the queued request is dropped and logged 499; the session serves on", async () => {
    const origin = `https://localhost:${server.port}`;
    const session = http2Connect(origin, { ca: certs.certPem });
    try {
      const ahead = h2Request(session, "/sleep?seconds=0.6");
      await waitFor(async () => /^neutrino_workers\{state="busy"\} 1$/m.test((await h2Request(session, "/metrics")).text), 10_000, "the worker busy");
      const cancelled = session.request({ ":path": "/sleep?seconds=4.6" });
      cancelled.on("error", () => {});
      setTimeout(() => cancelled.close(constants.NGHTTP2_CANCEL), 100);
      assert.equal((await ahead).status, 200);
      await waitFor(() => accessRecords(server, "seconds=4.6").length === 1, 10_000, "the reset request's record");
      const [record] = accessRecords(server, "seconds=4.6");
      assert.equal(record!.status, 499);
      assert.equal(record!.protocol, "HTTP/2");
      assert.equal(record!.workerMs, 0, "it never reached the worker");
      const next = await h2Request(session, "/add?x=1&y=2");
      assert.deepEqual(next.json, { result: 3 });
    } finally {
      session.close();
    }
  });

  it("a stream reset mid-body: its partial body is not handed to the handler as whole, and it is logged 499", async () => {
    const session = http2Connect(`https://localhost:${server.port}`, { ca: certs.certPem });
    try {
      const upload = session.request({ ":method": "POST", ":path": "/echo?n=2", "content-type": "application/json", "content-length": "100" }, { endStream: false });
      upload.on("error", () => {});
      upload.write('{"value": 1');
      // A round trip on the same session: the server has read the upload's frames, which came first.
      assert.equal((await h2Request(session, "/add?x=0&y=0")).status, 200);
      upload.close(constants.NGHTTP2_CANCEL);
      await waitFor(() => accessRecords(server, "n=2").length === 1, 10_000, "the record of the request cut short");
      const [record] = accessRecords(server, "n=2");
      assert.equal(record!.status, 499);
      assert.equal(record!.workerMs, 0, "the truncated body went to the worker");
      assert.match(String(record!.detail), /went away before sending the whole request body/);
      assert.deepEqual((await h2Request(session, "/add?x=1&y=1")).json, { result: 2 });
    } finally {
      session.close();
    }
  });
});
