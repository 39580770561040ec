import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import { InflightTasks } from "../../src/orchestrator/workers/inflight.js";

const job = (taskId: number) => ({ taskId }) as Job;
const ids = (tasks: InflightTasks) => [...tasks.values()].map((j) => j.taskId);

describe("inflight tasks", () => {
  it("keeps the order tasks were given in, whichever one ends", () => {
    const tasks = new InflightTasks();
    for (const id of [7, 3, 9, 4]) tasks.set(id, job(id));
    assert.equal(tasks.size, 4);
    assert.equal(tasks.first?.taskId, 7);
    assert.ok(tasks.delete(9));
    assert.deepEqual(ids(tasks), [7, 3, 4]);
    assert.ok(tasks.delete(7));
    assert.equal(tasks.first?.taskId, 3);
    tasks.set(1, job(1));
    assert.deepEqual(ids(tasks), [3, 4, 1]);
  });

  it("looks tasks up by id and says when one is not held", () => {
    const tasks = new InflightTasks();
    const a = job(5);
    tasks.set(5, a);
    assert.equal(tasks.get(5), a);
    assert.ok(tasks.has(5));
    assert.equal(tasks.get(6), undefined);
    assert.equal(tasks.has(6), false);
    assert.equal(tasks.delete(6), false);
    assert.equal(tasks.size, 1);
  });

  it("replaces a task of the same id in place", () => {
    const tasks = new InflightTasks();
    tasks.set(1, job(1)).set(2, job(2));
    const again = job(1);
    tasks.set(1, again);
    assert.equal(tasks.size, 2);
    assert.equal(tasks.first, again);
  });

  it("iterates a snapshot, so tasks may end meanwhile", () => {
    const tasks = new InflightTasks();
    for (const id of [1, 2, 3]) tasks.set(id, job(id));
    const seen: number[] = [];
    for (const j of tasks.values()) {
      seen.push(j.taskId);
      tasks.delete(j.taskId);
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(tasks.size, 0);
    assert.equal(tasks.first, undefined);
  });

  it("empties on clear", () => {
    const tasks = new InflightTasks();
    tasks.set(1, job(1)).set(2, job(2));
    tasks.clear();
    assert.equal(tasks.size, 0);
    assert.deepEqual(ids(tasks), []);
  });
});
