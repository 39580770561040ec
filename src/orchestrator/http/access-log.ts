/**
 * The access log's record (docs/operations.md, Logs): one JSON line per answered request, written
 * by whoever answered it — a job a worker answered, or the server itself when it refused the
 * request (400, 404, 405, 408, 413, 414, 431). The client is the one the edge resolved: behind a
 * trusted proxy, the client it named.
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "../log.js";
import { clientViewOf } from "./request-headers.js";

export interface AccessRecord {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  /** The route that matched; null when none did (or the request could not be read at all). */
  readonly route: string | null;
  readonly status: number;
  /** The response body's size, after compression. */
  readonly bytes: number;
  readonly durationMs: number;
  readonly queueMs: number;
  readonly workerMs: number;
  readonly extra?: Record<string, unknown>;
}

/** The connection of a request Node could not parse: only its peer is known. */
export interface PeerOnly {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}

export function writeAccessRecord(log: Logger, from: IncomingMessage | PeerOnly, record: AccessRecord): void {
  let client: string;
  let clientPort: number;
  let query = "";
  let protocol = "HTTP/1.1";
  let userAgent = "";
  if (isRequest(from)) {
    const view = clientViewOf(from);
    client = view.host;
    clientPort = view.port;
    const url = from.url ?? "";
    const q = url.indexOf("?");
    if (q >= 0) query = url.slice(q + 1);
    protocol = from.httpVersionMajor === 2 ? "HTTP/2" : `HTTP/${from.httpVersion}`;
    userAgent = from.headers["user-agent"] ?? "";
  } else {
    client = from.remoteAddress ?? "";
    clientPort = from.remotePort ?? 0;
  }
  const { requestId, method, path, route, status, bytes, durationMs } = record;
  log.info(
    {
      requestId,
      client,
      clientPort,
      method,
      path,
      query,
      protocol,
      route,
      status,
      bytes,
      userAgent,
      durationMs,
      queueMs: record.queueMs,
      workerMs: record.workerMs,
      ...record.extra,
    },
    `${client || "-"} "${method || "-"} ${path || "-"}${query ? `?${query}` : ""} ${protocol}" ${status} ${bytes} B ${durationMs} ms`,
  );
}

/** Milliseconds rounded to the microsecond, as the log shows them. */
export function logMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function isRequest(from: IncomingMessage | PeerOnly): from is IncomingMessage {
  return (from as IncomingMessage).headers !== undefined;
}
