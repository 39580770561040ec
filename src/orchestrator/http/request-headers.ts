/**
 * The request as a worker sees it when its route reads the request (`"headers": true` in the
 * RouteRegistry): the headers and the client's address. Other routes get none of it, which keeps
 * the hot path lean, except the headers of a request whose body is a form: the worker needs its
 * Content-Type (multipart boundary included) to bind the fields.
 */
import type { IncomingMessage } from "node:http";
import type { Pair } from "../../protocol/messages.js";
import { clientView, type ClientView, type Trust } from "./proxy-headers.js";

const VIEW = Symbol("neutrino.clientView");
type Viewed = IncomingMessage & { [VIEW]?: ClientView };

/** Resolves, once per request as it arrives, who sent it (proxy headers seen through, where trusted). */
export function attachClientView(req: IncomingMessage, trust: Trust | null): void {
  (req as Viewed)[VIEW] = clientView(req, trust);
}

/** The request's client view (the connection itself for a request that never had one attached). */
export function clientViewOf(req: IncomingMessage): ClientView {
  return ((req as Viewed)[VIEW] ??= clientView(req, null));
}

/**
 * The request headers as received, names in lower case, in their order. A header sent several
 * times stays several pairs (Node's `req.headers` would join or drop repeats): the SDK decides how
 * to present them.
 *
 * With the client's view, what the edge resolved replaces what the request carried, so that an SDK
 * builds the URL the client used without a protocol field of its own: `host` is the host the client
 * asked for (HTTP/2's `:authority`, or a trusted proxy's X-Forwarded-Host/`Forwarded: host=`), and
 * one `x-forwarded-proto` says the scheme (`http` or `https`). HTTP/2 pseudo-headers are dropped.
 */
export function requestHeaderPairs(rawHeaders: readonly string[], view?: ClientView): Pair[] {
  if (view === undefined) {
    const pairs = new Array<Pair>(rawHeaders.length >> 1);
    for (let i = 0, j = 0; i + 1 < rawHeaders.length; i += 2, j++) pairs[j] = [rawHeaders[i]!.toLowerCase(), rawHeaders[i + 1]!];
    return pairs;
  }
  const pairs: Pair[] = [];
  let host = view.forwardedHost;
  let authority: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* ":" */) {
      if (name === ":authority") authority = value;
      continue;
    }
    if (name === "x-forwarded-proto") continue;
    if (name === "host") {
      host ??= value;
      continue;
    }
    pairs.push([name, value]);
  }
  host ??= authority;
  if (host !== undefined) pairs.unshift(["host", host]);
  pairs.push(["x-forwarded-proto", view.scheme]);
  return pairs;
}

/** The client's IP address and port: the connection's, or the one a trusted proxy named. */
export function clientAddress(req: IncomingMessage): [host: string, port: number] {
  const view = clientViewOf(req);
  return [view.host, view.port];
}

/** Whether a Content-Type names an HTML form body (urlencoded or multipart), which workers parse. */
export function isFormBody(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.trimStart().slice(0, 33).toLowerCase();
  return type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data");
}
