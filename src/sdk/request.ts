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
  /** The whole body, or (on a route registered with `streamBody: true`) a stream of it. */
  readonly body?: Buffer | ReadableStream<Uint8Array>;
  readonly requestId?: string;
  readonly pathParams?: Iterable<readonly [string, string]>;
  /** Aborted when the request is abandoned (the client left, or it ran out of time). */
  readonly signal?: AbortSignal;
}

/** The body of a request on a route registered with `streamBody: true`. */
export type BodyStream = ReadableStream<Uint8Array>;

const NEVER_ABORTED = new AbortController().signal;

/**
 * `Body` is the type of `request.body`: a Buffer (the whole body, the default), or on a route
 * registered with `streamBody: true` a web ReadableStream of it (`Request<BodyStream>`).
 */
export class Request<Body extends Buffer | BodyStream = Buffer> {
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
  /**
   * The raw request body: a Buffer, or on a route registered with `streamBody: true` a
   * ReadableStream of Uint8Array chunks, read as the client sends them.
   */
  readonly body: Body;
  /** The request's id: the client's X-Request-Id, or one the orchestrator made. */
  readonly requestId: string;
  /** The route's path parameters (`/users/{id}` → `{ id: "7" }`), as text. */
  readonly pathParams: Readonly<Record<string, string>>;
  private parsedCookies: Readonly<Record<string, string>> | undefined;
  /**
   * Aborted when the request is abandoned: the client disconnected, or the request ran out of
   * time. A long handler or stream may watch it (`signal.aborted`, `signal.addEventListener`).
   */
  readonly signal: AbortSignal;

  constructor(init: RequestInit) {
    this.method = init.method;
    this.path = init.path;
    this.query = init.query ?? "";
    this.queryParams = new URLSearchParams(this.query);
    this.headers = toHeaders(init.headers ?? []);
    this.client = Object.freeze({ host: init.client?.host ?? "", port: init.client?.port ?? 0 });
    this.body = (init.body ?? Buffer.alloc(0)) as Body;
    this.requestId = init.requestId ?? "";
    const params: Record<string, string> = Object.create(null);
    for (const [name, value] of init.pathParams ?? []) params[name] = value;
    this.pathParams = Object.freeze(params);
    this.signal = init.signal ?? NEVER_ABORTED;
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
    const body = this.buffered("json");
    return body.length === 0 ? undefined : JSON.parse(body.toString("utf8"));
  }

  /** The body decoded as UTF-8 text. */
  text(): string {
    return this.buffered("text").toString("utf8");
  }

  /**
   * The body as a ReadableStream of chunks (`for await (const chunk of request.stream())`): on a
   * `streamBody` route, `request.body` itself; elsewhere a stream of the one buffered body.
   */
  stream(): BodyStream {
    const { body } = this;
    return Buffer.isBuffer(body) ? streamOf(body) : (body as BodyStream);
  }

  private buffered(method: string): Buffer {
    if (Buffer.isBuffer(this.body)) return this.body;
    throw new TypeError(`request.${method}(): this route streams its body (streamBody: true): read request.body, a ReadableStream`);
  }
}

/** A whole body as a stream of one chunk (none when it is empty). */
export function streamOf(body: Buffer): BodyStream {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (body.length > 0) controller.enqueue(body);
      controller.close();
    },
  });
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
