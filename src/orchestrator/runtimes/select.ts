/** Builds the runtime for a resolved APP from the command line's settings. */
import { DEFAULT_CONCURRENCY } from "../../shared/concurrency.js";
import type { Interface } from "../../shared/interface.js";
import { NodeRuntime } from "./node.js";
import { defaultPython, PythonRuntime } from "./python.js";
import type { ResolvedApp } from "./resolve.js";
import type { WorkerRuntime } from "./runtime.js";

interface RuntimeSettings {
  /** Interpreter for Python workers. */
  readonly python?: string | undefined;
  /** Requests one worker holds at once: a Node worker, or a Python worker of an app with async routes. */
  readonly workerConcurrency?: number | undefined;
  /** What APP is (`--interface`); auto when unset. */
  readonly interface?: Interface | undefined;
  /** Where a foreign Python app is mounted behind a proxy (`--root-path`). */
  readonly rootPath?: string | undefined;
}

export function runtimeFor({ language }: ResolvedApp, settings: RuntimeSettings): WorkerRuntime {
  const { workerConcurrency } = settings;
  const kind = settings.interface ?? "auto";
  if (language === "node") return new NodeRuntime(workerConcurrency ?? DEFAULT_CONCURRENCY, kind);
  // A Python app without async routes runs one request at a time whatever this says.
  return new PythonRuntime(settings.python ?? defaultPython(), workerConcurrency ?? DEFAULT_CONCURRENCY, kind, settings.rootPath ?? "");
}
