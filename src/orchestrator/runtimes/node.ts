/**
 * Starts Node workers: `node [--import <tsx>] dist/src/node-worker/main.js <socket> <id> <app>`,
 * with the concurrency in NEUTRINO_WORKER_CONCURRENCY (and NEUTRINO_FACTORY=1 for `--factory`). tsx is loaded only for TypeScript apps:
 * it costs start-up time that JavaScript apps need not pay.
 */
import { createRequire } from "node:module";
import { extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { TYPESCRIPT_EXTENSIONS, type AppSpec } from "../../shared/app-spec.js";
import { workerEnv, type WorkerSettings } from "./worker-env.js";
import type { WorkerCommand, WorkerRuntime } from "./runtime.js";

/** This file compiles to dist/src/orchestrator/runtimes/node.js; the worker is dist/src/node-worker/main.js. */
const workerMain = fileURLToPath(new URL("../../node-worker/main.js", import.meta.url));

/**
 * tsx's loader, resolved from this package as an absolute URL, so that an app need not install
 * tsx itself. (createRequire rather than import.meta.resolve, which Node 20.0-20.5 lacks.)
 */
function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
}

export class NodeRuntime implements WorkerRuntime {
  readonly name = "node";
  readonly description: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(concurrency: number, settings: WorkerSettings = {}) {
    this.description = `node ${process.version} (up to ${concurrency} requests at once per worker)`;
    this.env = workerEnv(process.env, { ...settings, concurrency });
  }

  command(socketPath: string, workerId: string, app: AppSpec): WorkerCommand {
    const loader = TYPESCRIPT_EXTENSIONS.has(extname(app.module)) ? ["--import", tsxLoaderUrl()] : [];
    return {
      file: process.execPath,
      args: [...loader, workerMain, socketPath, workerId, app.text],
      env: this.env,
    };
  }
}
