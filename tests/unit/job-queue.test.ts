import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JobQueue } from "../../src/orchestrator/dispatch/job-queue.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";

const job = (taskId: number) => ({ taskId }) as Job;

describe("job queue", () => {
  it("is first in, first out across wrap-around", () => {
    const q = new JobQueue(3);
    const out: number[] = [];
    let next = 1;
    for (let round = 0; round < 5; round++) {
      while (!q.full) assert.ok(q.push(job(next++)));
      out.push(q.shift()!.taskId, q.shift()!.taskId);
    }
    out.push(...q.drain().map((j) => j.taskId));
    assert.deepEqual(out, Array.from({ length: next - 1 }, (_, i) => i + 1));
    assert.equal(q.length, 0);
    assert.equal(q.shift(), undefined);
  });

  it("refuses a job when full and keeps what it has", () => {
    const q = new JobQueue(2);
    assert.ok(q.push(job(1)));
    assert.ok(q.push(job(2)));
    assert.equal(q.push(job(3)), false);
    assert.deepEqual(q.drain().map((j) => j.taskId), [1, 2]);
  });

  it("with capacity 0 refuses everything", () => {
    const q = new JobQueue(0);
    assert.equal(q.push(job(1)), false);
    assert.equal(q.length, 0);
  });
});
