/**
 * --max-connections: past the limit of open client connections, a request (or a WebSocket
 * handshake) gets a JSON 503 with Retry-After and its connection closes, over plain HTTP, HTTP/1.1
 * over TLS and HTTP/2, while the connections within the limit are served as usual; once they close
 * the server takes new ones again. Real sockets and clients through the CLI.
 */
import assert from "node:assert/strict";
import { connect as http2Connect } from "node:http2";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { describe, it } from "node:test";
import { RawConnection } from "../support/raw-http.js";
import { request, startServer } from "../support/server.js";
import { certDir, h2Request, httpsGet, makeCert, removeDir } from "../support/tls.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/ws_app.py:app";
const DETAIL = "the server is at its limit of 2 open connections: retry later";
const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
const handshake =
  "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/** A request on a new connection, which the server must refuse and close. */
async function refusedOn(port: number, data: string): Promise<void> {
  const conn = await RawConnection.open(port);
  try {
    conn.write(data);
    const [response] = await conn.waitForResponses(1);
    assert.equal(response!.status, 503, JSON.stringify(response));
    assert.equal(response!.headers["content-type"], "application/json");
    assert.equal(JSON.parse(response!.body).detail, DETAIL);
    await conn.waitForClose();
  } finally {
    conn.close();
  }
}

describe("--max-connections", () => {
  it("past the limit a request or a WebSocket handshake is a JSON 503 that closes its connection; those within are served; freed, the server takes new ones", async () => {
    const server = await startServer(APP, ["--workers", "1", "--max-connections", "2"]);
    const held = [await RawConnection.open(server.port), await RawConnection.open(server.port)];
    try {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(get("/closed"));
        const [response] = await conn.waitForResponses(1);
        assert.equal(response!.status, 503);
        assert.equal(response!.headers["retry-after"], "1");
        assert.equal(response!.headers.connection, "close");
        await conn.waitForClose();
      } finally {
        conn.close();
      }
      await refusedOn(server.port, handshake);
      // The connections within the limit are served, one after the other.
      for (const conn of held) {
        conn.write(get("/closed"));
        assert.equal((await conn.waitForResponses(1))[0]!.status, 200);
      }
    } finally {
      for (const conn of held) conn.close();
    }
    await waitFor(async () => (await request(`${server.url}/closed`)).status === 200, 10_000, "a new connection served once the held ones closed");
    const metrics = await request(`${server.url}/metrics`);
    assert.match(metrics.text, /neutrino_requests_total\{route="\(none\)",method="GET",status="503"\} 2/);
    assert.equal(await server.stop(), 0);
  });

  it("over TLS: HTTP/1.1 and HTTP/2 past the limit get the 503, and the HTTP/2 connection is closed", async () => {
    const dir = certDir();
    const certs = makeCert(dir, "neutrino-test");
    const server = await startServer(APP, ["--workers", "1", "--max-connections", "2", "--ssl-certfile", certs.cert, "--ssl-keyfile", certs.key]);
    const held: TLSSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        held.push(await new Promise<TLSSocket>((resolve, reject) => {
          const socket = tlsConnect({ port: server.port, host: "127.0.0.1", ca: certs.certPem, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () => resolve(socket));
          socket.once("error", reject);
        }));
      }
      const h1 = await httpsGet(`${server.url}/closed`, certs.certPem);
      assert.equal(h1.status, 503);
      assert.equal(h1.json.detail, DETAIL);
      const session = http2Connect(server.url, { ca: certs.certPem });
      const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
      session.on("error", () => {});
      const h2 = await h2Request(session, "/closed");
      assert.equal(h2.alpn, "h2");
      assert.equal(h2.status, 503);
      assert.equal(h2.json.detail, DETAIL);
      await closed; // the server's GOAWAY
    } finally {
      for (const socket of held) socket.destroy();
    }
    await waitFor(async () => (await httpsGet(`${server.url}/closed`, certs.certPem)).status === 200, 10_000, "served once the held connections closed");
    assert.equal(await server.stop(), 0);
    removeDir(dir);
  });
});
