/**
 * Starts Node workers: `node dist/src/node-worker/main.js <socket> <id> <app>`, with the
 * concurrency in NEUTRINO_WORKER_CONCURRENCY (and NEUTRINO_FACTORY=1 for `--factory`). The worker
 * itself loads tsx for a TypeScript app (node-worker/app-loader.ts).
 */
import { fileURLToPath } from "node:url";
import type { AppSpec } from "../../shared/app-spec.js";
import { workerEnv, type WorkerSettings } from "./worker-env.js";
import type { WorkerCommand, WorkerRuntime } from "./runtime.js";

/** This file compiles to dist/src/orchestrator/runtimes/node.js; the worker is dist/src/node-worker/main.js. */
const workerMain = fileURLToPath(new URL("../../node-worker/main.js", import.meta.url));

export class NodeRuntime implements WorkerRuntime {
  readonly name = "node";
  readonly description: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(concurrency: number, settings: WorkerSettings = {}) {
    this.description = `node ${process.version} (up to ${concurrency} requests at once per worker)`;
    this.env = workerEnv(process.env, { ...settings, concurrency });
  }

  command(socketPath: string, workerId: string, app: AppSpec): WorkerCommand {
    return {
      file: process.execPath,
      args: [workerMain, socketPath, workerId, app.text],
      env: this.env,
    };
  }
}
