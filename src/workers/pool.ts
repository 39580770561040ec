/**
 * Keeps N workers running: starts them in parallel, answers the jobs of a worker that died with a
 * 502 at once, and replaces it. Start-up failures of replacements are retried with backoff.
 */
import type { Logger } from "pino";
import type { AppSpec } from "../app-spec.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import type { Job } from "../dispatch/job.js";
import type { WorkerRuntime } from "../runtimes/runtime.js";
import type { SocketDir } from "./socket-dir.js";
import { Worker, type WorkerListener } from "./worker.js";

export interface PoolOptions {
  readonly size: number;
  readonly runtime: WorkerRuntime;
  readonly app: AppSpec;
  readonly socketDir: SocketDir;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly startTimeoutMs: number;
}

const RESPAWN_DELAY_MIN_MS = 100;
const RESPAWN_DELAY_MAX_MS = 5_000;

export class WorkerPool implements WorkerListener {
  /** Slot i holds worker `w<i>` (or its replacement); ids stay stable across restarts. */
  private readonly slots: (Worker | null)[];
  private stopping = false;
  private readonly respawnTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: PoolOptions) {
    this.slots = new Array<Worker | null>(options.size).fill(null);
  }

  get workers(): Worker[] {
    return this.slots.filter((w): w is Worker => w !== null);
  }

  /** Creates the worker for slot `index` without starting it (the discovery step starts slot 0 itself). */
  createWorker(index: number): Worker {
    const worker = new Worker({
      id: `w${index}`,
      runtime: this.options.runtime,
      app: this.options.app,
      socketDir: this.options.socketDir,
      listener: this,
      startTimeoutMs: this.options.startTimeoutMs,
    });
    this.slots[index] = worker;
    return worker;
  }

  /**
   * Starts every empty slot in parallel and adds all workers to the dispatcher. `ready` workers
   * (the discovery worker) join as they are. Rejects with the first StartupFailure.
   */
  async start(ready: Worker[] = []): Promise<void> {
    const starting: Promise<void>[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      if (!this.slots[i]) starting.push(this.createWorker(i).start());
    }
    await Promise.all(starting);
    for (const w of ready) this.options.dispatcher.addWorker(w);
    for (const w of this.workers) if (!ready.includes(w)) this.options.dispatcher.addWorker(w);
  }

  // ---- WorkerListener

  taskDone(worker: Worker): void {
    this.options.dispatcher.taskDone(worker);
  }

  exited(worker: Worker, lostJobs: Job[], cause: string): void {
    const { dispatcher, log } = this.options;
    dispatcher.removeWorker(worker);
    for (const job of lostJobs) {
      log.error(
        { worker: worker.id, pid: worker.pid, cause, route: job.route, method: job.method, requestId: job.requestId },
        `worker ${worker.id} (pid ${worker.pid}) died (${cause}) while handling ${job.method} ${job.route} [request ${job.requestId}]`,
      );
      job.fail(502, `the worker handling this request died (${cause})`);
    }
    dispatcher.jobsLost(lostJobs.length);
    if (lostJobs.length === 0) {
      log.error({ worker: worker.id, pid: worker.pid, cause }, `worker ${worker.id} (pid ${worker.pid}) died (${cause}) while idle`);
    }
    if (!this.stopping) this.respawn(this.slots.indexOf(worker), RESPAWN_DELAY_MIN_MS, true);
  }

  output(worker: Worker, stream: "stdout" | "stderr", line: string): void {
    (stream === "stderr" ? process.stderr : process.stdout).write(`[${worker.id}] ${line}\n`);
  }

  // ---- replacing and stopping

  private respawn(index: number, delayMs: number, immediately: boolean): void {
    if (index < 0 || this.stopping) return;
    const run = (): void => {
      if (this.stopping) return;
      const worker = this.createWorker(index);
      worker.start().then(
        () => {
          if (this.stopping) {
            void worker.stop(1000);
            return;
          }
          this.options.log.info({ worker: worker.id, pid: worker.pid }, `worker ${worker.id} replaced (pid ${worker.pid})`);
          this.options.dispatcher.addWorker(worker);
        },
        (err: Error) => {
          if (this.stopping) return;
          const next = Math.min(delayMs * 2, RESPAWN_DELAY_MAX_MS);
          this.options.log.error({ worker: worker.id, err: err.message }, `worker ${worker.id} failed to start; retrying in ${next} ms: ${err.message}`);
          this.slots[index] = null;
          this.respawn(index, next, false);
        },
      );
    };
    if (immediately) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer);
      run();
    }, delayMs);
    this.respawnTimers.add(timer);
  }

  /** Shuts every worker down (Shutdown frame, SIGKILL after `timeoutMs`) and waits for the processes to exit. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    await Promise.all(
      this.workers.map((w) => {
        this.options.dispatcher.removeWorker(w);
        return w.stop(timeoutMs);
      }),
    );
  }

  /** Kills every worker at once (a second Ctrl-C, or a failed start-up). */
  kill(): void {
    this.stopping = true;
    for (const w of this.workers) w.kill();
  }
}
