/**
 * What a handler may return besides a plain value, and how it stops with an HTTP error:
 * `Response` (body, status, headers, media type) and `HTTPException` (status, detail).
 * Both mirror the Python SDK's classes of the same names.
 */
import { STATUS_CODES } from "node:http";
import { serialize } from "cookie";

/** Set-Cookie attributes, as the Python SDK's `set_cookie` takes them. */
export interface CookieOptions {
  /** Seconds until it expires (0: at once). */
  readonly maxAge?: number;
  readonly expires?: Date;
  /** "/" by default. */
  readonly path?: string;
  readonly domain?: string;
  readonly secure?: boolean;
  readonly httpOnly?: boolean;
  /** "lax" by default; false leaves it out. */
  readonly sameSite?: "lax" | "strict" | "none" | false;
}

/** Headers as the Fetch API takes them: a Headers, a record, or a list of [name, value] pairs. */
export type HeadersInit = Headers | Record<string, string> | Iterable<readonly [string, string]>;

export interface ResponseInit {
  /** HTTP status, 200 by default. */
  readonly status?: number;
  readonly headers?: HeadersInit;
  /** The `Content-Type`; by default text/plain for a string body, application/octet-stream for bytes, application/json otherwise. */
  readonly mediaType?: string;
}

// Marks instances across copies of this package, as App.isApp does: an app that imports its own
// installed "neutrino-server" while another copy runs the worker still has its Responses recognized.
const RESPONSE_BRAND = Symbol.for("neutrino.Response");
const HTTP_EXCEPTION_BRAND = Symbol.for("neutrino.HTTPException");
/** Set on a Response whose body is JSON whatever its type (Response.json): a string is then a JSON string. */
export const JSON_BODY = Symbol.for("neutrino.Response.json");

/**
 * A response with a body, status and headers of the handler's choosing. The body is sent as is
 * when it is a string (UTF-8) or bytes (Buffer, Uint8Array, ArrayBuffer), null or undefined is
 * no body (as in the Fetch API); any other value is serialized as JSON. Middleware gets one from `next()` and may change its status, headers and body.
 */
export class Response {
  status: number;
  readonly headers: Headers;
  body: unknown;

  constructor(body?: unknown, init: ResponseInit = {}) {
    const { status = 200, headers, mediaType } = init;
    checkStatus(status);
    this.status = status;
    this.body = body;
    this.headers = new Headers(headers as ConstructorParameters<typeof Headers>[0]);
    if (mediaType !== undefined) this.headers.set("content-type", mediaType);
  }

  /** Adds a Set-Cookie header (one per cookie: they are never folded into one line). The value is URL-encoded. */
  setCookie(name: string, value: string, options: CookieOptions = {}): this {
    const { path = "/", sameSite = "lax", ...rest } = options;
    this.headers.append("set-cookie", serialize(name, value, { ...rest, path, ...(sameSite ? { sameSite } : {}) }));
    return this;
  }

  /** Asks the client to drop a cookie (the path and domain must match how it was set). */
  deleteCookie(name: string, options: Omit<CookieOptions, "maxAge" | "expires"> = {}): this {
    return this.setCookie(name, "", { ...options, maxAge: 0, expires: new Date(0) });
  }

  /**
   * A Response whose body is always serialized as JSON, a string included (`"hi"` is sent as
   * `"\"hi\""`). What middleware gets from `next()` when the handler returned a plain value.
   */
  static json(body: unknown, init: ResponseInit = {}): Response {
    const response = new Response(body, init);
    Object.defineProperty(response, JSON_BODY, { value: true });
    return response;
  }

  /** Whether `value` is a Response, from this copy of the package or another one. */
  static isResponse(value: unknown): value is Response {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[RESPONSE_BRAND] === true;
  }
}

Object.defineProperty(Response.prototype, RESPONSE_BRAND, { value: true });

/**
 * Thrown by a handler (or middleware) to answer with an HTTP error:
 * `throw new HTTPException(404, "no such user")` gives status 404 and
 * `{"error": "Not Found", "detail": "no such user"}`. The detail may be any JSON value and
 * defaults to the reason phrase.
 */
export class HTTPException extends Error {
  override name = "HTTPException";
  readonly detail: unknown;
  readonly headers: Headers;

  constructor(
    readonly status: number,
    detail?: unknown,
    headers?: HeadersInit,
  ) {
    checkStatus(status);
    const reason = STATUS_CODES[status] ?? "Error";
    const resolved = detail === undefined ? reason : detail;
    super(typeof resolved === "string" ? resolved : safeJson(resolved));
    this.detail = resolved;
    this.headers = new Headers(headers as ConstructorParameters<typeof Headers>[0]);
  }

  /** Whether `value` is an HTTPException, from this copy of the package or another one. */
  static isHTTPException(value: unknown): value is HTTPException {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[HTTP_EXCEPTION_BRAND] === true;
  }
}

Object.defineProperty(HTTPException.prototype, HTTP_EXCEPTION_BRAND, { value: true });

function checkStatus(status: unknown): asserts status is number {
  if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599) {
    throw new RangeError(`HTTP status must be a whole number from 100 to 599, got ${String(status)}`);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
