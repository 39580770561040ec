/**
 * Stand-ins for the dispatcher's, the pool's and the watchdog's unit tests: jobs that record how
 * they failed, and a worker that holds its jobs in order (`sequential` as a Python worker of
 * concurrency 1 is, not a Node one); the pool's and the watchdog's tests extend it.
 */
import type { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import type { Worker } from "../../src/orchestrator/workers/worker.js";

let nextId = 1;

export type FakeJob = Job & { failedWith?: number; failedHeaders?: Record<string, string> };

/** A job as the dispatcher, the pool and the watchdog see it; answered once, as an HttpJob is. */
export function fakeJob(route = "/x", submittedAt = 0): FakeJob {
  const j = {
    taskId: nextId++,
    frame: Buffer.alloc(0),
    method: "GET",
    route,
    requestId: `r${nextId}`,
    submittedAt,
    slow: false,
    streaming: false,
    progressAt: 0,
    assignedAt: 0,
    abandoned: false,
    answered: false,
    failedWith: undefined as number | undefined,
    failedHeaders: undefined as Record<string, string> | undefined,
    complete() {
      j.answered = true;
    },
    fail(status: number, _detail?: string, headers?: Record<string, string>) {
      if (j.answered) return;
      j.answered = true;
      j.failedWith = status;
      j.failedHeaders = headers;
    },
  };
  return j;
}

export class FakeWorker {
  readonly jobs: Job[] = [];
  constructor(
    readonly concurrency = 1,
    readonly sequential = true,
  ) {}
  get inflightCount(): number {
    return this.jobs.length;
  }
  get running(): Job | undefined {
    return this.sequential ? this.jobs[0] : undefined;
  }
  inflightJobs(): Job[] {
    return [...this.jobs];
  }
  get heldJobs(): readonly Job[] {
    return this.jobs;
  }
  assign(j: Job): void {
    this.jobs.push(j);
  }
  routes(): string[] {
    return this.jobs.map((j) => j.route);
  }
  /** The worker answers `j` (default: its oldest task) after `ms`. */
  finish(d: Dispatcher, ms: number, j = this.jobs[0]!): void {
    this.jobs.splice(this.jobs.indexOf(j), 1);
    d.taskDone(this as unknown as Worker, j, ms);
  }
}

export const asWorker = (w: FakeWorker): Worker => w as unknown as Worker;
