/** Starts Python workers: `python -m neutrino.internal.worker.main <socket> <id> <app>`. */
import { delimiter, join, resolve } from "node:path";
import type { AppSpec } from "../../shared/app-spec.js";
import { workerEnv, type WorkerSettings } from "./worker-env.js";
import { packageRoot } from "../../shared/package-root.js";
import { StartupFailure } from "../../shared/startup-failure.js";
import type { Interpreter } from "./interpreter.js";
import type { WorkerCommand, WorkerRuntime } from "./runtime.js";

/** The SDK ships inside the package and goes on the workers' PYTHONPATH: no pip install needed. */
const pythonSdkDir = join(packageRoot, "python", "src");

export interface PythonOptions extends WorkerSettings {
  /** `--app-dir`: where APP's module is imported from, besides the current directory. */
  readonly appDir?: string | undefined;
}

export class PythonRuntime implements WorkerRuntime {
  readonly name = "python";
  readonly description: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly interpreter: Interpreter,
    concurrency: number | undefined,
    { appDir, ...settings }: PythonOptions = {},
  ) {
    this.description = `${interpreter.path} (${interpreter.why})`;
    const inherited = process.env.PYTHONPATH;
    // The SDK first, so a stale pip-installed copy does not shadow the one matching this orchestrator.
    const path = [pythonSdkDir, ...(appDir ? [resolve(appDir)] : []), ...(inherited ? [inherited] : [])];
    this.env = workerEnv(
      {
        ...process.env,
        PYTHONPATH: path.join(delimiter),
        // Handler output reaches the log line by line, not when a 4 KiB buffer fills.
        PYTHONUNBUFFERED: "1",
      },
      { ...settings, concurrency },
    );
  }

  command(socketPath: string, workerId: string, app: AppSpec): WorkerCommand {
    return {
      file: this.interpreter.path,
      args: ["-m", "neutrino.internal.worker.main", socketPath, workerId, app.text],
      env: this.env,
    };
  }

  /** A module that cannot be imported is often one installed in another environment than this interpreter's. */
  startupHint(failure: Error): string | null {
    if (!(failure instanceof StartupFailure)) return null;
    const { path, why } = this.interpreter;
    const other = `if it is installed in another environment, give that environment's interpreter with --python PATH (e.g. --python .venv/bin/python)`;
    if (failure.kind === "module_not_found") {
      return `hint: the workers run ${path} (${why}); if APP's module is in another folder, give it with --app-dir DIR; ${other}`;
    }
    if (failure.kind === "import_error" && /\bModuleNotFoundError\b/.test(failure.message)) {
      return `hint: the workers run ${path} (${why}), which cannot import that module; ${other}, or activate its virtualenv`;
    }
    return null;
  }
}
