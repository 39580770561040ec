/** X-Request-Id: which ids are taken from a client, and the ids made here. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateRequestId, isUsableRequestId } from "../../src/orchestrator/http/request-id.js";

describe("request ids", () => {
  it("generates short, distinct ids made of usable characters", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => generateRequestId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) {
      assert.ok(isUsableRequestId(id), id);
      assert.ok(id.length <= 20, id);
    }
  });

  it("accepts 1 to 128 characters of [A-Za-z0-9._~:/+=-], nothing else", () => {
    for (const ok of ["a", "abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "x".repeat(128), "a.b_c~d:e/f+g=h-i"]) {
      assert.ok(isUsableRequestId(ok), ok);
    }
    for (const bad of ["", "x".repeat(129), "a b", "a,b", "ü", "a\tb", "<script>", "a;b"]) {
      assert.ok(!isUsableRequestId(bad), bad);
    }
  });
});
