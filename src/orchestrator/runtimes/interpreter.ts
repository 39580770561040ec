/**
 * Which Python runs the workers, and why: `--python` if given, else the active virtualenv's
 * (VIRTUAL_ENV), else a project virtualenv, `.venv/` or `venv/` with `bin/python` (the layouts of
 * uv, poetry in-project and `python -m venv`) in the app's directory and then in the current one,
 * else `python3` from PATH. The reason goes into the start-up log, and into the hint shown when a
 * module cannot be imported.
 */
import { accessSync, constants, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { AppSpec } from "../../shared/app-spec.js";

export interface Interpreter {
  /** What the workers are started with. */
  readonly path: string;
  /** Why this one, for the log: "--python", "the active virtualenv (VIRTUAL_ENV)", ... */
  readonly why: string;
}

const PROJECT_VENVS = [".venv", "venv"] as const;

/**
 * The folder an APP's module lives in: for a file (`src/main.py:app`) its folder, for a module
 * name (`pkg.main:app`) the folder it is imported from (`appDir`, else the current directory).
 */
export function appDirectory(app: AppSpec, appDir: string | undefined, cwd = process.cwd()): string {
  const base = resolve(cwd, appDir ?? ".");
  const isFile = app.module.includes("/") || app.module.endsWith(".py");
  return isFile ? resolve(base, dirname(app.module)) : base;
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function choosePython(
  given: string | undefined,
  appDirectory: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
  /** Where `given` came from, for the log: "--python", "NEUTRINO_PYTHON", ... */
  givenBy = "--python",
): Interpreter {
  if (given) return { path: given, why: givenBy };
  if (env.VIRTUAL_ENV) return { path: join(env.VIRTUAL_ENV, "bin", "python"), why: "the active virtualenv (VIRTUAL_ENV)" };
  const dirs = [...new Set([appDirectory, cwd])];
  for (const dir of dirs) {
    for (const name of PROJECT_VENVS) {
      const python = join(dir, name, "bin", "python");
      if (isExecutable(python)) return { path: python, why: `the project's virtualenv ${join(dir, name)}` };
    }
  }
  return { path: "python3", why: `python3 from PATH: no --python, no VIRTUAL_ENV, no .venv or venv in ${dirs.join(" or ")}` };
}
