/**
 * The request as a worker sees it when its route reads the request (`"headers": true` in the
 * RouteRegistry): the headers and the client's address. Other routes get none of it, which keeps
 * the hot path lean, except the headers of a request whose body is a form: the worker needs its
 * Content-Type (multipart boundary included) to bind the fields.
 */
import type { IncomingMessage } from "node:http";
import type { Pair } from "../../protocol/messages.js";

/**
 * The request headers as received, names in lower case, in their order. A header sent several
 * times stays several pairs (Node's `req.headers` would join or drop repeats): the SDK decides how
 * to present them.
 */
export function requestHeaderPairs(rawHeaders: readonly string[]): Pair[] {
  const pairs = new Array<Pair>(rawHeaders.length >> 1);
  for (let i = 0, j = 0; i + 1 < rawHeaders.length; i += 2, j++) pairs[j] = [rawHeaders[i]!.toLowerCase(), rawHeaders[i + 1]!];
  return pairs;
}

/** The client's IP address and port ("" and 0 once the connection is gone). */
export function clientAddress(req: IncomingMessage): [host: string, port: number] {
  const socket = req.socket;
  return [socket.remoteAddress ?? "", socket.remotePort ?? 0];
}

/** Whether a Content-Type names an HTML form body (urlencoded or multipart), which workers parse. */
export function isFormBody(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.trimStart().slice(0, 33).toLowerCase();
  return type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data");
}
