/**
 * HTTPS through the real CLI: HTTP/2 negotiated by ALPN and HTTP/1.1 for clients without it, with
 * real clients (node:http2, node:https, curl) checking a self-signed certificate made for the test;
 * the certificate re-read on SIGHUP; an encrypted key; client certificates; HTTP/2 connections
 * ended by a GOAWAY when the server drains; WebSockets over TLS (wss://) beside HTTP/2.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { runCli, startServer, type RunningServer } from "../support/server.js";
import { certDir, h2Get, h2Request, httpsGet, makeCert, removeDir, servedCommonName, type CertFiles } from "../support/tls.js";
import { waitFor } from "../support/wait.js";
import { WsClient } from "../support/ws-client.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/edge_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/edge_app.ts:app" },
] as const;

const tlsFlags = (c: CertFiles): string[] => ["--ssl-certfile", c.cert, "--ssl-keyfile", c.key];
const accessRecords = (server: RunningServer): Record<string, unknown>[] => server.logs().filter((r) => r.log === "access");

for (const { runtime, app } of apps) {
  describe(`TLS, HTTP/2 and HTTP/1.1 (${runtime})`, () => {
    let dir: string;
    let certs: CertFiles;
    let server: RunningServer;
    let origin: string;

    before(async () => {
      dir = certDir();
      certs = makeCert(dir, "neutrino-test");
      server = await startServer(app, ["--workers", "1", "--access-log", "--max-body-size", "64", ...tlsFlags(certs)]);
      origin = server.url;
    });

    after(async () => {
      await server?.stop();
      removeDir(dir);
    });

    it("the start-up line names an https URL", () => {
      assert.match(origin, /^https:\/\/127\.0\.0\.1:\d+$/);
    });

    it("HTTP/2 by ALPN: the handler sees https, the :authority as Host and the client's address; no connection-level header", async () => {
      const r = await h2Get(origin, "/who?x=1", certs.certPem, { "user-agent": "h2-test" });
      assert.equal(r.alpn, "h2");
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.scheme, "https");
      assert.equal(r.json.host, `127.0.0.1:${server.port}`);
      assert.match(r.json.client[0], /^(::ffff:)?127\.0\.0\.1$/);
      assert.ok(r.json.client[1] > 0);
      for (const name of ["connection", "keep-alive", "transfer-encoding"]) assert.equal(r.headers[name], undefined, name);
      assert.ok(r.headers["x-request-id"]);
    });

    it("HTTP/1.1 over TLS for a client that does not offer h2", async () => {
      const r = await httpsGet(`${origin}/who`, certs.certPem, { "user-agent": "h1-test" });
      assert.equal(r.alpn, false);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.scheme, "https");
      assert.equal(r.json.host, `127.0.0.1:${server.port}`);
    });

    it("errors over HTTP/2 are the same JSON errors, a 413 included, without a connection header", async () => {
      const session = http2Connect(origin, { ca: certs.certPem });
      try {
        const missing = await h2Request(session, "/nope");
        // Bounded, unlike Node's default of 2^32 - 1 streams per connection.
        assert.equal(session.remoteSettings.maxConcurrentStreams, 128);
        assert.equal(missing.status, 404);
        assert.equal(missing.json.error, "Not Found");
        const big = await h2Request(session, "/who", { "content-type": "application/json" }, JSON.stringify({ pad: "x".repeat(200) }));
        assert.equal(big.status, 413);
        assert.match(big.json.detail, /larger than the limit of 64 bytes/);
        assert.equal(big.headers.connection, undefined);
      } finally {
        session.close();
      }
      // Node drops connection headers on HTTP/2 with a process warning; the server never sets one there.
      assert.doesNotMatch(server.stderr(), /Warning/);
    });

    it("HTTP/2 methods no HTTP/1 parser knows: a 501 each, counted under one method label", async () => {
      const session = http2Connect(origin, { ca: certs.certPem });
      try {
        for (const method of ["BREW1", "BREW2", "get"]) {
          const r = await h2Request(session, "/plain", { ":method": method });
          assert.equal(r.status, 501, r.text);
          assert.equal(r.json.detail, `the method ${method} is not implemented`);
        }
      } finally {
        session.close();
      }
      const metrics = (await h2Get(origin, "/metrics", certs.certPem)).text;
      assert.doesNotMatch(metrics, /method="(BREW1|BREW2|get)"/, "one series per method sent would grow without bound");
      assert.match(metrics, /neutrino_requests_total\{route="\(none\)",method="other",status="501"\} 3/);
    });

    if (runtime === "python") {
      // A Fetch API Headers object refuses CR/LF, so only a Python handler can send one.
      it("a header value with CR/LF is the same 502 over HTTP/2 as over HTTP/1.1, never a reset stream", async () => {
        const session = http2Connect(origin, { ca: certs.certPem });
        try {
          const split = await h2Request(session, "/split-header");
          assert.equal(split.status, 502);
          assert.match(split.json.detail, /the worker sent an invalid response: Invalid character in header content/);
          assert.equal(split.headers["x-split"], undefined);
          assert.equal((await h2Request(session, "/plain")).status, 200, "the connection serves on");
        } finally {
          session.close();
        }
        assert.equal((await httpsGet(`${origin}/split-header`, certs.certPem, {})).status, 502);
      });
    }

    it("curl --http2 negotiates HTTP/2 and trusts the certificate given with --cacert", async () => {
      const { stdout } = await promisify(execFile)("curl", ["-s", "--http2", "--cacert", certs.cert, "-w", "\\n%{http_version}", `https://localhost:${server.port}/plain`]);
      const [body, version] = stdout.split("\n");
      assert.deepEqual(JSON.parse(body!), { ok: true });
      assert.equal(version, "2");
    });

    it("the access log says the protocol, the query, the user agent and the response size", async () => {
      await waitFor(() => accessRecords(server).some((r) => r.userAgent === "h1-test"));
      const h2 = accessRecords(server).find((r) => r.userAgent === "h2-test")!;
      const h1 = accessRecords(server).find((r) => r.userAgent === "h1-test")!;
      assert.equal(h2.protocol, "HTTP/2");
      assert.equal(h2.query, "x=1");
      assert.equal(h2.path, "/who");
      assert.equal(typeof h2.bytes, "number");
      assert.ok((h2.bytes as number) > 0);
      assert.match(h2.client as string, /127\.0\.0\.1$/);
      assert.equal(h1.protocol, "HTTP/1.1");
      assert.equal(h1.query, "");
    });
  });
}

describe("TLS certificates (python)", () => {
  const app = apps[0].app;

  it("SIGHUP serves the new certificate to new connections; one that does not load is logged and the old one kept", async () => {
    const dir = certDir();
    const first = makeCert(dir, "first");
    const server = await startServer(app, ["--workers", "1", ...tlsFlags(first)]);
    try {
      assert.equal(await servedCommonName(server.port), "first");
      const second = makeCert(dir, "second");
      server.proc.kill("SIGHUP");
      await waitFor(async () => (await servedCommonName(server.port)) === "second", 10_000, "the new certificate");
      assert.ok(server.logs().some((r) => /reloaded the TLS certificate/.test(r.msg as string)));
      writeFileSync(first.cert, "not a certificate\n");
      server.proc.kill("SIGHUP");
      await waitFor(() => server.logs().some((r) => /TLS certificate not reloaded/.test(r.msg as string)), 10_000, "the error record");
      assert.equal(await servedCommonName(server.port), "second");
      const r = await h2Get(server.url, "/plain", second.certPem);
      assert.equal(r.status, 200);
    } finally {
      await server.stop();
      removeDir(dir);
    }
  });

  it("an encrypted key opens with --ssl-keyfile-password, and without it the server does not start", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "locked", "server", "s3cret");
    try {
      const without = runCli(["serve", app, "--port", "0", "--workers", "1", ...tlsFlags(certs)]);
      assert.equal(await without.exited, 1);
      assert.match(without.err(), /cannot use --ssl-certfile .*server\.crt with --ssl-keyfile .*server\.key/);
      const server = await startServer(app, ["--workers", "1", ...tlsFlags(certs), "--ssl-keyfile-password", "s3cret"]);
      try {
        assert.equal((await h2Get(server.url, "/plain", certs.certPem)).status, 200);
      } finally {
        await server.stop();
      }
    } finally {
      removeDir(dir);
    }
  });

  it("a certificate file that is not there: the server says which and exits 1; a key without a certificate is a usage error", async () => {
    const run = runCli(["serve", app, "--port", "0", "--ssl-certfile", "/nonexistent/cert.pem"]);
    assert.equal(await run.exited, 1);
    assert.match(run.err(), /--ssl-certfile \/nonexistent\/cert\.pem: no such file/);
    const keyOnly = runCli(["serve", app, "--port", "0", "--ssl-keyfile", "/tmp/key.pem"]);
    assert.equal(await keyOnly.exited, 2);
    assert.match(keyOnly.err(), /--ssl-keyfile needs --ssl-certfile/);
  });

  it("--ssl-cert-reqs 2 refuses a client without a certificate signed by --ssl-ca-certs", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "server");
    const client = makeCert(dir, "client", "client");
    const server = await startServer(app, ["--workers", "1", ...tlsFlags(certs), "--ssl-ca-certs", client.cert, "--ssl-cert-reqs", "2"]);
    try {
      await assert.rejects(h2Get(server.url, "/plain", certs.certPem));
      const session = http2Connect(server.url, { ca: certs.certPem, cert: client.certPem, key: readFileSync(client.key) });
      try {
        assert.equal((await h2Request(session, "/plain")).status, 200);
      } finally {
        session.close();
      }
    } finally {
      await server.stop();
      removeDir(dir);
    }
  });

  it("HTTP/1.1 over TLS keeps --header-timeout: a request head that never ends gets a 408", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "server");
    const server = await startServer(app, ["--workers", "1", ...tlsFlags(certs), "--header-timeout", "1"]);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ port: server.port, host: "127.0.0.1", ca: certs.certPem }, () => socket.write("GET /plain HTTP/1.1\r\nHost: x\r\n"));
        let text = "";
        socket.setEncoding("utf8").on("data", (d: string) => (text += d));
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
      });
      assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    } finally {
      await server.stop();
      removeDir(dir);
    }
  });

  it("HTTP/2 keeps --body-timeout: a request body that stops moving gets a 408, and the stream's worker serves again", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "server");
    const server = await startServer(app, ["--workers", "1", ...tlsFlags(certs), "--body-timeout", "1", "--access-log"]);
    const session = http2Connect(server.url, { ca: certs.certPem });
    try {
      const late = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const stream = session.request({ ":path": "/who", ":method": "POST", "content-type": "application/json", "user-agent": "h2-slow" });
        let status = 0;
        let text = "";
        stream.setEncoding("utf8");
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.on("data", (d: string) => (text += d));
        stream.on("close", () => resolve({ status, text }));
        stream.on("error", reject);
        stream.write('{"a": '); // and nothing more
      });
      assert.equal(late.status, 408);
      assert.match(late.text, /did not arrive within --body-timeout/);
      await waitFor(() => accessRecords(server).some((r) => r.userAgent === "h2-slow" && r.status === 408 && r.protocol === "HTTP/2"), 10_000, "the 408's access record");
      const next = await h2Request(session, "/who", { "content-type": "application/json" }, "{}");
      assert.equal(next.status, 200, next.text);
    } finally {
      session.close();
      await server.stop();
      removeDir(dir);
    }
  });

  it("draining sends open HTTP/2 connections a GOAWAY, and the server exits", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "server");
    const server = await startServer(app, ["--workers", "1", ...tlsFlags(certs)]);
    const session = http2Connect(server.url, { ca: certs.certPem });
    let goaway = false;
    session.on("goaway", () => (goaway = true));
    session.on("error", () => {});
    try {
      assert.equal((await h2Request(session, "/plain")).status, 200);
      assert.equal(await server.stop("SIGTERM"), 0);
      await waitFor(() => session.closed || session.destroyed, 10_000, "the session to close");
      assert.ok(goaway, "no GOAWAY before the connection closed");
    } finally {
      session.destroy();
      await server.stop();
      removeDir(dir);
    }
  });

  it("wss://: a WebSocket over TLS (HTTP/1.1, as browsers open one) beside HTTP/2 on the same port", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "server");
    const server = await startServer("tests/fixtures/ws_app.py:app", ["--workers", "1", ...tlsFlags(certs)]);
    try {
      const client = await WsClient.open(`${server.url.replace(/^https/, "wss")}/echo`, [], { ca: certs.certPem });
      client.ws.send("over tls");
      assert.equal(await client.next(), "over tls");
      client.ws.send(Buffer.from([1, 2, 3]));
      assert.deepEqual(await client.next(), Buffer.from([1, 2, 3]));
      client.ws.send("close");
      assert.deepEqual(await client.whenClosed(), { code: 4000, reason: "bye" });
      const h2 = await h2Get(server.url, "/closed", certs.certPem);
      assert.equal(h2.alpn, "h2");
      assert.equal(h2.status, 200, h2.text);
    } finally {
      await server.stop();
      removeDir(dir);
    }
  });
});
