/** Builds the runtime for a resolved APP from the command line's settings. */
import { DEFAULT_CONCURRENCY } from "../../shared/concurrency.js";
import type { Interface } from "../../shared/interface.js";
import { appDirectory, choosePython } from "./interpreter.js";
import { NodeRuntime } from "./node.js";
import { PythonRuntime } from "./python.js";
import type { ResolvedApp } from "./resolve.js";
import type { WorkerRuntime } from "./runtime.js";

interface RuntimeSettings {
  /** Interpreter for Python workers. */
  readonly python?: string | undefined;
  /** Where `python` came from, for the log (default "--python"). */
  readonly pythonFrom?: string | undefined;
  /** Requests one worker holds at once: a Node worker, a Python worker of an app with async routes, a WSGI app's threads; unset: the app kind's default. */
  readonly workerConcurrency?: number | undefined;
  /** `--app-dir`: where APP's module is looked up. */
  readonly appDir?: string | undefined;
  /** `--factory`: APP names a function that returns the app. */
  readonly factory?: boolean | undefined;
  /** `--debug`: failed handlers' exceptions go in their 500s. */
  readonly debug?: boolean | undefined;
  /** What APP is (`--interface`); auto when unset. */
  readonly interface?: Interface | undefined;
  /** `--root-path`: the prefix a proxy mounts the app under. */
  readonly rootPath?: string | undefined;
}

export function runtimeFor({ language, app }: ResolvedApp, settings: RuntimeSettings): WorkerRuntime {
  const { workerConcurrency, appDir } = settings;
  const worker = { factory: settings.factory, debug: settings.debug, interface: settings.interface, rootPath: settings.rootPath };
  if (language === "node") return new NodeRuntime(workerConcurrency ?? DEFAULT_CONCURRENCY, worker);
  // Unset, the Python worker picks its app's default: 64 with async routes, 1 for WSGI threads.
  const interpreter = choosePython(settings.python, appDirectory(app, appDir), process.env, process.cwd(), settings.pythonFrom);
  return new PythonRuntime(interpreter, workerConcurrency, { appDir, ...worker });
}
