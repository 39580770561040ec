/**
 * The tasks a worker holds, in the order they were given to it, looked up by task id.
 *
 * Not a Map: a Map that keeps taking and dropping entries is rehashed every few operations, and
 * V8 links each replaced table to its successor and leaves the entries in it (live iterators need
 * them). Once one such table reaches the old generation, every later table and every job it held
 * survive the young-generation collections through that chain, to be freed only by a full
 * collection: under load about a kilobyte per request moved to the old generation, which grew the
 * orchestrator's heap by some 30 MiB (docs/benchmarks.md, "Orchestrator memory"). Two plain
 * arrays hold no such links. Lookups scan them, which is cheap for the few tasks a worker holds
 * (one or two for a Python worker, 64 by default for a Node one).
 */
import type { Job } from "../dispatch/job.js";

export class InflightTasks {
  private readonly ids: number[] = [];
  private readonly jobs: Job[] = [];

  get size(): number {
    return this.jobs.length;
  }

  /** The task given first of those still held. */
  get first(): Job | undefined {
    return this.jobs[0];
  }

  get(taskId: number): Job | undefined {
    const i = this.ids.indexOf(taskId);
    return i < 0 ? undefined : this.jobs[i];
  }

  has(taskId: number): boolean {
    return this.ids.includes(taskId);
  }

  /** Adds a task last, or replaces the one of the same id in place. */
  set(taskId: number, job: Job): this {
    const i = this.ids.indexOf(taskId);
    if (i >= 0) {
      this.jobs[i] = job;
    } else {
      this.ids.push(taskId);
      this.jobs.push(job);
    }
    return this;
  }

  delete(taskId: number): boolean {
    const i = this.ids.indexOf(taskId);
    if (i < 0) return false;
    // Shift the later ones down in place: splice would allocate an array of the removed one.
    const last = this.ids.length - 1;
    for (let j = i; j < last; j++) {
      this.ids[j] = this.ids[j + 1]!;
      this.jobs[j] = this.jobs[j + 1]!;
    }
    this.ids.length = last;
    this.jobs.length = last;
    return true;
  }

  /** The tasks in order given, not copied (the dispatcher's per-request check): read it at once, never while deleting. */
  get live(): readonly Job[] {
    return this.jobs;
  }

  /** A snapshot in order given: deleting while iterating it is safe. */
  values(): IterableIterator<Job> {
    return this.jobs.slice().values();
  }

  clear(): void {
    this.ids.length = 0;
    this.jobs.length = 0;
  }
}
