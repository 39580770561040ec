/**
 * Clients too slow to send their request, through the real CLI in both runtimes: a head that never
 * ends and a body that stops arriving each get their 408 (a body to a buffered route and to a
 * streamed one alike), a body that cannot be parsed or that the client cuts short its 400 at once
 * (a streamed upload cut short: a client gone, 499), the connection closes, and every refusal is counted in
 * `neutrino_requests_total` and written to the access log with the client its trusted proxy named,
 * so an operator sees who sends them. The worker serves the next request.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request, startServer, type RunningServer } from "../support/server.js";
import { RawConnection } from "../support/raw-http.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/stream_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/stream_app.ts:app" },
] as const;

async function counted(server: RunningServer, route: string, method: string, status: number): Promise<number> {
  const text = (await request(`${server.url}/metrics`)).text;
  const line = text.split("\n").find((l) => l.startsWith(`neutrino_requests_total{route="${route}",method="${method}",status="${status}"}`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

function accessRecords(server: RunningServer, status: number): Record<string, unknown>[] {
  return server.logs().filter((r) => r.log === "access" && r.status === status);
}

for (const { runtime, app } of apps) {
  describe(`clients too slow to send their request (${runtime})`, () => {
    let server: RunningServer;

    before(async () => {
      // Node's request timeout cannot be shorter than its headers timeout: both are 1 s here.
      server = await startServer(app, ["--workers", "1", "--access-log", "--header-timeout", "1", "--body-timeout", "1"]);
    });

    after(async () => {
      await server?.stop();
    });

    for (const route of ["/buffered-upload", "/upload"]) {
      it(`a body that stops arriving gets a 408 on ${route}, counted and logged with the client a trusted proxy named`, async () => {
        const before = await counted(server, route, "POST", 408);
        const conn = await RawConnection.open(server.port);
        conn.write(
          `POST ${route} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nUser-Agent: slow-${route}\r\n` +
            "Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789",
        );
        const [answer] = await conn.waitForResponses(1);
        assert.equal(answer!.status, 408);
        assert.match(answer!.body, /did not arrive within --body-timeout/);
        assert.equal(answer!.headers.connection, "close");
        await conn.waitForClose();
        assert.equal(await counted(server, route, "POST", 408), before + 1);
        await waitFor(() => accessRecords(server, 408).some((r) => r.userAgent === `slow-${route}`), 10_000, "the 408's access record");
        const record = accessRecords(server, 408).find((r) => r.userAgent === `slow-${route}`)!;
        assert.equal(record.client, "203.0.113.7");
        assert.equal(record.route, route);
        assert.equal(record.path, route);
        // The worker is free: a whole upload is answered.
        const ok = await request(`${server.url}${route}`, { method: "POST", body: "x".repeat(1000) });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.bytes, 1000);
      });
    }

    for (const route of ["/buffered-upload", "/upload"]) {
      it(`a chunked body that cannot be parsed gets a 400 on ${route} at once, not a 408 when --body-timeout ends`, async () => {
        const before = await counted(server, route, "POST", 400);
        const conn = await RawConnection.open(server.port);
        // A good first chunk, then a chunk size that is not hexadecimal.
        conn.write(`POST ${route} HTTP/1.1\r\nHost: x\r\nUser-Agent: bad-chunk-${route}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n`);
        const [answer] = await conn.waitForResponses(1);
        assert.equal(answer!.status, 400, answer!.body);
        assert.match(answer!.body, /malformed HTTP request body: Parse Error: Invalid character in chunk size/);
        assert.equal(answer!.headers.connection, "close");
        await conn.waitForClose();
        assert.equal(conn.responses().length, 1, conn.raw());
        assert.equal(await counted(server, route, "POST", 400), before + 1);
        await waitFor(() => accessRecords(server, 400).some((r) => r.userAgent === `bad-chunk-${route}`), 10_000, "the 400's access record");
        assert.equal(accessRecords(server, 400).find((r) => r.userAgent === `bad-chunk-${route}`)!.route, route);
        // The worker is free: a whole upload is answered.
        const ok = await request(`${server.url}${route}`, { method: "POST", body: "x".repeat(1000) });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.bytes, 1000);
      });
    }

    it("a body that cannot be parsed after its request was answered (404) ends the connection with no second answer", async () => {
      const conn = await RawConnection.open(server.port);
      conn.write("POST /no-such-path HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n");
      const [answer] = await conn.waitForResponses(1);
      assert.equal(answer!.status, 404);
      await conn.waitForClose();
      assert.equal(conn.responses().length, 1, conn.raw());
    });

    it("a head that never ends gets a 408, counted and logged with the peer as its client (no header was read)", async () => {
      const before = await counted(server, "(none)", "(none)", 408);
      const conn = await RawConnection.open(server.port);
      conn.write("GET /buffered-upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1\r\n");
      const [answer] = await conn.waitForResponses(1);
      assert.equal(answer!.status, 408);
      await conn.waitForClose();
      assert.equal(await counted(server, "(none)", "(none)", 408), before + 1);
      await waitFor(() => accessRecords(server, 408).some((r) => r.requestId === answer!.headers["x-request-id"]), 10_000, "the access record");
      const record = accessRecords(server, 408).find((r) => r.requestId === answer!.headers["x-request-id"])!;
      assert.equal(record.client, "127.0.0.1");
      assert.equal(record.route, null);
    });

    it("the server's own refusals (404, 405, 413) are in the access log too", async () => {
      const agent = `refused-${runtime}`;
      assert.equal((await request(`${server.url}/no-such-path`, { headers: { "user-agent": agent } })).status, 404);
      assert.equal((await request(`${server.url}/upload`, { headers: { "user-agent": agent } })).status, 405);
      // Refused on its declared length (a client still uploading when the connection closes sees an error, not the 413).
      const conn = await RawConnection.open(server.port);
      conn.write(`POST /buffered-upload HTTP/1.1\r\nHost: x\r\nUser-Agent: ${agent}\r\nContent-Length: ${17 * 1024 * 1024}\r\n\r\n`);
      const [big] = await conn.waitForResponses(1);
      conn.close();
      assert.equal(big!.status, 413);
      await waitFor(() => server.logs().filter((r) => r.log === "access" && r.userAgent === agent).length === 3, 10_000, "three access records");
      const statuses = server.logs().filter((r) => r.log === "access" && r.userAgent === agent).map((r) => [r.status, r.route]);
      assert.deepEqual(statuses, [
        [404, null],
        [405, "/upload"],
        [413, "/buffered-upload"],
      ]);
    });
  });

  // The default --body-timeout (60 s): a connection left open would outlive the test's waits.
  describe(`clients that close their side mid-body (${runtime})`, () => {
    let server: RunningServer;

    before(async () => {
      server = await startServer(app, ["--workers", "1", "--access-log"]);
    });

    after(async () => {
      await server?.stop();
    });

    it("a body the client cuts short by closing its side gets a 400 on /buffered-upload, and the connection closes", async () => {
      const conn = await RawConnection.open(server.port);
      conn.end("POST /buffered-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
      const [answer] = await conn.waitForResponses(1);
      assert.equal(answer!.status, 400);
      assert.match(answer!.body, /the client closed the connection before sending the whole request body/);
      await conn.waitForClose();
    });

    it("a streamed upload the client cuts short by closing its side is a client gone: 499, and the server closes the connection", async () => {
      const conn = await RawConnection.open(server.port);
      conn.write("POST /upload HTTP/1.1\r\nHost: x\r\nUser-Agent: cut-upload\r\nContent-Length: 100\r\n\r\n0123456789");
      // The worker has the upload once the open-streams count shows it.
      await waitFor(async () => /neutrino_streams_open\{kind="request"\} 1/.test((await request(`${server.url}/metrics`)).text), 10_000, "the upload");
      conn.end("");
      // Before, the server kept its side open for good (CLOSE-WAIT), waiting for the rest.
      await conn.waitForClose();
      assert.equal(conn.raw(), "");
      await waitFor(() => server.logs().some((r) => r.log === "access" && r.userAgent === "cut-upload"), 10_000, "the access record");
      assert.equal(server.logs().find((r) => r.log === "access" && r.userAgent === "cut-upload")!.status, 499);
      const ok = await request(`${server.url}/upload`, { method: "POST", body: "x".repeat(1000) });
      assert.equal(ok.status, 200, ok.text);
    });
  });
}
