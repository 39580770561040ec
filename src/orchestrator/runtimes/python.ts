/** Starts Python workers: `python -m neutrino.internal.worker.main <socket> <id> <app>`. */
import { delimiter, join } from "node:path";
import type { AppSpec } from "../../shared/app-spec.js";
import { CONCURRENCY_ENV } from "../../shared/concurrency.js";
import { INTERFACE_ENV, ROOT_PATH_ENV, type Interface } from "../../shared/interface.js";
import { packageRoot } from "../../shared/package-root.js";
import type { WorkerCommand, WorkerRuntime } from "./runtime.js";

/** The SDK ships inside the package and goes on the workers' PYTHONPATH: no pip install needed. */
const pythonSdkDir = join(packageRoot, "python", "src");

/** The active virtualenv's interpreter, else `python3` from PATH. */
export function defaultPython(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIRTUAL_ENV ? join(env.VIRTUAL_ENV, "bin", "python") : "python3";
}

export class PythonRuntime implements WorkerRuntime {
  readonly name = "python";
  readonly description: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly python: string,
    concurrency: number,
    kind: Interface = "auto",
    rootPath = "",
  ) {
    this.description = python;
    const inherited = process.env.PYTHONPATH;
    this.env = {
      ...process.env,
      // The SDK first, so a stale pip-installed copy does not shadow the one matching this orchestrator.
      PYTHONPATH: inherited ? `${pythonSdkDir}${delimiter}${inherited}` : pythonSdkDir,
      // Handler output reaches the log line by line, not when a 4 KiB buffer fills.
      PYTHONUNBUFFERED: "1",
      // Used only by apps with async routes; the others run one request at a time.
      [CONCURRENCY_ENV]: String(concurrency),
      [INTERFACE_ENV]: kind,
      [ROOT_PATH_ENV]: rootPath,
    };
  }

  command(socketPath: string, workerId: string, app: AppSpec): WorkerCommand {
    return {
      file: this.python,
      args: ["-m", "neutrino.internal.worker.main", socketPath, workerId, app.text],
      env: this.env,
    };
  }
}
