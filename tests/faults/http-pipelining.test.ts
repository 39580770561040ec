/**
 * Pipelined requests on one keep-alive connection (RFC 9112 §9.3.2): every request is answered,
 * in order, even while the first is still with the only worker; after a request that cannot be
 * parsed, the answers to the requests before it, then the 400, then the connection closes. One
 * worker holding one request at a time, so later requests wait in the queue behind the first.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ONE_REQUEST_PER_WORKER, testApps } from "../support/apps.js";
import { RawConnection } from "../support/raw-http.js";
import { startServer, type RunningServer } from "../support/server.js";

const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

for (const { language, app } of testApps) {
  describe(`pipelined requests (${language})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1", ...ONE_REQUEST_PER_WORKER]);
    });
    after(async () => {
      await server.stop();
    });

    it("answers two GETs sent in one write, in order, while the first is still running", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(get("/sleep?seconds=0.3") + get("/add?x=1&y=1"));
        const [first, second] = await conn.waitForResponses(2);
        assert.equal(first!.status, 200);
        assert.equal(JSON.parse(first!.body).slept, 0.3);
        assert.equal(second!.status, 200);
        assert.deepEqual(JSON.parse(second!.body), { result: 2 });
        assert.equal(conn.closed, false, "the connection stays open for more");
        conn.write(get("/add?x=2&y=2"));
        const third = (await conn.waitForResponses(3))[2]!;
        assert.deepEqual(JSON.parse(third.body), { result: 4 });
      } finally {
        conn.close();
      }
    });

    it("answers ten pipelined requests in the order they were sent", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        let data = get("/sleep?seconds=0.1");
        for (let i = 1; i < 10; i++) data += get(`/add?x=${i}&y=0`);
        conn.write(data);
        const responses = await conn.waitForResponses(10);
        assert.deepEqual(
          responses.slice(1).map((r) => JSON.parse(r.body).result),
          [1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
      } finally {
        conn.close();
      }
    });

    it("answers every pipelined request of a client that half-closes after sending them, then closes", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.end(get("/sleep?seconds=0.3") + get("/add?x=1&y=1"));
        await conn.waitForClose();
        const responses = conn.responses();
        assert.deepEqual(responses.map((r) => r.status), [200, 200], conn.raw());
        assert.deepEqual(JSON.parse(responses[1]!.body), { result: 2 });
      } finally {
        conn.close();
      }
    });

    it("answers the valid request before a malformed one, then the 400, then closes", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(get("/sleep?seconds=0.3") + "G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        await conn.waitForClose();
        const responses = conn.responses();
        assert.deepEqual(
          responses.map((r) => r.status),
          [200, 400],
          conn.raw(),
        );
        assert.equal(JSON.parse(responses[0]!.body).slept, 0.3);
        assert.equal(responses[1]!.statusLine, "HTTP/1.1 400 Bad Request");
        assert.match(JSON.parse(responses[1]!.body).detail, /malformed HTTP request/);
        assert.equal(responses[1]!.headers.connection, "close");
      } finally {
        conn.close();
      }
    });
  });
}
