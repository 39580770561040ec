/** Builds the runtime for a resolved APP from the command line's settings. */
import { DEFAULT_CONCURRENCY } from "../node-worker/concurrency.js";
import { NodeRuntime } from "./node.js";
import { defaultPython, PythonRuntime } from "./python.js";
import type { ResolvedApp } from "./resolve.js";
import type { WorkerRuntime } from "./runtime.js";

export interface RuntimeSettings {
  /** Interpreter for Python workers. */
  readonly python?: string | undefined;
  /** Requests one Node worker holds at once; Python workers always take 1. */
  readonly workerConcurrency?: number | undefined;
}

export class RuntimeSettingError extends Error {
  override name = "RuntimeSettingError";
}

export function runtimeFor({ language }: ResolvedApp, settings: RuntimeSettings): WorkerRuntime {
  const { workerConcurrency } = settings;
  if (language === "node") return new NodeRuntime(workerConcurrency ?? DEFAULT_CONCURRENCY);
  if (workerConcurrency !== undefined && workerConcurrency !== 1) {
    throw new RuntimeSettingError(
      "--worker-concurrency applies to Node apps: a Python worker runs one request at a time (use --workers for more of them)",
    );
  }
  return new PythonRuntime(settings.python ?? defaultPython());
}
