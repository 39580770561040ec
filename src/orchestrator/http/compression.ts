/**
 * Response compression (`--compress [MIN_BYTES]`): gzip or brotli, as the request's
 * Accept-Encoding prefers, for worker answers of a compressible type (JSON, text, JavaScript, XML,
 * SVG) of at least MIN_BYTES. An answer the worker encoded itself, or marked `no-transform`, is
 * left alone.
 *
 * Small bodies are compressed synchronously: for them zlib's async API costs the event loop about
 * as much as the compression itself (a stream and a thread-pool round trip per call). From
 * SYNC_LIMIT up the work goes to the thread pool, off the event loop.
 */
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync, type BrotliOptions } from "node:zlib";
import type { Pair } from "../../protocol/messages.js";

export interface CompressionOptions {
  /** Smallest body compressed, in bytes. */
  readonly minBytes: number;
}

/** The size `--compress` without a value sets. */
export const DEFAULT_MIN_BYTES = 1024;
/** Bodies below this are compressed on the event loop, larger ones in the thread pool. */
const SYNC_LIMIT = 32 * 1024;
/** Brotli's default quality, 11, is far too slow for responses; 4 compresses better than gzip at about its speed. */
const BROTLI_QUALITY = 4;

export type Encoding = "br" | "gzip";

/**
 * The preferred encoding among those Accept-Encoding accepts (q > 0), or null for none. `*`
 * stands for any coding the header does not name; on a tie brotli wins.
 */
export function negotiate(acceptEncoding: string | undefined): Encoding | null {
  return acceptedEncodings(acceptEncoding)[0] ?? null;
}

/** The encodings Accept-Encoding accepts (q > 0), preferred first (brotli on a tie). */
export function acceptedEncodings(acceptEncoding: string | undefined): Encoding[] {
  if (!acceptEncoding) return [];
  let br = -1;
  let gz = -1;
  let star = -1;
  for (const part of acceptEncoding.split(",")) {
    const semi = part.indexOf(";");
    const name = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase();
    let q = 1;
    if (semi >= 0) {
      const m = /(?:^|;)\s*q\s*=\s*([0-9.]+)\s*(?:;|$)/i.exec(part.slice(semi));
      if (m) q = Number(m[1]);
      if (!(q >= 0 && q <= 1)) q = 0; // malformed: not acceptable
    }
    if (name === "br") br = q;
    else if (name === "gzip" || name === "x-gzip") gz = q;
    else if (name === "*") star = q;
  }
  if (br < 0) br = star;
  if (gz < 0) gz = star;
  const accepted: [Encoding, number][] = [
    ["br", br],
    ["gzip", gz],
  ];
  return accepted
    .filter(([, q]) => q > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([encoding]) => encoding);
}

/** JSON, text, JavaScript, XML and SVG (`+json` and `+xml` types too); not images, archives or fonts. */
export function isCompressible(contentType: string): boolean {
  const semi = contentType.indexOf(";");
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return (
    type.startsWith("text/") ||
    type === "application/json" ||
    type.endsWith("+json") ||
    type === "application/xml" ||
    type.endsWith("+xml") ||
    type === "application/javascript" ||
    type === "application/x-javascript" ||
    type === "application/ecmascript" ||
    type === "application/x-ndjson"
  );
}

/**
 * Whether a worker's answer may be compressed (its size is checked by the caller): a status with
 * a body, a compressible type (none means the orchestrator's default, JSON, for a Neutrino
 * handler's answer; a foreign app's untyped body is of no known type), no Content-Encoding of its
 * own, no `Cache-Control: no-transform`.
 */
export function compressible(status: number, headers: readonly Pair[], typed = true): boolean {
  if (status < 200 || status === 204 || status === 206 || status === 304) return false;
  let type = typed ? "application/json" : "";
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "content-type") type = value;
    else if (lower === "content-encoding") return false;
    else if (lower === "cache-control" && /no-transform/i.test(value)) return false;
  }
  return isCompressible(type);
}

function brotliOptions(size: number): BrotliOptions {
  return {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
}

/** Compresses `body`; calls back with the result, or with null when compression failed. */
export function compress(encoding: Encoding, body: Buffer, done: (out: Buffer | null) => void): void {
  if (body.length < SYNC_LIMIT) {
    let out: Buffer | null;
    try {
      out = encoding === "br" ? brotliCompressSync(body, brotliOptions(body.length)) : gzipSync(body);
    } catch {
      out = null;
    }
    done(out);
    return;
  }
  const callback = (err: Error | null, out: Buffer): void => done(err ? null : out);
  if (encoding === "br") brotliCompress(body, brotliOptions(body.length), callback);
  else gzip(body, callback);
}

/** `"abc"` → `W/"abc"`: a strong ETag names exact bytes, which a compressed body no longer has. */
export function weakenEtags(headers: string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === "etag" && headers[i + 1]!.startsWith('"')) headers[i + 1] = `W/${headers[i + 1]}`;
  }
}
