/**
 * The HTTP front over TLS in process (a fake worker answers): what HTTP/2 needs that HTTP/1.1 does
 * not — repeated response headers kept as separate fields, no connection-level header, the
 * :authority as the worker's host — checked with a real node:http2 client.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { startFront, stopFront, type Front } from "../support/front.js";
import { certDir, h2Request, makeCert, removeDir, type CertFiles } from "../support/tls.js";

describe("HTTP/2 front", () => {
  let dir: string;
  let certs: CertFiles;
  let front: Front;
  let origin: string;

  before(async () => {
    dir = certDir();
    certs = makeCert(dir, "front");
    front = await startFront({ tls: { cert: certs.certPem, key: readFileSync(certs.key) } });
    origin = `https://127.0.0.1:${(front.http.listeners[0]!.address() as AddressInfo).port}`;
  });

  after(() => {
    stopFront(front.http);
    removeDir(dir);
  });

  it("a worker's repeated Set-Cookie stays two fields; its Connection header is not sent", async () => {
    front.dispatcher.answer = {
      status: 201,
      headers: [["set-cookie", "a=1"], ["Set-Cookie", "b=2"], ["connection", "close"], ["x-one", "1"]],
      body: Buffer.from("{}"),
    };
    const session = connect(origin, { ca: certs.certPem });
    try {
      const r = await h2Request(session, "/answer");
      assert.equal(r.status, 201);
      assert.deepEqual(r.headers["set-cookie"], ["a=1", "b=2"]);
      assert.equal(r.headers["x-one"], "1");
      assert.equal(r.headers.connection, undefined);
    } finally {
      session.close();
    }
  });

  it("the worker gets :authority as host, https as x-forwarded-proto, and no pseudo-header", async () => {
    const session = connect(origin, { ca: certs.certPem });
    try {
      const r = await h2Request(session, "/reads");
      const headers = Object.fromEntries(r.json.headers as [string, string][]);
      assert.equal(headers.host, origin.slice("https://".length));
      assert.equal(headers["x-forwarded-proto"], "https");
      assert.ok(Object.keys(headers).every((name) => !name.startsWith(":")), JSON.stringify(headers));
    } finally {
      session.close();
    }
  });

  it("drain() sends an open HTTP/2 connection a GOAWAY, and it closes", async () => {
    const session = connect(origin, { ca: certs.certPem });
    let goaway = false;
    session.on("goaway", () => (goaway = true));
    try {
      assert.equal((await h2Request(session, "/plain")).status, 200);
      front.http.drain();
      await new Promise<void>((resolve) => session.once("close", resolve));
      assert.ok(goaway);
    } finally {
      session.destroy();
    }
  });
});
