/**
 * CORS (`--cors-origin`), done by the orchestrator in front of every route: it answers the
 * browser's preflight OPTIONS itself, for any known route, and adds Access-Control-Allow-Origin to
 * the responses for allowed origins. A request from an origin not on the list gets no
 * Access-Control-* header at all, so the browser keeps the response from the page.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { REQUEST_ID_HEADER } from "./request-id.js";

export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`), or `*` for any. */
  readonly origins: readonly string[];
  /** Allow credentials (cookies, HTTP auth): Access-Control-Allow-Credentials: true. Not with `*`. */
  readonly credentials: boolean;
}

/** How long a browser may cache a preflight's answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * `https://Example.com:443/` → `https://example.com`, as browsers send Origin; `*` stays.
 * Throws a plain Error naming what is wrong.
 */
export function normalizeOrigin(text: string): string {
  const value = text.trim();
  if (value === "*") return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not an origin such as https://app.example.com, nor *`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search || url.hash || url.username) {
    throw new Error(`"${value}" is not an origin such as https://app.example.com (scheme, host and port only), nor *`);
  }
  return url.origin;
}

export class Cors {
  private readonly any: boolean;
  private readonly allowed: ReadonlySet<string>;
  /** Added to every response when any origin is allowed without credentials: the same for all. */
  private readonly star: readonly string[] | null;
  /** Added when origins are listed: the response depends on the request's Origin. */
  private static readonly VARY_ONLY: readonly string[] = ["vary", "Origin"];

  constructor(private readonly options: CorsOptions) {
    const origins = options.origins.map(normalizeOrigin);
    this.any = origins.includes("*");
    if (this.any && options.credentials) {
      throw new Error("credentials cannot be allowed for any origin (*): list the origins");
    }
    this.allowed = new Set(origins);
    this.star = this.any ? ["access-control-allow-origin", "*", "access-control-expose-headers", REQUEST_ID_HEADER] : null;
  }

  private allows(origin: string | undefined): origin is string {
    return origin !== undefined && (this.any || this.allowed.has(origin));
  }

  /**
   * The headers to add to a response (flat name/value list) for a request with this Origin. With
   * listed origins every response says `Vary: Origin`, so a cache never hands one origin's answer
   * to another.
   */
  responseHeaders(origin: string | undefined): readonly string[] {
    if (this.star !== null) return this.star;
    if (origin === undefined || !this.allowed.has(origin)) return Cors.VARY_ONLY;
    const headers = ["access-control-allow-origin", origin, "vary", "Origin", "access-control-expose-headers", REQUEST_ID_HEADER];
    if (this.options.credentials) headers.push("access-control-allow-credentials", "true");
    return headers;
  }

  /** Sets the response headers on `res` before it is written (for answers built by the orchestrator). */
  setHeaders(res: ServerResponse, origin: string | undefined): void {
    const headers = this.responseHeaders(origin);
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
  }

  /**
   * Answers a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed
   * origin for a known route with 204, whether or not the route takes OPTIONS itself. `allow` is
   * the route's methods. Returns false, answering nothing, when this is no such preflight.
   */
  preflight(req: IncomingMessage, res: ServerResponse, allow: string | null, requestId: string): boolean {
    const origin = req.headers.origin;
    if (allow === null || req.headers["access-control-request-method"] === undefined || !this.allows(origin)) return false;
    const headers: Record<string, string> = {
      "access-control-allow-origin": this.any ? "*" : origin,
      "access-control-allow-methods": allow,
      "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
      [REQUEST_ID_HEADER]: requestId,
      "content-length": "0",
    };
    const requested = req.headers["access-control-request-headers"];
    if (requested) headers["access-control-allow-headers"] = requested;
    if (this.options.credentials) headers["access-control-allow-credentials"] = "true";
    res.writeHead(204, headers);
    res.end();
    return true;
  }

  /** True when the worker's answer already handles CORS itself: the orchestrator then adds nothing. */
  static answered(headers: readonly (readonly [string, string])[]): boolean {
    for (const [name] of headers) if (name.length === 27 && name.toLowerCase() === "access-control-allow-origin") return true;
    return false;
  }
}
