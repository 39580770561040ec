/**
 * The request flow through real parts: the CLI, real workers, real HTTP over loopback.
 * Parameterized by language so each SDK's test app meets the same assertions.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { testApps } from "../support/apps.js";
import { post, request, startServer, type RunningServer } from "../support/server.js";

for (const { language, app } of testApps) {
  describe(`requests (${language})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "2"]);
    });
    after(async () => {
      await server.stop();
    });

    it("answers POST /add {x: 2, y: 3} with exactly {\"result\": 5}", async () => {
      const r = await post(`${server.url}/add`, '{"x": 2, "y": 3}');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), "application/json");
      assert.deepEqual(r.json, { result: 5 });
      assert.equal(r.text, language === "python" ? '{"result": 5}' : '{"result":5}');
    });

    it("takes GET arguments from the query string, converted by type hints or the route's schema", async () => {
      const r = await request(`${server.url}/add?x=2&y=3`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { result: 5 });
    });

    it("answers HEAD on a GET route without a body", async () => {
      const r = await request(`${server.url}/add?x=1&y=1`, { method: "HEAD" });
      assert.equal(r.status, 200);
      assert.equal(r.text, "");
    });

    it("passes a JSON object body as keyword arguments (POST /process)", async () => {
      const r = await post(`${server.url}/process`, '{"data": {"a": 1, "b": [1, 2]}}');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { processed: { a: 1, b: [1, 2] } });
    });

    it("passes a non-object JSON body as the single argument", async () => {
      const r = await post(`${server.url}/echo`, "[1, 2, 3]");
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { value: [1, 2, 3] });
    });

    it("404 with a JSON body for an unknown path", async () => {
      const r = await request(`${server.url}/nope`);
      assert.equal(r.status, 404);
      assert.equal(r.json.error, "Not Found");
      assert.match(r.json.detail, /\/nope/);
    });

    it("405 with an Allow header for a method the route does not take", async () => {
      const r = await request(`${server.url}/process`);
      assert.equal(r.status, 405);
      assert.equal(r.headers.get("allow"), "POST");
      assert.equal(r.json.error, "Method Not Allowed");
      const put = await request(`${server.url}/add`, { method: "PUT", body: "{}" });
      assert.equal(put.status, 405);
      assert.equal(put.headers.get("allow"), "GET, POST, HEAD");
    });

    it("400 for a body that is not JSON", async () => {
      const r = await post(`${server.url}/add`, '{"x": 2,');
      assert.equal(r.status, 400);
      assert.equal(r.json.error, "Bad Request");
      assert.match(r.json.detail, /JSON/);
    });

    it("422 naming a missing argument", async () => {
      const r = await post(`${server.url}/add`, '{"x": 2}');
      assert.equal(r.status, 422);
      assert.match(JSON.stringify(r.json), /\by\b/);
    });

    it("422 naming an unexpected argument", async () => {
      const r = await post(`${server.url}/add`, '{"x": 2, "y": 3, "z": 4}');
      assert.equal(r.status, 422);
      assert.match(JSON.stringify(r.json), /\bz\b/);
    });

    it("422 naming an argument that cannot be converted", async () => {
      const r = await request(`${server.url}/add?x=two&y=3`);
      assert.equal(r.status, 422);
      assert.match(JSON.stringify(r.json), /\bx\b/);
    });

    it("500 with the request id but not the exception's text when a handler raises, and the workers keep serving", async () => {
      for (let i = 0; i < 4; i++) {
        const r = await request(`${server.url}/boom`);
        assert.equal(r.status, 500);
        assert.equal(r.json.error, "Internal Server Error");
        assert.equal(r.json.detail, "the handler failed; the server log has the details");
        assert.equal(r.json.request_id, r.headers.get("x-request-id"));
        assert.doesNotMatch(r.text, /kaboom/);
      }
      const ok = await request(`${server.url}/add?x=1&y=2`);
      assert.deepEqual(ok.json, { result: 3 });
      assert.match(server.stderr(), /kaboom/, "the traceback reaches the operator");
    });

    it("500 saying so when the return value is not JSON-serializable", async () => {
      const r = await request(`${server.url}/unserializable`);
      assert.equal(r.status, 500);
      assert.match(r.json.detail, /serializ/i);
    });

    it("400 with a JSON body for malformed HTTP", async () => {
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, "127.0.0.1", () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
        let data = "";
        socket.setEncoding("utf8").on("data", (d: string) => (data += d));
        socket.on("end", () => resolve(data));
        socket.on("error", reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.match(raw, /"error":"Bad Request"/);
    });

    it("413 for a body over --max-body-size is tested in limits; here a 1 MiB body passes", async () => {
      const big = JSON.stringify({ value: "x".repeat(1 << 20) });
      const r = await post(`${server.url}/echo`, big);
      assert.equal(r.status, 200);
      assert.equal(r.json.value.length, 1 << 20);
    });
  });
}

for (const { language, app } of testApps) {
  describe(`--debug (${language})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1", "--debug"]);
    });
    after(async () => {
      await server.stop();
    });

    it("puts the exception, its message and the traceback in a 500's body", async () => {
      const r = await request(`${server.url}/boom`);
      assert.equal(r.status, 500);
      assert.match(r.json.detail, /kaboom/);
      assert.ok(r.json.exception, "the exception's class");
      assert.match(String(r.json.traceback), /kaboom/);
      assert.equal(r.json.request_id, r.headers.get("x-request-id"));
    });
  });
}
