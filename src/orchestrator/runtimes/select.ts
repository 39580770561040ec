/** Builds the runtime for a resolved APP from the command line's settings. */
import { DEFAULT_CONCURRENCY } from "../../shared/concurrency.js";
import { NodeRuntime } from "./node.js";
import { defaultPython, PythonRuntime } from "./python.js";
import type { ResolvedApp } from "./resolve.js";
import type { WorkerRuntime } from "./runtime.js";

interface RuntimeSettings {
  /** Interpreter for Python workers. */
  readonly python?: string | undefined;
  /** Requests one worker holds at once: a Node worker, or a Python worker of an app with async routes. */
  readonly workerConcurrency?: number | undefined;
  /** --debug: failed handlers' exceptions go in their 500s. */
  readonly debug?: boolean | undefined;
}

export function runtimeFor({ language }: ResolvedApp, settings: RuntimeSettings): WorkerRuntime {
  const { workerConcurrency } = settings;
  const env = workerEnv(settings);
  if (language === "node") return new NodeRuntime(workerConcurrency ?? DEFAULT_CONCURRENCY, env);
  // A Python app without async routes runs one request at a time whatever this says.
  return new PythonRuntime(settings.python ?? defaultPython(), workerConcurrency ?? DEFAULT_CONCURRENCY, env);
}

/** The settings workers of every runtime read from their environment. */
function workerEnv(settings: RuntimeSettings): Record<string, string> {
  return settings.debug ? { NEUTRINO_DEBUG: "1" } : {};
}
