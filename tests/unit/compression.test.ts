/** Response compression in process, against a fake dispatcher whose answers the tests set. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { acceptedEncodings, isCompressible, negotiate } from "../../src/orchestrator/http/compression.js";
import { startFront, stopFront, type Answer, type Front } from "../support/front.js";
import { APP_HEADERS } from "../../src/protocol/messages.js";

describe("compression (in process)", () => {
  it("negotiates by Accept-Encoding q-values, brotli on a tie", () => {
    const cases: [string | undefined, string | null][] = [
      [undefined, null],
      ["", null],
      ["identity", null],
      ["gzip", "gzip"],
      ["br", "br"],
      ["gzip, deflate, br", "br"],
      ["gzip;q=1.0, br;q=0.5", "gzip"],
      ["br;q=0, gzip", "gzip"],
      ["gzip;q=0, br;q=0", null],
      ["*", "br"],
      ["*;q=0.5, gzip", "gzip"],
      ["br;q=0, *", "gzip"],
      ["GZIP ; Q=0.8", "gzip"],
      ["x-gzip", "gzip"],
      ["deflate", null],
    ];
    for (const [header, expected] of cases) assert.equal(negotiate(header), expected, String(header));
  });

  it("lists every accepted encoding, preferred first", () => {
    assert.deepEqual(acceptedEncodings("gzip, br"), ["br", "gzip"]);
    assert.deepEqual(acceptedEncodings("gzip;q=1.0, br;q=0.5"), ["gzip", "br"]);
    assert.deepEqual(acceptedEncodings("br;q=0, *"), ["gzip"]);
    assert.deepEqual(acceptedEncodings("identity"), []);
    assert.deepEqual(acceptedEncodings(undefined), []);
  });

  it("compresses JSON, text, JavaScript, XML and SVG only", () => {
    for (const t of ["application/json", "application/json; charset=utf-8", "text/plain", "text/html;charset=utf-8", "text/csv", "application/javascript", "application/problem+json", "application/xml", "image/svg+xml", "application/ld+json"]) {
      assert.ok(isCompressible(t), t);
    }
    for (const t of ["image/png", "application/octet-stream", "application/zip", "font/woff2", "video/mp4", "application/pdf"]) {
      assert.ok(!isCompressible(t), t);
    }
  });

  describe("--compress 1024", () => {
    let front: Front;
    before(async () => {
      front = await startFront({ compression: { minBytes: 1024 } });
    });
    after(() => stopFront(front.http));

    const json = (n: number): Buffer => Buffer.from(JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: i, name: `item ${i}` }))));
    /** node:http leaves the body encoded, so the test sees exactly what was sent. */
    async function get(headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
      const { request } = await import("node:http");
      return new Promise((resolve, reject) => {
        const req = request(`${front.url}/answer`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on("error", reject);
        req.end();
      });
    }

    for (const [size, label] of [[60, "small (sync)"], [4000, "large (thread pool)"]] as const) {
      it(`gzip and br round trip, ${label}`, async () => {
        const body = json(size);
        front.dispatcher.answer = { body, headers: [["ETag", '"v1"']] };
        const gz = await get({ "accept-encoding": "gzip" });
        assert.equal(gz.headers["content-encoding"], "gzip");
        assert.equal(gz.headers["vary"], "Accept-Encoding");
        assert.equal(Number(gz.headers["content-length"]), gz.body.length);
        assert.ok(gz.body.length < body.length);
        assert.deepEqual(gunzipSync(gz.body), body);
        assert.equal(gz.headers["etag"], 'W/"v1"');
        const br = await get({ "accept-encoding": "gzip;q=0.8, br" });
        assert.equal(br.headers["content-encoding"], "br");
        assert.deepEqual(brotliDecompressSync(br.body), body);
      });
    }

    it("leaves alone: a body below the size, a client that accepts no encoding, a type that does not compress, an encoded or no-transform answer", async () => {
      const big = json(200);
      const cases: [Answer, Record<string, string>, string][] = [
        [{ body: Buffer.from("x".repeat(1023)) }, { "accept-encoding": "gzip" }, "below the size"],
        [{ body: big }, {}, "no Accept-Encoding"],
        [{ body: big }, { "accept-encoding": "identity" }, "identity only"],
        [{ body: big, headers: [["Content-Type", "image/png"]] }, { "accept-encoding": "gzip" }, "image/png"],
        [{ body: big, headers: [["Content-Encoding", "identity"]] }, { "accept-encoding": "gzip" }, "already encoded"],
        [{ body: big, headers: [["Cache-Control", "public, no-transform"]] }, { "accept-encoding": "gzip" }, "no-transform"],
        [{ body: big, status: 204 }, { "accept-encoding": "gzip" }, "204"],
        // A foreign app's body without a type is of no known type (a Neutrino handler's is JSON).
        [{ body: big, flags: APP_HEADERS }, { "accept-encoding": "gzip" }, "a foreign app's untyped body"],
      ];
      for (const [reply, headers, label] of cases) {
        front.dispatcher.answer = reply;
        const res = await get(headers);
        assert.equal(res.headers["content-encoding"], reply.headers?.find(([n]) => n === "Content-Encoding")?.[1], label);
        if (res.status !== 204) assert.deepEqual(res.body, reply.body, label);
      }
      // An answer that could be compressed says it varies by Accept-Encoding even when it was not.
      front.dispatcher.answer = { body: big };
      assert.equal((await get({})).headers["vary"], "Accept-Encoding");
      front.dispatcher.answer = { body: Buffer.from("{}") };
      assert.equal((await get({ "accept-encoding": "gzip" })).headers["vary"], undefined);
    });
  });

  it("is off by default", async () => {
    const front = await startFront();
    try {
      front.dispatcher.answer = { body: Buffer.from(JSON.stringify({ data: "x".repeat(5000) })) };
      const res = await fetch(`${front.url}/answer`, { headers: { "accept-encoding": "gzip, br" } });
      assert.equal(res.headers.get("content-encoding"), null);
      assert.equal(res.headers.get("vary"), null);
      assert.equal((await res.text()).length, front.dispatcher.answer.body!.length);
    } finally {
      stopFront(front.http);
    }
  });
});
