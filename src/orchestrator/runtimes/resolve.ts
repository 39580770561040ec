/**
 * Which language serves an APP. The module part names a file or a module:
 * - with an extension, the extension decides: `.py` is Python; `.ts`, `.mts`, `.cts`, `.js`,
 *   `.mjs`, `.cjs` are Node;
 * - a dotted name without "/" (`pkg.mod`) is Python's import syntax: Python;
 * - otherwise (`myapp`, `examples/myapp`) the files beside it decide: `<module>.ts`, `.mts`, `.js`
 *   or `.mjs` (first found, in that order) is Node, `<module>.py` or `<module>/__init__.py` is
 *   Python; both is an error asking the user to name the file; neither is Python, whose loader
 *   says clearly that the module is not found.
 * Paths are relative to the current directory, as the workers import them, or to `--app-dir`: a
 * file's path is then prefixed with that folder (the workers still resolve it from the current
 * directory), and a Python module name is imported from it (src/orchestrator/runtimes/python.ts).
 */
import { statSync } from "node:fs";
import { extname, isAbsolute, join, resolve } from "node:path";
import { AppSpecError, NODE_EXTENSIONS, NODE_SEARCH_EXTENSIONS, type AppSpec } from "../../shared/app-spec.js";

type Language = "python" | "node";

export interface ResolvedApp {
  readonly language: Language;
  /** For Node, names the file found (`examples/myapp.ts:app`); for Python, as the user gave it. */
  readonly app: AppSpec;
}

export function resolveApp(app: AppSpec, appDir?: string, cwd: string = process.cwd()): ResolvedApp {
  const { module, attribute } = app;
  const base = resolve(cwd, appDir ?? ".");
  /** The app with its file named relative to the current directory. */
  const inAppDir = (file: string): AppSpec => {
    const path = appDir === undefined || isAbsolute(file) ? file : join(appDir, file);
    return path === module ? app : { text: `${path}:${attribute}`, module: path, attribute };
  };
  const extension = extname(module);
  if (extension === ".py") return { language: "python", app: inAppDir(module) };
  if (NODE_EXTENSIONS.has(extension)) return { language: "node", app: inAppDir(module) };
  if (!module.includes("/") && module.includes(".")) return { language: "python", app };

  const nodeFile = NODE_SEARCH_EXTENSIONS.map((ext) => module + ext).find((f) => isFile(resolve(base, f)));
  const pythonFile = [`${module}.py`, join(module, "__init__.py")].find((f) => isFile(resolve(base, f)));
  if (nodeFile && pythonFile) {
    throw new AppSpecError(
      `${module} matches both ${pythonFile} and ${nodeFile}: name the file, e.g. ${nodeFile}:${attribute} or ${module}.py:${attribute}`,
    );
  }
  if (nodeFile) return { language: "node", app: inAppDir(nodeFile) };
  // A path (examples/myapp) is a file for the Python loader; a bare name is a module it imports.
  return { language: "python", app: module.includes("/") ? inAppDir(module) : app };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
