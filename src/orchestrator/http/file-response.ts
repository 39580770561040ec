/**
 * Answers with a file that is already open and checked (static files, the docs page's assets),
 * through the `send` library: ETag and Last-Modified with 304 (If-None-Match, If-Modified-Since)
 * and 412 (If-Match, If-Unmodified-Since), single byte ranges with 206 and 416 (If-Range too; a
 * request for several ranges gets the whole file), HEAD, and exactly the bytes announced even if
 * the file grows meanwhile.
 *
 * `send` opens files by path. On Linux the path given is /proc/self/fd/N of the descriptor the
 * caller opened and checked, so `send` stats and reads exactly that file, whatever is renamed or
 * swapped meanwhile; elsewhere it is the file's checked real path.
 */
import { existsSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sep } from "node:path";
import send from "send";
import { sendError } from "./errors.js";

export const DEFAULT_CACHE_CONTROL = "public, max-age=0";

export interface OpenFile {
  readonly handle: FileHandle;
  readonly stats: Stats;
  /** Its real path, checked by the caller. */
  readonly real: string;
}

export interface FileAnswer {
  /** The Content-Type of the file (for a precompressed sibling, that of the file it encodes). */
  readonly type: string;
  readonly cacheControl?: string;
  /** A precompressed sibling: its coding (Content-Encoding). */
  readonly encoding?: string;
  /** Vary: Accept-Encoding, where the answer depends on it (a precompressed sibling exists). */
  readonly vary?: boolean;
  /** The request path, for error details. */
  readonly path: string;
}

/** Whether /proc/self/fd/N names the very file open as descriptor N (Linux). */
const BY_DESCRIPTOR = existsSync("/proc/self/fd");

/** The path `send` reads `file` by. */
function pathForSend(file: OpenFile): string {
  return BY_DESCRIPTOR ? `/proc/self/fd/${file.handle.fd}` : file.real;
}

/** `send` takes a URL path and percent-decodes it: encode each name so `%` in a file name survives. */
function asUrlPath(path: string): string {
  return path.split(sep).map(encodeURIComponent).join("/");
}

/**
 * What `send` reads of the request (its method and headers), less Cache-Control: `send` answers
 * 200 to a conditional request that carries `Cache-Control: no-cache` (as fetch() adds to every
 * request with If-None-Match), but that directive is for caches; the origin validates (RFC 9111
 * §5.2.1.4), so a current copy still gets its 304.
 */
function validatingView(req: IncomingMessage): IncomingMessage {
  const { "cache-control": _, ...headers } = req.headers;
  return { method: req.method, headers } as IncomingMessage;
}

/** Answers with `file` (a regular file); closes its handle once the response is over. */
export function sendOpenFile(req: IncomingMessage, res: ServerResponse, file: OpenFile, answer: FileAnswer): void {
  res.once("close", () => void file.handle.close());
  const path = pathForSend(file);
  res.setHeader("content-type", answer.type);
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("cache-control", answer.cacheControl ?? DEFAULT_CACHE_CONTROL);
  if (answer.vary) res.setHeader("vary", "Accept-Encoding");
  if (answer.encoding) res.setHeader("content-encoding", answer.encoding);
  // Dot files, directories and index pages are the caller's business: it hands over a checked file.
  send(validatingView(req), asUrlPath(path), { dotfiles: "allow", index: false, cacheControl: false, etag: true, lastModified: true })
    .on("error", (err: { status?: number; headers?: Record<string, string> }) => {
      const status = err.status ?? 500;
      const headers = err.headers ?? {};
      if (status === 416) sendError(res, 416, `${answer.path}: the range is outside the file (${file.stats.size} bytes)`, headers);
      else if (status === 412) sendError(res, 412, `${answer.path}: a precondition (If-Match or If-Unmodified-Since) failed`, headers);
      else if (status === 404) sendError(res, 404, `no file for ${answer.path}`);
      else sendError(res, status, `cannot serve ${answer.path}`);
    })
    .pipe(res);
}

/** Opens a file by absolute path (a trusted one: the docs page's assets) and answers with it, or 404. */
export async function sendPath(req: IncomingMessage, res: ServerResponse, file: string, type: string, cacheControl?: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch {
    sendError(res, 404, `no file for ${req.url ?? ""}`);
    return;
  }
  let stats: Stats;
  try {
    stats = await handle.stat();
  } catch (err) {
    await handle.close();
    throw err;
  }
  if (!stats.isFile()) {
    await handle.close();
    sendError(res, 404, `no file for ${req.url ?? ""}`);
    return;
  }
  sendOpenFile(req, res, { handle, stats, real: file }, { type, cacheControl, path: req.url ?? "" });
}
