/**
 * What a foreign app (bare ASGI, WSGI and fetch apps, no framework) answers reaches the client as
 * the app meant it, as uvicorn, gunicorn or Node's own server would send it: no content type made
 * up, its `Connection: close` honoured; and what it gets wrong is a clear 500, never a hang or a
 * leak: a header too long for the worker protocol, an exception whose text may hold a secret. A
 * HEAD answered without its body keeps the app's length, or has none.
 * What it is told of the request includes the HTTP version (ASGI's `http_version`, WSGI's
 * `SERVER_PROTOCOL`), and a path whose percent-encoding does not decode (which Neutrino's own SDKs get
 * a 400 for) reaches it as under its own server.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { assertHugeHeaderRefused } from "../support/oversized-header.js";
import { exchange, RawConnection } from "../support/raw-http.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { certDir, h2Get, httpsGet, makeCert, removeDir } from "../support/tls.js";
import { waitFor } from "../support/wait.js";
import { WsClient } from "../support/ws-client.js";

const apps = [
  { kind: "an ASGI app", app: "tests/fixtures/answers_asgi.py:app" },
  { kind: "a WSGI app", app: "tests/fixtures/answers_wsgi.py:app" },
  { kind: "a fetch app", app: "tests/fixtures/answers_fetch.mjs:default" },
] as const;

const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`;

for (const { kind, app } of apps) {
  describe(`${kind}'s answers`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1"]);
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    it("a body without a content-type goes without one, buffered or streamed", async () => {
      const [buffered] = await exchange(server.port, get("/untyped"));
      assert.equal(buffered!.status, 200);
      assert.equal(buffered!.headers["content-type"], undefined, JSON.stringify(buffered!.headers));
      assert.equal(buffered!.body, "<p>/untyped</p>");
      const streamed = await request(`${server.url}/untyped?stream=true`);
      assert.equal(streamed.status, 200);
      assert.equal(streamed.headers.get("content-type"), null);
      assert.equal(streamed.text, "<p>streamed</p>");
      // Where the app names its type, it stands.
      assert.equal((await request(`${server.url}/typed`)).headers.get("content-type"), "text/plain");
    });

    it("a HEAD answered without its body has the app's content-length, or none: never 0 (RFC 9110 §8.6)", async () => {
      const sized = await request(`${server.url}/head?sized=true`, { method: "HEAD" });
      assert.equal(sized.status, 200);
      assert.equal(sized.headers.get("content-length"), "12");
      const bare = await request(`${server.url}/head`, { method: "HEAD" });
      assert.equal(bare.status, 200);
      assert.equal(bare.headers.get("content-length"), null, JSON.stringify([...bare.headers]));
      // An app that sends the body anyway: the GET's length, the body dropped.
      const full = await request(`${server.url}/typed`, { method: "HEAD" });
      assert.equal(full.headers.get("content-length"), String("<p>/typed</p>".length));
      assert.equal(full.text, "");
    });

    it("Connection: close from the app is sent and honoured; other answers keep the connection", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(get("/typed"));
        const [kept] = await conn.waitForResponses(1);
        assert.equal(kept!.headers.connection, "keep-alive");
        conn.write(get("/close"));
        const [, closing] = await conn.waitForResponses(2);
        assert.equal(closing!.status, 200);
        assert.equal(closing!.body, "<p>/close</p>");
        assert.equal(closing!.headers.connection, "close");
        await conn.waitForClose(5_000);
      } finally {
        conn.close();
      }
    });

    it("a path whose percent-encoding does not decode reaches the app, decoded as its own server would", async () => {
      // uvicorn decodes with U+FFFD for what is not UTF-8, gunicorn gives PEP 3333's latin-1
      // bytes, and a fetch app's URL keeps the escapes; `%zz` is no escape and stays as sent.
      const expected = { "an ASGI app": "/\uFFFD\uFFFD", "a WSGI app": "/\u00FF\u00FE", "a fetch app": "/%ff%fe" }[kind];
      const [undecodable, notAnEscape] = await exchange(server.port, get("/%ff%fe") + get("/%zz"), 2);
      assert.equal(undecodable!.status, 200, undecodable!.body);
      assert.equal(undecodable!.body, `<p>${expected}</p>`);
      assert.equal(notAnEscape!.status, 200, notAnEscape!.body);
      assert.equal(notAnEscape!.body, "<p>/%zz</p>");
    });

    it("a status outside 100-599 (0, 600, one too large for the protocol) is the app's error: a 500; a 1xx a 502; the worker serves on", async () => {
      for (const status of [0, 600, 999, 70000]) {
        const r = await request(`${server.url}/status?${status}`);
        assert.equal(r.status, 500, `${status}: ${r.status} ${r.text}`);
        assert.equal(r.json.detail, "the app failed; the server log has the details");
      }
      // A fetch app's Response refuses a 1xx itself (a 500); to the others, the rule for any handler.
      assert.equal((await request(`${server.url}/status?101`)).status, kind === "a fetch app" ? 500 : 502);
      const fine = await request(`${server.url}/status?599`);
      assert.equal(fine.status, 599);
      assert.equal(fine.text, "odd");
    });

    it("a header value of the wrong type is the app's error (a 500, as uvicorn and gunicorn), never converted; a fetch app's Headers make it text", async () => {
      const queries = kind === "a WSGI app" ? ["0", "5", "bytes"] : ["0", "5"];
      for (const query of queries) {
        const r = await request(`${server.url}/typed-header?${query}`);
        if (kind === "a fetch app") {
          assert.equal(r.status, 200);
          assert.equal(r.headers.get("x-count"), query);
          continue;
        }
        // Before: bytes(0) went out as an empty value, bytes(5) as five NUL bytes (a 502), str(b"5") as "b'5'".
        assert.equal(r.status, 500, `${query}: ${r.status} ${r.headers.get("x-count")} ${r.text}`);
        assert.equal(r.json.detail, "the app failed; the server log has the details");
      }
      if (kind !== "a fetch app") {
        const said = kind === "a WSGI app" ? "TypeError: WSGI: header 'X-Count': its value is bytes, not str" : "TypeError: ASGI: header b'x-count': its value is int, not bytes";
        await waitFor(() => server.stderr().includes(said), 10_000, "the traceback naming the header");
      }
      assert.equal((await request(`${server.url}/typed`)).status, 200, "the worker serves on");
    });

    if (kind !== "a fetch app") {
      it("a body that is not bytes (an int, a str) is the app's error (a 500, as uvicorn and gunicorn), never converted", async () => {
        for (const query of kind === "a WSGI app" ? ["5", "str", "whole"] : ["5", "str"]) {
          const r = await request(`${server.url}/typed-body?${query}`);
          // Before: bytes(5) went out as five NUL bytes, a str as "string argument without an encoding".
          assert.equal(r.status, 500, `${query}: ${r.status} ${JSON.stringify(r.text)}`);
          assert.equal(r.json.detail, "the app failed; the server log has the details");
        }
        const interfaceName = kind === "a WSGI app" ? "WSGI" : "ASGI";
        for (const type of ["int", "str"]) {
          const said = `TypeError: ${interfaceName}: a response body must be bytes, not ${type}`;
          await waitFor(() => server.stderr().includes(said), 10_000, `the traceback naming the body's type (${type})`);
        }
        assert.equal((await request(`${server.url}/typed`)).status, 200, "the worker serves on");
      });
    }

    it("a Content-Length its body does not have: the body goes with its real length, and the log says so once per route", async () => {
      for (let i = 0; i < 2; i++) {
        const [r] = await exchange(server.port, get("/wrong-length"));
        assert.equal(r!.status, 200);
        assert.equal(r!.headers["content-length"], "5");
        assert.equal(r!.body, "short");
      }
      const said = () => server.logs().filter((l) => /Content-Length \(99\) does not match its body \(5 bytes\)/.test(String(l.msg)));
      await waitFor(() => said().length > 0, 10_000, "the warning");
      assert.equal(said().length, 1, "once per route");
      assert.equal(said()[0]!.level, 40);
    });

    if (kind !== "a fetch app") {
      // A fetch app's Headers refuse CR/LF themselves.
      it("a header value with CR/LF is a 502; its reason is logged though the route's Content-Length mistake was already", async () => {
        // The route's other kind of mistake first (the test above may have logged it already).
        await exchange(server.port, get("/wrong-length"));
        await waitFor(() => server.logs().some((l) => /Content-Length \(99\)/.test(String(l.msg))), 10_000, "the route's other mistake");
        const [r] = await exchange(server.port, get("/crlf"));
        assert.equal(r!.status, 502);
        assert.equal(r!.headers["set-cookie"], undefined);
        const said = () => server.logs().filter((l) => l.level === 40 && /the worker sent an invalid response: .*x-note.*: answered 502/i.test(String(l.msg)));
        await waitFor(() => said().length > 0, 10_000, "the warning");
        assert.doesNotMatch(String(said()[0]!.msg), /evil/, "the value stays out of the log");
      });
    }

    if (kind === "an ASGI app") {
      it("a WebSocket accept with a CR/LF header is refused with a 502; its reason is logged too", async () => {
        // A server of its own: the shared one has logged this route's invalid head already (above).
        const own = await startServer(app, ["--workers", "1"]);
        try {
          const refused = await WsClient.refused(`${own.url.replace("http", "ws")}/ws-crlf`);
          assert.equal(refused.status, 502);
          assert.equal(refused.headers["set-cookie"], undefined);
          const said = () => own.logs().filter((l) => l.level === 40 && /the worker sent an invalid response: .*x-note.*: answered 502/i.test(String(l.msg)));
          await waitFor(() => said().length > 0, 10_000, "the warning");
          assert.doesNotMatch(String(said()[0]!.msg), /evil/, "the value stays out of the log");
          assert.equal((await request(`${own.url}/typed`)).status, 200, "the worker serves on");
        } finally {
          await own.stop();
        }
        assert.equal(await own.stop(), 0);
      });
    }

    it("a header too long for the worker protocol is a 500 saying so, buffered or streamed; the worker serves on", async () => {
      await assertHugeHeaderRefused(server, "/typed");
    });

    it("an exception is a 500 with the request id; its text, which may hold a secret, only in the log", async () => {
      const r = await request(`${server.url}/boom`);
      assert.equal(r.status, 500);
      const id = r.headers.get("x-request-id");
      assert.deepEqual(r.json, { error: "Internal Server Error", detail: "the app failed; the server log has the details", request_id: id });
      assert.doesNotMatch(r.text, /hunter2|RuntimeError|Error:/);
      await waitFor(() => server.stderr().includes(`failed on GET /boom (request ${id})`), 10_000, "the failure logged under the request id");
      assert.match(server.stderr(), /cannot reach db:\/\/admin:hunter2@db/);
    });
  });

  if (kind !== "a fetch app") {
    it(`${kind} is told the request's HTTP version: 1.1, 1.0, and 2 over TLS`, async () => {
      const dir = certDir();
      const certs = makeCert(dir, "neutrino-test");
      const server = await startServer(app, ["--workers", "1", "--ssl-certfile", certs.cert, "--ssl-keyfile", certs.key]);
      const said = (version: string): string => (kind === "an ASGI app" ? version : `HTTP/${version}`);
      try {
        assert.equal((await httpsGet(`${server.url}/version`, certs.certPem)).text, said("1.1"));
        const h2 = await h2Get(server.url, "/version", certs.certPem);
        assert.equal(h2.alpn, "h2");
        assert.equal(h2.text, said("2"));
        const old = await new Promise<string>((resolve, reject) => {
          const socket = tlsConnect({ port: server.port, host: "127.0.0.1", ca: certs.certPem, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () =>
            socket.write("GET /version HTTP/1.0\r\nHost: localhost\r\n\r\n"), // HTTP/1.0: the server closes after its answer
          );
          let text = "";
          socket.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => resolve(text)).on("error", reject);
        });
        assert.match(old, /^HTTP\/1\.1 200 OK\r\n/);
        assert.equal(old.slice(old.indexOf("\r\n\r\n") + 4), said("1.0"));
      } finally {
        await server.stop();
        removeDir(dir);
      }
      assert.equal(await server.stop(), 0);
    });
  }

  if (kind === "an ASGI app") {
    it("an ASGI app's single body larger than a worker frame (65 MiB) arrives whole, with its length", async () => {
      const server = await startServer(app, ["--workers", "1"]);
      try {
        const response = await fetch(`${server.url}/large`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-length"), String(65 * 1024 * 1024));
        assert.equal((await response.arrayBuffer()).byteLength, 65 * 1024 * 1024);
      } finally {
        await server.stop();
      }
      assert.equal(await server.stop(), 0);
    });
  }

  it(`${kind}'s exception, with --debug: the 500 shows it`, async () => {
    const server = await startServer(app, ["--workers", "1", "--debug"]);
    try {
      const r = await request(`${server.url}/boom`);
      assert.equal(r.status, 500);
      assert.match(r.json.detail, /^(RuntimeError|Error): cannot reach db:\/\/admin:hunter2@db$/);
      assert.match(r.json.exception, /^(RuntimeError|Error)$/);
      assert.match(r.json.traceback, /cannot reach db/);
      assert.equal(r.json.request_id, r.headers.get("x-request-id"));
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });
}
