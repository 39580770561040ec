import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { autoFronts } from "../../src/orchestrator/fronts/count.js";

describe("--fronts auto", () => {
  it("gives one front per two workers, at most one per two cores, never fewer than one", () => {
    assert.equal(autoFronts(16, 16), 8);
    assert.equal(autoFronts(4, 16), 2);
    assert.equal(autoFronts(5, 16), 2);
    assert.equal(autoFronts(16, 4), 2);
    assert.equal(autoFronts(64, 64), 32);
  });

  it("keeps a single process on a 2-core machine and for one worker", () => {
    assert.equal(autoFronts(2, 2), 1);
    assert.equal(autoFronts(4, 2), 1);
    assert.equal(autoFronts(8, 3), 1);
    assert.equal(autoFronts(1, 16), 1);
  });

  it("is one where the listener cannot be shared (an inherited fd)", () => {
    assert.equal(autoFronts(16, 16, false), 1);
  });
});
