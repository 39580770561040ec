/** JSON error responses, one shape for all of them: `{"error": reason phrase, "detail": what was wrong}`. */
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { generateRequestId } from "./request-id.js";

/** The 501's detail for CONNECT, a proxy's method. */
export const CONNECT_REFUSED = "CONNECT is not supported: this server is not a proxy";

/** The 505's detail for a request line of a version no HTTP/1 connection speaks here (`HTTP/2.0`, `HTTP/0.9`). */
export function versionRefused(version: string): string {
  return `HTTP/${version} is not spoken in an HTTP/1 request line: send HTTP/1.1 (HTTP/2 is served over TLS)`;
}

/** The 417's detail for an `Expect` other than `100-continue` (RFC 9110 §10.1.1). */
export function expectationRefused(expect: string | undefined): string {
  return `Expect: ${String(expect ?? "").slice(0, 100)} is not supported (only 100-continue is)`;
}

export function errorBody(status: number, detail: string): string {
  return JSON.stringify({ error: STATUS_CODES[status] ?? "Error", detail });
}

/** Sends the error; returns the body's size in bytes (0 when it was too late and the response was cut). */
export function sendError(
  res: ServerResponse,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): number {
  if (res.headersSent) {
    // Too late for a status line: cut the response so the client sees it failed.
    res.destroy();
    return 0;
  }
  const body = errorBody(status, detail);
  const bytes = Buffer.byteLength(body);
  // The reason phrase is explicit: a failed writeHead (a worker's invalid header) left its own.
  res.writeHead(status, STATUS_CODES[status], {
    ...headers,
    "content-type": "application/json",
    "content-length": bytes,
  });
  res.end(body);
  return bytes;
}

/**
 * Answers a request that Node's HTTP parser rejected, on the raw socket, then closes it. Its
 * headers could not be read, so its X-Request-Id is a new one. Date as on every response (RFC 9110 §6.6.1).
 */
export function sendRawError(socket: Duplex, status: number, detail: string): { requestId: string; bytes: number } {
  const body = errorBody(status, detail);
  const requestId = generateRequestId();
  const bytes = Buffer.byteLength(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `content-type: application/json\r\ncontent-length: ${bytes}\r\n` +
      `date: ${new Date().toUTCString()}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
  return { requestId, bytes };
}
