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
});
