/**
 * The HTTP/2 response the request handler writes to, through Node's compatibility API. The handler
 * is written for HTTP/1.1: it may set `connection: close` (draining, a 413) and give a reason
 * phrase. HTTP/2 has neither (RFC 9113 §8.2.2, §8.3.2): Node drops them with a process warning;
 * here they are dropped quietly, and the end of a connection is a GOAWAY (HttpServer.drain).
 * Header values are checked as HTTP/1's are.
 */
import { Http2ServerResponse } from "node:http2";
import { validateHeaderValue, type OutgoingHttpHeaders } from "node:http";

/** Connection-specific headers, which an HTTP/2 message must not carry. */
const CONNECTION_HEADERS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

type Headers = OutgoingHttpHeaders | readonly string[] | readonly (readonly [string, string])[];

export class EdgeHttp2Response extends Http2ServerResponse {
  override setHeader(name: string, value: number | string | readonly string[]): void {
    if (!CONNECTION_HEADERS.has(name.toLowerCase())) super.setHeader(name, value);
  }

  override writeHead(status: number, message?: string | Headers, headers?: Headers): this {
    // The reason phrase does not exist in HTTP/2.
    const given = typeof message === "string" ? headers : message;
    return super.writeHead(status, given === undefined ? undefined : withoutConnectionHeaders(given));
  }
}

function withoutConnectionHeaders(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const add = (name: string, value: string | number | string[] | undefined): void => {
    const lower = name.toLowerCase();
    if (value === undefined || CONNECTION_HEADERS.has(lower)) return;
    // Node's HTTP/1 checks this and throws; its HTTP/2 would send a CR or LF and the client reset
    // the stream. Thrown here, it is the same 502 for a worker's bad header on either protocol.
    if (Array.isArray(value)) for (const one of value) validateHeaderValue(lower, one);
    else validateHeaderValue(lower, String(value));
    const prior = out[lower];
    // A repeated header (Set-Cookie) stays several values, never one folded line.
    if (prior === undefined) out[lower] = value;
    else out[lower] = [...(Array.isArray(prior) ? prior : [String(prior)]), ...(Array.isArray(value) ? value : [String(value)])];
  };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) for (const [name, value] of headers as [string, string][]) add(name, value);
    else for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i] as string, headers[i + 1] as string);
  } else {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) add(name, value);
  }
  return out;
}
