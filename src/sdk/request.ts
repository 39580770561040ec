import { parse as parseCookies } from "cookie";

/**
 * The request as a handler or middleware sees it: the handler's second argument, and the first
 * argument of every middleware. It mirrors the Python SDK's Request.
 */

export interface RequestInit {
  readonly method: string;
  readonly path: string;
  readonly query?: string;
  /** [name, value] pairs; names are matched case-insensitively. */
  readonly headers?: Iterable<readonly [string, string]>;
  readonly client?: { readonly host: string; readonly port: number };
  readonly body?: Buffer;
  readonly requestId?: string;
  readonly pathParams?: Iterable<readonly [string, string]>;
}

export class Request {
  /** HTTP method, upper case. */
  readonly method: string;
  /** The request path, as received (still percent-encoded). */
  readonly path: string;
  /** The raw query string, without "?"; empty when there is none. */
  readonly query: string;
  /** The query string parsed: `request.queryParams.get("x")`, `getAll("tag")`. */
  readonly queryParams: URLSearchParams;
  /**
   * The request headers (a Fetch API Headers: `get(name)` is case-insensitive); the plain record
   * is `Object.fromEntries(request.headers)`. Sent by the orchestrator only to routes that read
   * the request, which a route does when its handler takes this second argument.
   */
  readonly headers: Headers;
  /** The client's address and port. */
  readonly client: { readonly host: string; readonly port: number };
  /** The raw request body. */
  readonly body: Buffer;
  /** The request's id: the client's X-Request-Id, or one the orchestrator made. */
  readonly requestId: string;
  /** The route's path parameters (`/users/{id}` → `{ id: "7" }`), as text. */
  readonly pathParams: Readonly<Record<string, string>>;
  private parsedCookies: Readonly<Record<string, string>> | undefined;

  constructor(init: RequestInit) {
    this.method = init.method;
    this.path = init.path;
    this.query = init.query ?? "";
    this.queryParams = new URLSearchParams(this.query);
    this.headers = toHeaders(init.headers ?? []);
    this.client = Object.freeze({ host: init.client?.host ?? "", port: init.client?.port ?? 0 });
    this.body = init.body ?? Buffer.alloc(0);
    this.requestId = init.requestId ?? "";
    const params: Record<string, string> = Object.create(null);
    for (const [name, value] of init.pathParams ?? []) params[name] = value;
    this.pathParams = Object.freeze(params);
  }

  /** The cookies the client sent (URL-decoded); the first of a repeated name wins. */
  get cookies(): Readonly<Record<string, string>> {
    if (this.parsedCookies === undefined) {
      const all: Record<string, string> = Object.create(null);
      const header = this.headers.get("cookie"); // several Cookie headers come joined with ", "
      if (header) for (const part of header.split(/;|, /)) {
        const parsed = parseCookies(part);
        for (const name in parsed) if (!(name in all) && parsed[name] !== undefined) all[name] = parsed[name]!;
      }
      this.parsedCookies = Object.freeze(all);
    }
    return this.parsedCookies;
  }

  /** The body parsed as JSON (throws a SyntaxError if it is not JSON); undefined for an empty body. */
  json(): unknown {
    return this.body.length === 0 ? undefined : JSON.parse(this.body.toString("utf8"));
  }

  /** The body decoded as UTF-8 text. */
  text(): string {
    return this.body.toString("utf8");
  }
}

function toHeaders(pairs: Iterable<readonly [string, string]>): Headers {
  const headers = new Headers();
  for (const [name, value] of pairs) {
    try {
      headers.append(name, value);
    } catch {
      // A name or value the Fetch API refuses (Node's HTTP parser is more lenient): leave it out
      // rather than fail the request.
    }
  }
  return headers;
}
