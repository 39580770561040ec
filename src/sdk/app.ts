/**
 * The user-facing App for TypeScript and JavaScript: a registry of routes that the Node worker
 * reports to the orchestrator, and the app's middleware. It mirrors the Python SDK's App (same
 * default methods, same errors, same argument rule).
 */
import type { InjectOptions, InjectResponse, Injector } from "./inject.js";
import { objectSchemaKeys } from "./introspect.js";
import type { BodyStream, Request } from "./request.js";
import type { Response } from "./response.js";
import type { StandardSchemaV1 } from "./standard-schema.js";
import type { WebSocket } from "./websocket.js";

/** A route declared without `methods` takes these, as in the Python SDK (HEAD comes with GET). */
export const DEFAULT_METHODS: readonly string[] = Object.freeze(["GET", "POST"]);

/**
 * What a handler gets without a schema: path parameters, query-string values (strings, or arrays
 * of strings for a repeated key) and the members of a JSON object body, in that order of
 * precedence. A body that is not a JSON object arrives whole as `body`.
 */
export type Arguments = Record<string, unknown>;

/**
 * Takes the arguments (and, when it declares a second parameter, the Request) and returns the
 * response: a JSON value, a Response, or a Promise of either.
 */
export type Handler<A = Arguments, R = unknown, Q = Request> = (args: A, request: Q) => R | Promise<R>;

/**
 * Serves one WebSocket connection, accepted before it is called: receives and sends messages
 * until it returns (the worker then closes with 1000 if it has not closed) or throws (1011).
 */
export type WebSocketHandler = (ws: WebSocket, request: Request) => unknown;

export interface WebSocketOptions {
  /**
   * The subprotocols the route speaks, in order of preference. The connection is accepted with
   * the first one the client offers (`Sec-WebSocket-Protocol`) that is in this list, or none.
   */
  readonly subprotocols?: readonly string[];
  /** A one-line summary. */
  readonly summary?: string;
}

/**
 * App-level middleware: wraps every call, in registration order (the first registered is the
 * outermost). `next()` runs the rest of the chain and resolves with its Response, which the
 * middleware may change or replace; a middleware may also answer without calling `next()`.
 */
export type Middleware = (request: Request, next: () => Promise<Response>) => unknown;

export interface RouteOptions {
  /** HTTP methods, e.g. `["POST"]` or `"PUT"`; default GET and POST. */
  readonly methods?: string | readonly string[];
  /**
   * The handler reads the Request (its second argument), so the orchestrator sends it the request
   * headers and the client's address. Implied when the handler declares two parameters or more.
   */
  readonly request?: boolean;
  /** A one-line summary for the OpenAPI document. */
  readonly summary?: string;
  /**
   * The status a plain return value is sent with (a Response keeps its own), and the success
   * response of the OpenAPI document: a 2xx that carries a body, 200 by default (201 for a route
   * that creates something). Python: `status_code`.
   */
  readonly statusCode?: number;
  /**
   * Other statuses the route answers with, for the OpenAPI document: a description (`{ 410: "gone" }`;
   * an error status gets the error body every error has) or an OpenAPI Response object.
   */
  readonly responses?: Readonly<Record<number, string | Readonly<Record<string, unknown>>>>;
  /** The media type of the success response when it is not JSON (a handler returning `new Response(..., { mediaType })`), for the OpenAPI document. */
  readonly mediaType?: string;
  /**
   * The handler reads the request body as a stream: `request.body` is a ReadableStream fed as
   * the client sends, with no `--max-body-size` limit, instead of a Buffer. The body supplies no
   * arguments. Python: `stream_body`.
   */
  readonly streamBody?: boolean;
}

export interface StreamBodyRouteOptions extends RouteOptions {
  readonly streamBody: true;
}

export interface SchemaRouteOptions<S extends StandardSchemaV1> extends RouteOptions {
  /** Validates and converts the arguments (zod, valibot, ... any Standard Schema); a mismatch is a 422. */
  readonly schema: S;
}

/** One registered handler. */
export class Route {
  /** The handler's name, or the path for an anonymous function: used in error messages. */
  readonly name: string;
  /** The names of the path's `{parameters}`, in order. */
  readonly pathParams: readonly string[];
  /** Whether the handler reads the Request (its second argument). */
  readonly readsRequest: boolean;
  readonly summary: string | undefined;
  /** The status a plain return value is sent with. */
  readonly statusCode: number;
  /** Other documented responses, by status: a description or an OpenAPI Response object. */
  readonly responses: Readonly<Record<string, string | Readonly<Record<string, unknown>>>>;
  /** The success response's media type, when it is not JSON. */
  readonly mediaType: string | undefined;
  /** The handler reads its body as a stream (`streamBody: true`). */
  readonly streamBody: boolean;
  /** For a WebSocket route (`app.websocket`): the subprotocols it speaks; undefined for an HTTP route. */
  readonly websocket: { readonly subprotocols: readonly string[] } | undefined;

  constructor(
    readonly path: string,
    readonly methods: readonly string[],
    readonly handler: Handler<never>,
    readonly schema: StandardSchemaV1 | undefined,
    options: Pick<RouteOptions, "request" | "summary" | "statusCode" | "responses" | "mediaType" | "streamBody"> & {
      readonly websocket?: { readonly subprotocols: readonly string[] };
    } = {},
  ) {
    this.name = handler.name || path;
    this.pathParams = pathParameters(path);
    this.readsRequest = options.request ?? handler.length >= 2;
    this.summary = options.summary;
    this.statusCode = options.statusCode ?? 200;
    this.responses = Object.freeze({ ...options.responses });
    this.mediaType = options.mediaType;
    this.streamBody = options.streamBody ?? false;
    this.websocket = options.websocket;
  }
}

/**
 * Marks App instances across copies of this package: an app importing its own installed
 * `neutrino` while a global one runs the worker still has two App classes, and `instanceof`
 * would tell one from the other.
 */
const APP_BRAND = Symbol.for("neutrino.App");

export class App {
  // A Map keeps insertion order: listRoutes() reports routes in registration order.
  private readonly routes = new Map<string, Route>();
  private readonly middlewares: Middleware[] = [];
  /** What inject() runs requests through; rebuilt after a route or middleware is added. */
  private injector: Promise<Injector> | undefined;

  /** Whether `value` is an App, from this copy of the package or another one. */
  static isApp(value: unknown): value is App {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[APP_BRAND] === true;
  }

  /**
   * Registers `handler` for `path`. Mistakes throw here, so a broken app fails when the worker
   * loads it rather than on the first request.
   */
  route<S extends StandardSchemaV1>(
    path: string,
    handler: Handler<StandardSchemaV1.InferOutput<S>>,
    options: SchemaRouteOptions<S>,
  ): this;
  route(path: string, handler: Handler<Arguments, unknown, Request<BodyStream>>, options: StreamBodyRouteOptions): this;
  route(path: string, handler: Handler<Arguments>, options?: RouteOptions): this;
  route(path: string, handler: Handler<never, unknown, never>, options: RouteOptions & { readonly schema?: unknown } = {}): this {
    this.checkNew(path, handler);
    const { schema, request, summary, statusCode, responses, mediaType, streamBody } = options;
    if (schema !== undefined && !isStandardSchema(schema)) {
      throw new TypeError(`route "${path}": schema must implement Standard Schema (zod, valibot, ...): it has no "~standard".validate`);
    }
    if (request !== undefined && typeof request !== "boolean") throw new TypeError(`route "${path}": request must be true or false`);
    if (summary !== undefined && typeof summary !== "string") throw new TypeError(`route "${path}": summary must be a string`);
    if (streamBody !== undefined && typeof streamBody !== "boolean") throw new TypeError(`route "${path}": streamBody must be true or false`);
    checkResponseOptions(path, statusCode, responses, mediaType);
    const route = new Route(path, normalizeMethods(path, options.methods), handler as Handler<never>, schema, {
      request,
      summary,
      statusCode,
      responses,
      mediaType,
      streamBody,
    });
    if (schema) checkPathParamsInSchema(route, schema);
    return this.add(route);
  }

  /**
   * Registers a WebSocket handler for `path` (GET upgrades). The connection is accepted when the
   * handler starts; it then receives and sends messages until it returns or closes:
   *
   *     app.websocket("/echo", async (ws) => {
   *       for await (const message of ws) await ws.send(message);
   *     });
   *
   * Middleware does not wrap WebSocket handlers; the Request (second argument) has the
   * handshake's headers and path parameters.
   */
  websocket(path: string, handler: WebSocketHandler, options: WebSocketOptions = {}): this {
    this.checkNew(path, handler);
    const { subprotocols = [], summary } = options;
    if (!Array.isArray(subprotocols) || subprotocols.some((p) => typeof p !== "string" || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p))) {
      throw new TypeError(`websocket "${path}": subprotocols must be a list of tokens such as ["chat.v1"]`);
    }
    if (summary !== undefined && typeof summary !== "string") throw new TypeError(`websocket "${path}": summary must be a string`);
    const route = new Route(path, ["GET"], handler as unknown as Handler<never>, undefined, {
      request: true,
      summary,
      websocket: { subprotocols: Object.freeze([...subprotocols]) },
    });
    return this.add(route);
  }

  private checkNew(path: string, handler: unknown): void {
    if (typeof path !== "string" || !path.startsWith("/")) {
      const message = `route path must be a string starting with "/", got ${JSON.stringify(path)}`;
      throw typeof path === "string" ? new Error(message) : new TypeError(message);
    }
    const existing = this.routes.get(path);
    if (existing) throw new RouteError(`route "${path}" is already registered (handler "${existing.name}")`);
    if (typeof handler !== "function") throw new TypeError(`route "${path}": the handler must be a function, got ${typeof handler}`);
  }

  private add(route: Route): this {
    this.routes.set(route.path, route);
    this.injector = undefined;
    return this;
  }

  /**
   * Adds middleware that wraps every call to every route, in registration order:
   *
   *     app.use(async (request, next) => {
   *       const response = await next();
   *       response.headers.set("x-served-by", "neutrino");
   *       return response;
   *     });
   *
   * An app with middleware has every route read the request (the orchestrator sends headers).
   */
  use(middleware: Middleware): this {
    if (typeof middleware !== "function") throw new TypeError(`app.use: middleware must be a function, got ${typeof middleware}`);
    this.middlewares.push(middleware);
    this.injector = undefined;
    return this;
  }

  /**
   * Sends one request through the app in this process, for tests: the server's routing (path
   * templates, 404, 405), argument binding and validation, middleware and error rules, with no
   * server and no worker.
   *
   *     const res = await app.inject({ method: "POST", url: "/add", json: { x: 2, y: 3 } });
   *     assert.equal(res.statusCode, 200);
   *     assert.deepEqual(res.json(), { result: 5 });
   */
  inject(options: InjectOptions): Promise<InjectResponse> {
    // Loaded on first use: an app served by a worker never needs the routing table here.
    this.injector ??= import("./inject.js").then(({ Injector }) => new Injector(this));
    return this.injector.then((injector) => injector.inject(options));
  }

  /** The middleware, in registration order (the first one is the outermost). */
  listMiddleware(): Middleware[] {
    return [...this.middlewares];
  }

  /** The registered paths, in registration order. */
  listRoutes(): string[] {
    return [...this.routes.keys()];
  }

  /** The route registered for `path`; throws if there is none (as the Python SDK's get_route). */
  getRoute(path: string): Route {
    const route = this.routes.get(path);
    if (!route) throw new Error(`no route registered for "${path}"`);
    return route;
  }
}

Object.defineProperty(App.prototype, APP_BRAND, { value: true });

function isStatus(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 100 && (value as number) <= 599;
}

/** The same rules as the Python SDK's `status_code`, `responses` and `media_type`. */
function checkResponseOptions(path: string, statusCode: unknown, responses: unknown, mediaType: unknown): void {
  if (statusCode !== undefined && (!Number.isInteger(statusCode) || (statusCode as number) < 200 || (statusCode as number) > 299 || statusCode === 204 || statusCode === 205)) {
    throw new TypeError(`route "${path}": statusCode must be a 2xx status that carries a body (not 204 or 205), got ${String(statusCode)}`);
  }
  if (responses !== undefined) {
    if (typeof responses !== "object" || responses === null || Array.isArray(responses)) {
      throw new TypeError(`route "${path}": responses must be an object such as { 410: "gone" }`);
    }
    for (const [key, value] of Object.entries(responses)) {
      if (!isStatus(Number(key)) || String(Number(key)) !== key) throw new TypeError(`route "${path}": responses keys must be HTTP statuses (100-599), got "${key}"`);
      if (typeof value !== "string" && (typeof value !== "object" || value === null || Array.isArray(value))) {
        throw new TypeError(`route "${path}": responses[${key}] must be a description or an OpenAPI Response object`);
      }
    }
  }
  if (mediaType !== undefined && (typeof mediaType !== "string" || !mediaType.includes("/"))) {
    throw new TypeError(`route "${path}": mediaType must be a media type such as "text/plain", got ${JSON.stringify(mediaType)}`);
  }
}

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as Partial<StandardSchemaV1>)["~standard"];
  return typeof props === "object" && props !== null && typeof props.validate === "function";
}

/**
 * A route that can never work (a bad or repeated path parameter, one the schema lacks, a path
 * registered twice): thrown by `app.route()`, so the worker reports `invalid_route` at start-up.
 */
export class RouteError extends Error {
  override name = "RouteError";
}

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The `{name}` parameters of a route path; a malformed or repeated one throws. */
function pathParameters(path: string): string[] {
  const names: string[] = [];
  for (const [, name] of path.matchAll(PLACEHOLDER)) {
    if (!PARAM_NAME.test(name!)) {
      throw new RouteError(`route "${path}": path parameter "{${name}}" must be a name (letters, digits and _, not starting with a digit)`);
    }
    if (names.includes(name!)) throw new RouteError(`route "${path}": path parameter "${name}" appears twice`);
    names.push(name!);
  }
  if (/[{}]/.test(path.replace(PLACEHOLDER, ""))) throw new RouteError(`route "${path}": unmatched "{" or "}" in the path`);
  return names;
}

/**
 * Path parameters are always passed to the handler, so an object schema that does not list one
 * would reject every request (or drop the value): report it when the app loads.
 */
function checkPathParamsInSchema(route: Route, schema: StandardSchemaV1): void {
  if (route.pathParams.length === 0) return;
  const keys = objectSchemaKeys(schema);
  if (!keys) return;
  const missing = route.pathParams.filter((name) => !keys.includes(name));
  if (missing.length === 0) return;
  const list = missing.map((n) => `"${n}"`).join(", ");
  throw new RouteError(
    `route "${route.path}": path parameter${missing.length > 1 ? "s" : ""} ${list} not in the route's schema (its keys: ${keys.join(", ") || "none"})`,
  );
}

function normalizeMethods(path: string, methods: string | readonly string[] | undefined): string[] {
  if (methods === undefined) return [...DEFAULT_METHODS];
  // methods: "GET" would otherwise be read as ["G", "E", "T"].
  const list: readonly unknown[] = typeof methods === "string" ? [methods] : methods;
  const out: string[] = [];
  for (const method of list) {
    if (typeof method !== "string" || method.trim() === "") {
      throw new TypeError(`route "${path}": an HTTP method must be a non-empty string, got ${JSON.stringify(method)}`);
    }
    const upper = method.trim().toUpperCase();
    if (!out.includes(upper)) out.push(upper);
  }
  if (out.length === 0) throw new TypeError(`route "${path}": methods must not be empty`);
  return out;
}
