/**
 * What goes out on the wire is valid HTTP whatever a handler answers or a client sends: statuses
 * that cannot be a final answer, bodies where none may be, header values that would split the
 * response, targets and paths the router cannot take, oversize heads. Raw sockets, so the exact
 * bytes are checked, through the real CLI with both SDKs.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { assertHugeHeaderRefused } from "../support/oversized-header.js";
import { exchange, RawConnection, type RawResponse } from "../support/raw-http.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { language: "python", app: "tests/fixtures/hygiene_app.py:app" },
  { language: "typescript", app: "tests/fixtures/hygiene_app.ts:app" },
] as const;

const get = (target: string, headers = "Host: localhost\r\n"): string => `GET ${target} HTTP/1.1\r\n${headers}\r\n`;

function assertJsonError(response: RawResponse, status: number, detail: RegExp): void {
  assert.equal(response.status, status, JSON.stringify(response));
  assert.equal(response.statusLine, `HTTP/1.1 ${status} ${statusText(status)}`);
  assert.equal(response.headers["content-type"], "application/json");
  assert.ok(response.headers.date, "an error the orchestrator writes carries a Date");
  assert.match(JSON.parse(response.body).detail, detail);
}

function statusText(status: number): string {
  return { 400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long", 417: "Expectation Failed", 422: "Unprocessable Entity", 431: "Request Header Fields Too Large", 501: "Not Implemented", 502: "Bad Gateway", 505: "HTTP Version Not Supported" }[status]!;
}

for (const { language, app } of apps) {
  describe(`HTTP response hygiene (${language})`, () => {
    let server: RunningServer;
    let staticDir: string;
    before(async () => {
      staticDir = mkdtempSync(join(tmpdir(), "neutrino-hygiene-"));
      mkdirSync(join(staticDir, "public"));
      writeFileSync(join(staticDir, "public", "hello.txt"), "hello from disk\n");
      server = await startServer(join(repoRoot, app), ["--workers", "1", "--access-log", "--static", "/assets=./public", "--header-timeout", "1"], {
        cwd: staticDir,
      });
    });
    after(async () => {
      await server.stop();
      rmSync(staticDir, { recursive: true, force: true });
    });

    it("a 1xx status from a handler is a 502, never an interim response or a protocol switch", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(get("/status/100") + get("/status/101") + get("/status/103") + get("/status/200"));
        const responses = await conn.waitForResponses(4);
        for (const [i, code] of [100, 101, 103].entries()) {
          assertJsonError(responses[i]!, 502, new RegExp(`status ${code}, which is not a final response`));
          assert.equal(responses[i]!.headers.upgrade, undefined);
        }
        assert.equal(responses[3]!.status, 200, "the connection still serves the next request");
        assert.equal(responses[3]!.body, "body");
      } finally {
        conn.close();
      }
    });

    it("204 and 304 carry neither a body nor a content-length, whatever the handler sent", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(get("/status/204") + get("/status/304") + get("/status/200?body=after"));
        const responses = await conn.waitForResponses(3);
        for (const response of responses) assert.match(response.statusLine, /^HTTP\/1\.1 \d{3} /, conn.raw());
        for (const response of responses.slice(0, 2)) {
          assert.equal(response.headers["content-length"], undefined, response.statusLine);
          assert.equal(response.headers["transfer-encoding"], undefined, response.statusLine);
        }
        assert.deepEqual(responses.map((r) => r.status), [204, 304, 200]);
        // A stray body after the 204 or 304 would have shown up as the start of the next response.
        assert.equal(responses[2]!.body, "after");
      } finally {
        conn.close();
      }
    });

    if (language === "typescript") {
      it("new Response(null) is an empty body: nothing for 204 and 304, content-length 0 for 200", async () => {
        const conn = await RawConnection.open(server.port);
        try {
          conn.write(get("/null/204") + get("/null/304") + get("/null/200") + get("/status/200?body=after"));
          const responses = await conn.waitForResponses(4);
          assert.deepEqual(responses.map((r) => r.status), [204, 304, 200, 200], conn.raw());
          assert.equal(responses[0]!.headers["content-length"], undefined);
          assert.equal(responses[1]!.headers["content-length"], undefined);
          assert.equal(responses[2]!.headers["content-length"], "0");
          assert.equal(responses[3]!.body, "after");
        } finally {
          conn.close();
        }
      });
    }

    it("a response header too long for the worker protocol is a 500 saying so, buffered or streamed; the worker serves on", async () => {
      await assertHugeHeaderRefused(server, "/users/ann");
    });

    if (language === "python") {
      // A Fetch API Headers object refuses CR/LF, so only a Python handler can send one.
      it("a header value with CR/LF is a 502 Bad Gateway, counted in the metrics and the access log, its reason logged once", async () => {
        const [response] = await exchange(server.port, get("/crlf"));
        assertJsonError(response!, 502, /the worker sent an invalid response/);
        assert.equal(response!.headers["x-injected"], undefined);
        assert.equal(response!.headers["set-cookie"], undefined);
        const metrics = await request(`${server.url}/metrics`);
        assert.match(metrics.text, /neutrino_requests_total\{route="\/crlf",method="GET",status="502"\} 1/);
        await waitFor(() => server.logs().some((l) => l.path === "/crlf" && l.status === 502));
        await exchange(server.port, get("/crlf"));
        await waitFor(() => server.logs().filter((l) => l.path === "/crlf" && l.status === 502).length === 2);
        const reasons = server.logs().filter((l) => l.level === 40 && /^\/crlf: the worker sent an invalid response: .*"x-injected".*: answered 502/.test(String(l.msg)));
        assert.equal(reasons.length, 1, "the operator is told why, once per route");
        assert.doesNotMatch(String(reasons[0]!.msg), /evil/, "the header's value stays out of the log");
      });
    }

    it("1e999 for a float parameter is a 422, in the query and in a JSON body", async () => {
      const query = await request(`${server.url}/float?x=1e999`);
      assert.equal(query.status, 422, query.text);
      assert.deepEqual(query.json.errors[0].loc, ["query", "x"]);
      const body = await request(`${server.url}/float`, { method: "POST", body: '{"x": 1e999}' });
      assert.equal(body.status, 422, body.text);
      assert.deepEqual(body.json.errors[0].loc, ["body", "x"]);
      assert.equal((await request(`${server.url}/float?x=1.5`)).json.x, 1.5);
    });

    it("an empty body to a POST route reports the missing argument in the body", async () => {
      const reply = await request(`${server.url}/needs-body`, { method: "POST" });
      assert.equal(reply.status, 422, reply.text);
      assert.deepEqual(reply.json.errors[0].loc, ["body", "name"]);
    });

    it("an HTTP/1.1 request without Host is a JSON 400 that closes the connection; HTTP/1.0 needs none", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write("GET /users/ann HTTP/1.1\r\n\r\n");
        const [response] = await conn.waitForResponses(1);
        assertJsonError(response!, 400, /Host header is required/);
        assert.equal(response!.headers.connection, "close");
        await conn.waitForClose();
      } finally {
        conn.close();
      }
      const [old] = await exchange(server.port, "GET /users/ann HTTP/1.0\r\n\r\n");
      assert.equal(old!.status, 200);
      assert.deepEqual(JSON.parse(old!.body), { name: "ann" });
    });

    it("a request line of another version (HTTP/2.0, HTTP/0.9) on an HTTP/1 connection is a JSON 505 that closes it, and the server serves on", async () => {
      // Node's parser takes both; HTTP/2.0 used to stop the orchestrator (an uncaught TypeError).
      for (const version of ["HTTP/2.0", "HTTP/0.9"]) {
        const conn = await RawConnection.open(server.port);
        try {
          conn.write(`POST /users/ann ${version}\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}`);
          const [response] = await conn.waitForResponses(1);
          assertJsonError(response!, 505, new RegExp(`${version.replace(".", "\\.")} is not spoken in an HTTP/1 request line`));
          assert.equal(response!.headers.connection, "close");
          await conn.waitForClose();
        } finally {
          conn.close();
        }
      }
      const [next] = await exchange(server.port, get("/users/ann"));
      assert.equal(next!.status, 200);
    });

    it("an Expect other than 100-continue is a JSON 417 that closes the connection, counted in the metrics; 100-continue gets its 100", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        // Node answers a bare 417 of its own when nothing listens for other expectations.
        conn.write("POST /needs-body HTTP/1.1\r\nHost: localhost\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n");
        const [response] = await conn.waitForResponses(1);
        assertJsonError(response!, 417, /^Expect: teapot is not supported \(only 100-continue is\)$/);
        assert.equal(response!.headers.connection, "close");
        await conn.waitForClose();
      } finally {
        conn.close();
      }
      const metrics = await request(`${server.url}/metrics`);
      assert.match(metrics.text, /neutrino_requests_total\{route="\(none\)",method="POST",status="417"\} 1/);
      const waiting = await RawConnection.open(server.port);
      try {
        waiting.write("POST /needs-body HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n");
        await waitFor(() => waiting.raw().startsWith("HTTP/1.1 100 Continue\r\n\r\n"), 10_000, "the 100 Continue");
        waiting.write('{"name":"ann"}');
        await waitFor(() => waiting.raw().includes('"ann"'), 10_000, "the answer after the body");
        assert.match(waiting.raw(), /\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
      } finally {
        waiting.close();
      }
    });

    it("CONNECT, a proxy's method, is a JSON 501 that closes the connection, counted in the metrics", async () => {
      // Node closes a CONNECT's connection without an answer when nothing listens for it.
      const conn = await RawConnection.open(server.port);
      try {
        conn.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        const [response] = await conn.waitForResponses(1);
        assertJsonError(response!, 501, /CONNECT is not supported: this server is not a proxy/);
        assert.equal(response!.headers.connection, "close");
        await conn.waitForClose();
      } finally {
        conn.close();
      }
      const metrics = (await request(`${server.url}/metrics`)).text;
      assert.match(metrics, /neutrino_requests_total\{route="\(none\)",method="CONNECT",status="501"\} 1/);
    });

    it("an absolute-form target is routed by its path: the handler, probes and static files see the path only", async () => {
      const [who, health, file] = await exchange(
        server.port,
        get("http://evil.example/whoami?a=1") + get("http://evil.example/health") + get("HTTP://evil.example:81/assets/hello.txt"),
        3,
      );
      assert.equal(who!.status, 200, who!.body);
      assert.deepEqual(JSON.parse(who!.body), { path: "/whoami", query: "a=1" });
      assert.equal(health!.status, 200);
      assert.deepEqual(JSON.parse(health!.body), { status: "ok" });
      assert.equal(file!.status, 200);
      assert.equal(file!.body, "hello from disk\n");
      const [star] = await exchange(server.port, "GET * HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assertJsonError(star!, 400, /request target must be a path or an absolute URL/);
    });

    it("OPTIONS * (HAProxy's httpchk) is a 200 without a body whose Allow names the app's methods", async () => {
      const [star] = await exchange(server.port, "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(star!.status, 200, JSON.stringify(star));
      assert.equal(star!.headers["content-length"], "0");
      assert.deepEqual(star!.headers.allow!.split(", ").sort(), ["GET", "HEAD", "OPTIONS", "POST"]);
      assert.ok(star!.headers["x-request-id"]);
    });

    it("malformed percent-encoding in the path is a 400 that says so", async () => {
      for (const target of ["/users/%zz", "/users/%C3", "/nowhere/%"]) {
        const [response] = await exchange(server.port, get(target));
        assertJsonError(response!, 400, /malformed percent-encoding/);
      }
      const [ok] = await exchange(server.port, get("/users/a%20b"));
      assert.deepEqual(JSON.parse(ok!.body), { name: "a b" });
    });

    it("a long path parameter is routed; a path over 8192 characters is a 414", async () => {
      const long = "x".repeat(8000);
      const [ok] = await exchange(server.port, get(`/users/${long}`));
      assert.equal(ok!.status, 200, ok!.body.slice(0, 200));
      assert.equal(JSON.parse(ok!.body).name, long);
      const [tooLong] = await exchange(server.port, get(`/users/${"x".repeat(8200)}`));
      assertJsonError(tooLong!, 414, /longer than 8192 characters/);
    });

    it("errors written for requests Node cannot parse carry a Date: 400, 431, 408", async () => {
      const [malformed] = await exchange(server.port, "G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assertJsonError(malformed!, 400, /malformed HTTP request/);
      const [oversize] = await exchange(server.port, get("/users/a", `Host: localhost\r\nx-big: ${"a".repeat(20_000)}\r\n`));
      assertJsonError(oversize!, 431, /request headers are too large/);
      // Half a head, then nothing: --header-timeout 1 answers 408.
      const [slow] = await exchange(server.port, "GET /users/a HTTP/1.1\r\nHost: loc");
      assertJsonError(slow!, 408, /took too long/);
    });
  });
}

describe("--max-header-size", () => {
  const bigHeader = get("/users/a", `Host: localhost\r\nx-big: ${"a".repeat(40_000)}\r\n`);

  it("raises the largest request head accepted (flag), 431 beyond it", async () => {
    const server = await startServer("tests/fixtures/hygiene_app.py:app", ["--workers", "1", "--max-header-size", "65536"]);
    try {
      const [ok] = await exchange(server.port, bigHeader);
      assert.equal(ok!.status, 200);
      const [tooBig] = await exchange(server.port, get("/users/a", `Host: localhost\r\nx-big: ${"a".repeat(70_000)}\r\n`));
      assertJsonError(tooBig!, 431, /too large/);
    } finally {
      await server.stop();
    }
  });

  it("is set by NEUTRINO_MAX_HEADER_SIZE too; the default stays 16 KiB", async () => {
    const server = await startServer("tests/fixtures/hygiene_app.py:app", ["--workers", "1"], { env: { NEUTRINO_MAX_HEADER_SIZE: "65536" } });
    try {
      const [ok] = await exchange(server.port, bigHeader);
      assert.equal(ok!.status, 200);
    } finally {
      await server.stop();
    }
    const plain = await startServer("tests/fixtures/hygiene_app.py:app", ["--workers", "1"]);
    try {
      const [tooBig] = await exchange(plain.port, bigHeader);
      assertJsonError(tooBig!, 431, /too large/);
    } finally {
      await plain.stop();
    }
  });
});
