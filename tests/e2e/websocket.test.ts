/**
 * WebSockets end to end through the real CLI, a real `ws` client and both runtimes: messages both
 * ways, closes from either side with their codes, subprotocols, the size limit, the answers to
 * requests that are not WebSocket handshakes, and the counts in /metrics. ws_app.py and ws_app.ts
 * are twins: every case runs against each.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { exchange } from "../support/raw-http.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";
import { WsClient, wsUrl } from "../support/ws-client.js";

const apps: { runtime: string; app: string }[] = [
  { runtime: "python", app: "tests/fixtures/ws_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/ws_app.ts:app" },
];

/** The value of the sample line `name` in a /metrics scrape (0 when absent). */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

for (const { runtime, app } of apps) {
  describe(`WebSockets (${runtime})`, () => {
    let server: RunningServer;
    let ws: string;
    before(async () => {
      // One worker: /closed reports what its handlers saw. A small --ws-max-size for the 1009 case.
      server = await startServer(app, ["--workers", "1", "--ws-max-size", "65536", "--status-page", "--access-log"]);
      ws = wsUrl(server.url);
    });
    after(async () => {
      await server.stop();
    });

    const closedByHandler = async (): Promise<[number, string][]> => (await request(`${server.url}/closed`)).json.closed;

    it("echoes text as text and binary as binary, in order", async () => {
      const client = await WsClient.open(`${ws}/echo`);
      client.ws.send("héllo");
      client.ws.send(Buffer.from([0, 1, 2, 255]));
      client.ws.send("x".repeat(60_000));
      assert.equal(await client.next(), "héllo");
      assert.deepEqual(await client.next(), Buffer.from([0, 1, 2, 255]));
      assert.equal(await client.next(), "x".repeat(60_000));
      client.ws.close(1000);
      assert.equal((await client.whenClosed()).code, 1000);
    });

    it("the handler's close reaches the client with its code and reason", async () => {
      const client = await WsClient.open(`${ws}/echo`);
      client.ws.send("close");
      assert.deepEqual(await client.whenClosed(), { code: 4000, reason: "bye" });
    });

    it("a handler that returns closes with 1000; one that raises closes with 1011", async () => {
      const once = await WsClient.open(`${ws}/once`);
      assert.equal(await once.next(), "once");
      assert.equal((await once.whenClosed()).code, 1000);
      const fail = await WsClient.open(`${ws}/fail`);
      fail.ws.send("go");
      const closed = await fail.whenClosed();
      assert.equal(closed.code, 1011);
      assert.doesNotMatch(closed.reason, /broke/, "the exception's text stays in the server log");
      // The worker survived: the next connection works.
      const echo = await WsClient.open(`${ws}/echo`);
      echo.ws.send("alive");
      assert.equal(await echo.next(), "alive");
      echo.ws.close();
      await echo.whenClosed();
    });

    it("the client's close reaches the handler as WebSocketDisconnect with its code and reason", async () => {
      const client = await WsClient.open(`${ws}/echo`);
      client.ws.send("ping");
      assert.equal(await client.next(), "ping");
      client.ws.close(4001, "done here");
      assert.deepEqual(await client.whenClosed(), { code: 4001, reason: "done here" });
      await waitFor(async () => (await closedByHandler()).some(([c, r]) => c === 4001 && r === "done here"), 10_000, "the handler's WebSocketDisconnect(4001)");
      // One access-log line for the connection's life, when it closed.
      const logged = (): Record<string, unknown> | undefined => server.logs().find((r) => r.websocket === true && r.closeCode === 4001);
      await waitFor(() => logged() !== undefined, 10_000, "an access-log line with the close code");
      const line = logged()!;
      assert.equal(line.status, 101);
      assert.equal(line.route, "/echo");
      assert.equal(line.messagesIn, 1);
      assert.equal(line.messagesOut, 1);
    });

    it("a connection dropped without a close frame reaches the handler as 1006", async () => {
      const client = await WsClient.open(`${ws}/echo`);
      client.ws.send("ping");
      assert.equal(await client.next(), "ping");
      client.ws.terminate();
      await waitFor(async () => (await closedByHandler()).some(([c]) => c === 1006), 10_000, "the handler's WebSocketDisconnect(1006)");
    });

    it("negotiates a subprotocol the route speaks, and none when the client offers none", async () => {
      const v1 = await WsClient.open(`${ws}/chat`, ["chat.v1"]);
      assert.equal(v1.ws.protocol, "chat.v1");
      assert.equal(await v1.next(), "chat.v1");
      v1.ws.close();
      // Both listed: the client's order decides (its first that the route speaks).
      const both = await WsClient.open(`${ws}/chat`, ["chat.v1", "chat.v2"]);
      assert.equal(both.ws.protocol, "chat.v1");
      assert.equal(await both.next(), "chat.v1");
      both.ws.close();
      await both.whenClosed();
      const none = await WsClient.open(`${ws}/chat`);
      assert.equal(none.ws.protocol, "");
      assert.equal(await none.next(), "");
      none.ws.send("still talking");
      assert.equal(await none.next(), "still talking");
      none.ws.close();
      await Promise.all([v1.whenClosed(), none.whenClosed()]);
    });

    it("a message over --ws-max-size closes the connection with 1009, and the handler hears 1009", async () => {
      const client = await WsClient.open(`${ws}/echo`);
      client.ws.send(Buffer.alloc(65_537));
      assert.equal((await client.whenClosed()).code, 1009);
      await waitFor(async () => (await closedByHandler()).some(([c]) => c === 1009), 10_000, "the handler's WebSocketDisconnect(1009)");
      // The worker is fine: the next connection works.
      const again = await WsClient.open(`${ws}/echo`);
      again.ws.send(Buffer.alloc(65_536, 7));
      assert.equal(((await again.next()) as Buffer).length, 65_536);
      again.ws.close();
      await again.whenClosed();
    });

    it("a plain request to a WebSocket route is 426 Upgrade Required, as JSON", async () => {
      const r = await request(`${server.url}/echo`);
      assert.equal(r.status, 426, r.text);
      assert.equal(r.headers.get("upgrade"), "websocket");
      assert.equal(r.json.error, "Upgrade Required");
      assert.match(r.json.detail, /WebSocket/);
      assert.ok(r.headers.get("x-request-id"));
    });

    it("a WebSocket handshake to an HTTP route is 400, to no route 404, both as JSON", async () => {
      const http = await WsClient.refused(`${ws}/closed`);
      assert.equal(http.status, 400);
      assert.match(http.headers["content-type"] as string, /application\/json/);
      assert.deepEqual(JSON.parse(http.body), { error: "Bad Request", detail: "/closed does not take WebSocket connections" });
      const none = await WsClient.refused(`${ws}/nowhere`);
      assert.equal(none.status, 404);
      assert.deepEqual(JSON.parse(none.body), { error: "Not Found", detail: "no route for GET /nowhere" });
      // HTTP routes still answer as usual on the same server.
      assert.equal((await request(`${server.url}/closed`)).status, 200);
    });

    it("a handshake on an HTTP/1.0 request line is a JSON 400, on HTTP/2.0 a 505 (RFC 6455 needs HTTP/1.1)", async () => {
      const handshake = (version: string): string =>
        `GET /echo HTTP/${version}\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
      const [old] = await exchange(server.port, handshake("1.0"));
      assert.equal(old!.status, 400, JSON.stringify(old));
      assert.equal(JSON.parse(old!.body).detail, "a WebSocket handshake needs HTTP/1.1, not HTTP/1.0");
      const [two] = await exchange(server.port, handshake("2.0"));
      assert.equal(two!.status, 505, JSON.stringify(two));
      assert.match(JSON.parse(two!.body).detail, /^HTTP\/2\.0 is not spoken in an HTTP\/1 request line/);
      const [ok] = await exchange(server.port, handshake("1.1"));
      assert.equal(ok!.status, 101, "the same handshake in HTTP/1.1 is accepted");
    });

    it("a handshake without Sec-WebSocket-Version, or with one not spoken, is a 426 saying which; without a key a 400", async () => {
      const handshake = (headers: string): string => `GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n`;
      // Each refusal closes its connection: one exchange each.
      const [missing] = await exchange(server.port, handshake("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
      const [old] = await exchange(server.port, handshake("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n"));
      const [keyless] = await exchange(server.port, handshake("Sec-WebSocket-Version: 13\r\n"));
      assert.equal(missing!.status, 426, JSON.stringify(missing));
      assert.equal(missing!.headers["sec-websocket-version"], "13");
      assert.equal(JSON.parse(missing!.body).detail, "the Sec-WebSocket-Version header is missing (13 is spoken)");
      assert.equal(old!.status, 426, JSON.stringify(old));
      assert.equal(JSON.parse(old!.body).detail, "unsupported Sec-WebSocket-Version (13 is spoken)");
      assert.equal(keyless!.status, 400, JSON.stringify(keyless));
      assert.equal(JSON.parse(keyless!.body).detail, "missing or invalid Sec-WebSocket-Key header");
    });

    it("an upgrade to another protocol (curl --http2 asks for h2c) is ignored: the request is served as HTTP/1.1", async () => {
      const answer = (path: string, method = "GET", body?: string): Promise<{ status: number; connection: string | undefined; body: string }> =>
        new Promise((resolve, reject) => {
          const req = httpRequest(
            `${server.url}${path}`,
            { method, agent: false, headers: { connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAAQAAP__" } },
            (res) => {
              let text = "";
              res.setEncoding("utf8").on("data", (d: string) => (text += d));
              res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: text }));
            },
          );
          req.on("upgrade", () => reject(new Error("the server switched protocols")));
          req.on("error", reject);
          req.end(body);
        });
      const plain = await answer("/closed");
      assert.equal(plain.status, 200, plain.body);
      assert.ok(Array.isArray(JSON.parse(plain.body).closed));
      assert.match(plain.connection ?? "", /close/);
      assert.equal((await answer("/nowhere")).status, 404);
      assert.equal((await answer("/echo")).status, 426);
      // Node stops parsing at the head of an upgrade, so a body cannot be read: a clear 400.
      const withBody = await answer("/closed", "POST", "{}");
      assert.equal(withBody.status, 400);
      assert.match(JSON.parse(withBody.body).detail, /without the Upgrade header/);
    });

    it("/metrics counts open WebSockets and messages both ways; the handshake is a 101", async () => {
      const before = (await request(`${server.url}/metrics`)).text;
      const client = await WsClient.open(`${ws}/echo`);
      client.ws.send("one");
      client.ws.send("two");
      assert.equal(await client.next(), "one");
      assert.equal(await client.next(), "two");
      const during = (await request(`${server.url}/metrics`)).text;
      assert.equal(sample(during, 'neutrino_streams_open{kind="websocket"}'), 1);
      assert.equal((await request(`${server.url}/_neutrino/status.json`)).json.streams.websocket, 1);
      const inBefore = sample(before, 'neutrino_websocket_messages_total{direction="in"}');
      const outBefore = sample(before, 'neutrino_websocket_messages_total{direction="out"}');
      assert.equal(sample(during, 'neutrino_websocket_messages_total{direction="in"}') - inBefore, 2);
      assert.equal(sample(during, 'neutrino_websocket_messages_total{direction="out"}') - outBefore, 2);
      assert.ok(sample(during, 'neutrino_requests_total{route="/echo",method="GET",status="101"}') >= 1);
      // An open WebSocket holds a worker slot: the worker is busy.
      assert.equal(sample(during, 'neutrino_workers{state="busy"}'), 1);
      client.ws.close();
      await client.whenClosed();
      await waitFor(async () => sample((await request(`${server.url}/metrics`)).text, 'neutrino_streams_open{kind="websocket"}') === 0);
    });
  });
}

describe("--ws-per-message-deflate", () => {
  const APP = "tests/fixtures/ws_app.py:app";
  /** Bytes the client read from its socket so far (the compressed size, when compressed). */
  const bytesRead = (client: WsClient): number => (client.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;

  it("is off by default: a client's offer of compression is declined", async () => {
    const server = await startServer(APP, ["--workers", "1"]);
    try {
      const client = await WsClient.open(`${wsUrl(server.url)}/echo`); // ws offers permessage-deflate
      assert.equal(client.ws.extensions, "");
      client.ws.send("x".repeat(60_000));
      assert.equal(await client.next(), "x".repeat(60_000));
      assert.ok(bytesRead(client) > 60_000);
      client.ws.close();
      await client.whenClosed();
    } finally {
      await server.stop();
    }
  });

  it("compresses both ways with a client that offers it, and --ws-max-size bounds what it inflates to", async () => {
    const server = await startServer(APP, ["--workers", "1", "--ws-per-message-deflate", "--ws-max-size", "65536"]);
    try {
      const client = await WsClient.open(`${wsUrl(server.url)}/echo`);
      assert.match(client.ws.extensions, /^permessage-deflate/);
      client.ws.send("x".repeat(60_000));
      client.ws.send("short");
      assert.equal(await client.next(), "x".repeat(60_000));
      assert.equal(await client.next(), "short");
      assert.ok(bytesRead(client) < 5_000, `${bytesRead(client)} bytes on the wire for 60 kB of echo`);
      // 200 kB of one letter is a few hundred bytes compressed: still over the limit once inflated.
      client.ws.send("x".repeat(200_000));
      assert.equal((await client.whenClosed()).code, 1009);
    } finally {
      await server.stop();
    }
  });
});
