/**
 * `--reload` for development: watch the app's source files (chokidar) and roll the workers when
 * one changes. The rolling restart keeps the last good workers serving when the new code fails to
 * import, and logs the traceback (WorkerPool.reload).
 *
 * What is watched: the `--reload-dir` folders (default: the current directory). A file counts when
 * it has a source extension or matches a `--reload-include` glob, and neither it nor a folder above
 * it matches a `--reload-exclude` glob or is one of the folders never watched (node_modules, .git,
 * virtualenvs, caches, dist). Globs are matched against the path relative to the watched folder; a
 * glob without a slash also matches the file or folder name alone (`*.html`, `migrations`).
 */
import type { FSWatcher } from "chokidar";
import { createRequire } from "node:module";
import { extname, isAbsolute, relative, resolve, sep } from "node:path";
import type picomatchType from "picomatch";
import type { Logger } from "./log.js";

const SOURCE_EXTENSIONS = new Set([".py", ".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json", ".toml"]);
const IGNORED_DIRS = /(^|[/\\])(node_modules|\.git|__pycache__|\.venv|venv|dist|\.mypy_cache|\.pytest_cache)([/\\]|$)/;
/** Editors write a file in several steps; one reload per burst. */
const DEBOUNCE_MS = 200;

export interface ReloadOptions {
  /** Folders to watch (relative to the current directory); none: the current directory. */
  readonly dirs?: readonly string[];
  /** Globs of files that count besides the source extensions (`*.html`, `templates/**`). */
  readonly include?: readonly string[];
  /** Globs of files and folders whose changes never count (`tests/**`, `*.log`). */
  readonly exclude?: readonly string[];
}

/** The folders watched: `dirs` as absolute paths, else the current directory. */
export function reloadDirs(dirs: readonly string[] = [], cwd = process.cwd()): string[] {
  return dirs.length > 0 ? dirs.map((d) => resolve(cwd, d)) : [cwd];
}

/** Decides which changed paths reload the app. */
export function reloadFilter({ dirs, include = [], exclude = [] }: ReloadOptions, cwd = process.cwd()) {
  const roots = reloadDirs(dirs, cwd);
  const included = globs(include);
  const excluded = globs(exclude);
  /** `path` relative to the watched folder it is in, with forward slashes. */
  const relativePath = (path: string): string => {
    const root = roots.find((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep));
    const rel = root === undefined ? path : relative(root, path);
    return rel.split(sep).join("/");
  };
  return {
    roots,
    /** Whether a change of `path` (a folder, or a file when `isFile`) is ignored; a folder ignored is not descended into. */
    ignored(path: string, isFile: boolean | undefined): boolean {
      const rel = relativePath(isAbsolute(path) ? path : resolve(cwd, path));
      if (rel === "") return false; // a watched folder itself
      if (IGNORED_DIRS.test(rel) || excluded(rel)) return true;
      return isFile === true && !SOURCE_EXTENSIONS.has(extname(rel)) && !included(rel);
    },
  };
}

// Loaded on first use: only --reload needs them, and a server that never reloads keeps them out of its heap.
const require = createRequire(import.meta.url);

/** A matcher for relative paths: a glob with a slash matches the whole path, one without the last name. */
function globs(patterns: readonly string[]): (rel: string) => boolean {
  const withSlash = patterns.filter((p) => p.includes("/"));
  const nameOnly = patterns.filter((p) => !p.includes("/"));
  const picomatch = require("picomatch") as typeof picomatchType;
  const whole = withSlash.length > 0 ? picomatch(withSlash, { dot: true }) : () => false;
  const name = nameOnly.length > 0 ? picomatch(nameOnly, { dot: true }) : () => false;
  return (rel) => whole(rel) || name(rel.slice(rel.lastIndexOf("/") + 1));
}

export function watchForReload(options: ReloadOptions, log: Logger, reload: () => void): FSWatcher {
  const filter = reloadFilter(options);
  let timer: NodeJS.Timeout | null = null;
  const { watch } = require("chokidar") as typeof import("chokidar");
  const watcher = watch(filter.roots, {
    ignoreInitial: true,
    ignored: (path, stats) => filter.ignored(path, stats?.isFile()),
  });
  watcher.on("all", (event, path) => {
    log.debug({ event, path }, `${path}: ${event}`);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      log.info({ event, path }, `${path} changed: reloading`);
      reload();
    }, DEBOUNCE_MS);
  });
  watcher.on("error", (err) => log.warn({ err: String(err) }, `file watcher: ${String(err)}`));
  // Said once the folders are scanned: a change made before that would not be seen.
  watcher.once("ready", () => {
    const { include = [], exclude = [] } = options;
    log.info({ dirs: filter.roots, include, exclude }, `watching ${filter.roots.join(", ")} for changes`);
  });
  return watcher;
}
