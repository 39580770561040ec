/**
 * `--reload` for development: watch the app's source files (chokidar) and roll the workers when
 * one changes. The rolling restart keeps the last good workers serving when the new code fails to
 * import, and logs the traceback (WorkerPool.reload).
 */
import { watch, type FSWatcher } from "chokidar";
import { extname } from "node:path";
import type { Logger } from "./log.js";

const SOURCE_EXTENSIONS = new Set([".py", ".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json", ".toml"]);
const IGNORED_DIRS = /(^|[/\\])(node_modules|\.git|__pycache__|\.venv|venv|dist|\.mypy_cache|\.pytest_cache)([/\\]|$)/;
/** Editors write a file in several steps; one reload per burst. */
const DEBOUNCE_MS = 200;

export function watchForReload(dir: string, log: Logger, reload: () => void): FSWatcher {
  let timer: NodeJS.Timeout | null = null;
  const watcher = watch(dir, {
    ignoreInitial: true,
    ignored: (path, stats) => IGNORED_DIRS.test(path) || (stats?.isFile() === true && !SOURCE_EXTENSIONS.has(extname(path))),
  });
  watcher.on("all", (event, path) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      log.info({ event, path }, `${path} changed: reloading`);
      reload();
    }, DEBOUNCE_MS);
  });
  watcher.on("error", (err) => log.warn({ err: String(err) }, `file watcher: ${String(err)}`));
  return watcher;
}
