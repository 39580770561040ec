/** The request headers sent to a worker, as protocol pairs. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { requestHeaderPairs } from "../../src/orchestrator/http/request-headers.js";

describe("request headers for the worker", () => {
  it("lower-cases the names and keeps repeated headers as repeated pairs, in order", () => {
    assert.deepEqual(requestHeaderPairs(["Host", "x", "X-Tag", "a", "x-tag", "b", "Cookie", "c=1"]), [
      ["host", "x"],
      ["x-tag", "a"],
      ["x-tag", "b"],
      ["cookie", "c=1"],
    ]);
    assert.deepEqual(requestHeaderPairs([]), []);
  });

  it("with the client's view: HTTP/2 pseudo-headers dropped, :authority as host, the forwarded host and one x-forwarded-proto", () => {
    const h2 = [":path", "/", ":method", "GET", ":authority", "example.com:8443", ":scheme", "https", "x-forwarded-proto", "http", "accept", "*/*"];
    assert.deepEqual(requestHeaderPairs(h2, { host: "127.0.0.1", port: 1, scheme: "https", forwardedHost: undefined }), [
      ["host", "example.com:8443"],
      ["accept", "*/*"],
      ["x-forwarded-proto", "https"],
    ]);
    const proxied = ["Host", "backend:8000", "X-Forwarded-Host", "shop.example"];
    assert.deepEqual(requestHeaderPairs(proxied, { host: "203.0.113.9", port: 0, scheme: "http", forwardedHost: "shop.example" }), [
      ["host", "shop.example"],
      ["x-forwarded-host", "shop.example"],
      ["x-forwarded-proto", "http"],
    ]);
  });
});
