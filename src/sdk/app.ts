/**
 * The user-facing App for TypeScript and JavaScript: a registry of routes that the Node worker
 * reports to the orchestrator. It mirrors the Python SDK's App (same default methods, same errors).
 */
import type { StandardSchemaV1 } from "./standard-schema.js";

/** A route declared without `methods` takes these, as in the Python SDK (HEAD comes with GET). */
export const DEFAULT_METHODS: readonly string[] = Object.freeze(["GET", "POST"]);

/**
 * What a handler gets without a schema: path parameters, query-string values (strings, or arrays
 * of strings for a repeated key) and the members of a JSON object body. A body that is not a JSON
 * object arrives whole as `body`.
 */
export type Arguments = Record<string, unknown>;

/** Takes the arguments, returns the JSON response value (or a Promise of it). */
export type Handler<A = Arguments, R = unknown> = (args: A) => R | Promise<R>;

export interface RouteOptions {
  /** HTTP methods, e.g. `["POST"]` or `"PUT"`; default GET and POST. */
  readonly methods?: string | readonly string[];
}

export interface SchemaRouteOptions<S extends StandardSchemaV1> extends RouteOptions {
  /** Validates and converts the arguments (zod, valibot, ... any Standard Schema); a mismatch is a 422. */
  readonly schema: S;
}

/** One registered handler. */
export class Route {
  /** The handler's name, or the path for an anonymous function: used in error messages. */
  readonly name: string;

  constructor(
    readonly path: string,
    readonly methods: readonly string[],
    readonly handler: Handler<never>,
    readonly schema: StandardSchemaV1 | undefined,
  ) {
    this.name = handler.name || path;
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
  route(path: string, handler: Handler<Arguments>, options?: RouteOptions): this;
  route(path: string, handler: Handler<never>, options: RouteOptions & { readonly schema?: unknown } = {}): this {
    if (typeof path !== "string" || !path.startsWith("/")) {
      const message = `route path must be a string starting with "/", got ${JSON.stringify(path)}`;
      throw typeof path === "string" ? new Error(message) : new TypeError(message);
    }
    const existing = this.routes.get(path);
    if (existing) throw new Error(`route "${path}" is already registered (handler "${existing.name}")`);
    if (typeof handler !== "function") throw new TypeError(`route "${path}": the handler must be a function, got ${typeof handler}`);
    const { schema } = options;
    if (schema !== undefined && !isStandardSchema(schema)) {
      throw new TypeError(`route "${path}": schema must implement Standard Schema (zod, valibot, ...): it has no "~standard".validate`);
    }
    this.routes.set(path, new Route(path, normalizeMethods(path, options.methods), handler, schema));
    return this;
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

function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as Partial<StandardSchemaV1>)["~standard"];
  return typeof props === "object" && props !== null && typeof props.validate === "function";
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
