/**
 * Static files (`--static /assets=./public`), served by the orchestrator without touching a
 * worker: content type from the file name (mime-types), GET and HEAD only; validators, 304, byte
 * ranges and streaming from disk are `send`'s (src/orchestrator/http/file-response.ts). A
 * precompressed sibling (`app.js.br`, `app.js.gz`) is served instead of the file when the client
 * accepts its coding, with Content-Encoding and Vary: Accept-Encoding.
 *
 * A request under a mount's prefix is the mount's, whether or not the file exists: an app route
 * under the prefix is hidden (warned at start-up). The folder's real path is fixed at start-up, and
 * no request reaches outside it: `.` and `..` segments (as written or percent-encoded), encoded
 * slashes and backslashes and NUL bytes are refused with 400, and a file whose real path (symlinks
 * resolved) lies outside the folder is a 404, as are hidden files (names starting with a dot),
 * reached directly or through a symlink. The real path is checked on the opened descriptor too,
 * so a directory swapped for a symlink during the request cannot lead outside.
 */
import { constants, realpathSync, statSync, type Stats } from "node:fs";
import { open, realpath, stat, type FileHandle } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, join, relative, resolve, sep } from "node:path";
import { createRequire } from "node:module";
import type { contentType as ContentType } from "mime-types";
import type { Logger } from "../log.js";
import type { RouteInfo } from "../../protocol/messages.js";
import type { BuiltIn, BuiltInRequest } from "./built-ins.js";
import { acceptedEncodings, type Encoding } from "./compression.js";
import { sendError } from "./errors.js";
import { DEFAULT_CACHE_CONTROL, sendOpenFile, type OpenFile } from "./file-response.js";

/** One `--static PREFIX=DIR`. */
export interface StaticMount {
  /** The URL prefix, without a trailing slash: `/assets`. */
  readonly prefix: string;
  /** The folder as given. */
  readonly dir: string;
  /** The folder's real path (symlinks resolved), checked at start-up. */
  readonly root: string;
}

/** A `--static` value that cannot be used. */
export class StaticMountError extends Error {
  override name = "StaticMountError";
}

const PREFIX = /^(\/[A-Za-z0-9._~-]+)+$/;

/** Parses `PREFIX=DIR` (DIR relative to `cwd`); the folder must exist. */
function parseStaticMount(text: string, cwd = process.cwd()): StaticMount {
  const eq = text.indexOf("=");
  if (eq < 0) throw new StaticMountError(`"${text}" must be PREFIX=DIR, for example /assets=./public`);
  const prefix = text.slice(0, eq).trim().replace(/\/+$/, "");
  const dir = text.slice(eq + 1).trim();
  if (!PREFIX.test(prefix) || prefix.split("/").some((s) => s === "." || s === "..")) {
    throw new StaticMountError(
      `"${text.slice(0, eq)}" is not a usable URL prefix: it must start with / and name a path below it (letters, digits, . _ ~ -), for example /assets`,
    );
  }
  if (dir === "") throw new StaticMountError(`"${text}" names no directory`);
  const absolute = resolve(cwd, dir);
  let stats: Stats;
  try {
    stats = statSync(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StaticMountError(
      code === "ENOENT" ? `directory ${dir} does not exist (${absolute})` : `cannot use directory ${dir}: ${(err as Error).message}`,
    );
  }
  if (!stats.isDirectory()) throw new StaticMountError(`${dir} is not a directory (${absolute})`);
  return { prefix, dir, root: realpathSync(absolute) };
}

/** Adds one mount to those given before, refusing a prefix given twice. */
export function addStaticMount(text: string, previous: readonly StaticMount[] = [], cwd = process.cwd()): StaticMount[] {
  const mount = parseStaticMount(text, cwd);
  if (previous.some((m) => m.prefix === mount.prefix)) throw new StaticMountError(`the prefix ${mount.prefix} is given twice`);
  return [...previous, mount];
}

/** Whether `path` (a URL path or route path) is under `prefix`. */
function under(prefix: string, path: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** Start-up (and reload) warning: app routes under a static prefix are never reached. */
export function warnStaticClashes(log: Logger, mounts: readonly StaticMount[], routes: readonly RouteInfo[], builtIns: readonly string[] = []): void {
  for (const mount of mounts) {
    for (const path of [...routes.map((r) => r.path), ...builtIns]) {
      if (under(mount.prefix, path)) {
        log.warn({ path, prefix: mount.prefix }, `static files at ${mount.prefix} hide ${path}, which is under that prefix`);
      }
    }
  }
}

/** Where a request path leads inside a mount, or why it may not be served. */
type Lookup = { kind: "file"; segments: string[]; directory: boolean } | { kind: "bad"; detail: string } | { kind: "missing" };

/** Splits and percent-decodes the part of `path` after the prefix, refusing anything that could step outside. */
export function lookupPath(rest: string): Lookup {
  // rest is "" (the prefix itself) or starts with "/".
  const raw = rest === "" ? [] : rest.slice(1).split("/");
  const directory = rest.endsWith("/");
  if (directory) raw.pop();
  const segments: string[] = [];
  for (const segment of raw) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { kind: "bad", detail: "malformed percent-encoding" };
    }
    if (decoded === "") return { kind: "bad", detail: "empty path segment" };
    if (decoded === "." || decoded === "..") return { kind: "bad", detail: "dot segments are not allowed" };
    if (/[/\\\0]/.test(decoded)) return { kind: "bad", detail: "slashes, backslashes and NUL bytes are not allowed in a file name" };
    if (decoded.startsWith(".")) return { kind: "missing" }; // hidden files are never served
    segments.push(decoded);
  }
  return { kind: "file", segments, directory };
}

/** Serves the files of the `--static` mounts: a built-in route that wins over the app's (src/orchestrator/http/built-ins.ts). */
export class StaticFiles implements BuiltIn {
  readonly beforeApp = true;
  readonly paths: readonly string[] = [];

  /** Longest prefix first, so /a/b wins over /a. */
  readonly mounts: readonly StaticMount[];

  constructor(
    mounts: readonly StaticMount[],
    /** The Cache-Control of every file (`--static-cache-control`). */
    private readonly cacheControl = DEFAULT_CACHE_CONTROL,
  ) {
    this.mounts = [...mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** Whether `path` is under a mount (and so is answered by `answer`). */
  matches(path: string): boolean {
    return this.mounts.some((m) => under(m.prefix, path));
  }

  answer({ req, res, method, path, url }: BuiltInRequest): void {
    const mount = this.mounts.find((m) => under(m.prefix, path))!;
    this.serve(mount, req, res, path, url).catch((err: Error) => sendError(res, 500, `cannot serve ${path}: ${err.message}`));
  }

  private async serve(mount: StaticMount, req: IncomingMessage, res: ServerResponse, path: string, url: string): Promise<void> {
    const lookup = lookupPath(path.slice(mount.prefix.length));
    if (lookup.kind === "bad") {
      sendError(res, 400, `${path}: ${lookup.detail}`);
      return;
    }
    const notFound = (): void => void sendError(res, 404, `no file for ${path}`);
    if (lookup.kind === "missing") return notFound();
    let candidate = join(mount.root, ...lookup.segments);
    const target = await openInside(mount.root, candidate);
    if (!target) return notFound();
    let file: OpenFile = target;
    let name = lookup.segments.at(-1) ?? "";
    if (target.stats.isDirectory()) {
      await target.handle.close();
      if (!lookup.directory) {
        // /assets/docs → /assets/docs/, so that the index page's relative links work.
        const q = url.indexOf("?");
        const location = `${path}/${q < 0 ? "" : url.slice(q)}`;
        sendError(res, 301, `${path} is a directory: ${path}/`, { location });
        return;
      }
      candidate = join(target.real, "index.html");
      const index = await openInside(mount.root, candidate);
      if (!index || !index.stats.isFile()) {
        await index?.handle.close();
        return notFound();
      }
      file = index;
      name = "index.html";
    } else if (!target.stats.isFile() || lookup.directory) {
      await target.handle.close();
      return notFound();
    }
    const type = contentTypeFor(name);
    const sibling = await precompressed(mount.root, candidate, req.headers["accept-encoding"]);
    if (sibling.file) {
      await file.handle.close();
      file = sibling.file;
    }
    sendOpenFile(req, res, file, { type, cacheControl: this.cacheControl, encoding: sibling.encoding, vary: sibling.exists, path });
  }
}

/** Precompressed siblings, preferred first when the client likes both equally. */
const SIBLINGS: readonly [Encoding, string][] = [
  ["br", ".br"],
  ["gzip", ".gz"],
];

/**
 * The precompressed sibling of `candidate` to serve instead of it: the one of the coding the
 * client prefers among those it accepts and that exist (same checks as any file: inside the root,
 * a regular file). `exists` says whether any sibling exists, so that the answer varies by
 * Accept-Encoding even for a client that gets the plain file.
 */
async function precompressed(
  root: string,
  candidate: string,
  acceptEncoding: string | undefined,
): Promise<{ file?: OpenFile; encoding?: Encoding; exists: boolean }> {
  const accepted = acceptedEncodings(acceptEncoding);
  let exists = false;
  let best: { file: OpenFile; encoding: Encoding; rank: number } | undefined;
  for (const [encoding, extension] of SIBLINGS) {
    const opened = await openInside(root, candidate + extension);
    if (!opened) continue;
    if (!opened.stats.isFile()) {
      await opened.handle.close();
      continue;
    }
    exists = true;
    const rank = accepted.indexOf(encoding);
    if (rank >= 0 && (best === undefined || rank < best.rank)) {
      await best?.file.handle.close();
      best = { file: opened, encoding, rank };
    } else {
      await opened.handle.close();
    }
  }
  return { file: best?.file, encoding: best?.encoding, exists };
}

/** mime-types, loaded at the first file served: its table of types is large, and most servers serve none. */
let contentType: typeof ContentType | null = null;

/** The Content-Type for a file name (with a charset for text types); unknown: application/octet-stream. */
export function contentTypeFor(name: string): string {
  contentType ??= (createRequire(import.meta.url)("mime-types") as { contentType: typeof ContentType }).contentType;
  return contentType(basename(name)) || "application/octet-stream";
}

/** Whether `real` is `root` or inside it. */
function inside(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Whether a name below `root` on the way to `real` starts with a dot (a symlink to `.env`, say). */
function hiddenBelow(root: string, real: string): boolean {
  return relative(root, real)
    .split(sep)
    .some((name) => name.startsWith("."));
}

/**
 * The real path of what an open descriptor refers to: on Linux, /proc/self/fd says exactly which
 * file was opened; elsewhere, the path resolved again after the open, accepted only if it is
 * still the same file (device and inode).
 */
async function openedPath(handle: FileHandle, stats: Stats, real: string): Promise<string | null> {
  try {
    return await realpath(`/proc/self/fd/${handle.fd}`);
  } catch {
    try {
      const again = await realpath(real);
      const now = await stat(again);
      return now.dev === stats.dev && now.ino === stats.ino ? again : null;
    } catch {
      return null;
    }
  }
}

/**
 * Opens `candidate` if its real path is `root` or inside it and names nothing hidden; null when
 * it does not exist, cannot be opened, or leads outside (a symlink pointing out of the folder).
 * The path is resolved before the open and checked again on the opened descriptor: a directory
 * swapped for a symlink between the two cannot lead outside, since O_NOFOLLOW guards only the
 * last component.
 */
async function openInside(root: string, candidate: string): Promise<{ handle: FileHandle; stats: Stats; real: string } | null> {
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    return null;
  }
  if (!inside(root, real) || hiddenBelow(root, real)) return null;
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused: not a file).
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const stats = await handle.stat();
    const opened = await openedPath(handle, stats, real);
    if (opened === null || !inside(root, opened) || hiddenBelow(root, opened)) {
      await handle.close();
      return null;
    }
    return { handle, stats, real: opened };
  } catch {
    await handle.close();
    return null;
  }
}
