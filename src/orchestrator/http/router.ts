/**
 * The HTTP routing table, built from the RouteRegistry with find-my-way. Every registered path
 * also answers the methods it does not allow, so a wrong method is a 405 with `Allow`, not a 404.
 * A route of every method (`["*"]`, a foreign app's) takes each one Node can parse, as sent.
 */
import { METHODS } from "node:http";
import FindMyWay from "find-my-way";
import { ANY_METHOD, type RouteInfo } from "../../protocol/messages.js";

type RouteMatch =
  | {
      readonly kind: "route";
      readonly route: RouteInfo;
      /** The method sent to the worker: HEAD runs the GET handler (Node drops the body). */
      readonly workerMethod: string;
      readonly params: Record<string, string | undefined>;
      /** The route reads the request (`"headers": true`): it gets the headers and the client's address. */
      readonly headers: boolean;
      /** The handler is synchronous (`"sync": true`): at most one such task per worker at a time. */
      readonly sync: boolean;
      /** The route reads its body as a stream (`"stream_body": true`): dispatched at the request head. */
      readonly streamBody: boolean;
      /** The route takes a large or chunked body as a stream (`"stream_large_body": true`), a small one whole. */
      readonly streamLargeBody: boolean;
    }
  | { readonly kind: "method_not_allowed"; readonly route: RouteInfo; readonly allow: string };

type Store =
  | {
      kind: "route";
      route: RouteInfo;
      workerMethod: string;
      headers: boolean;
      sync: boolean;
      streamBody: boolean;
      streamLargeBody: boolean;
      allow: string;
    }
  | { kind: "method_not_allowed"; route: RouteInfo; allow: string };

type Method = FindMyWay.HTTPMethod;
const ALL_METHODS = METHODS as Method[];
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

/**
 * Whether `method` is one Node's HTTP/1 parser knows. HTTP/2 lets a client send any token; the
 * router has no route for another, which is a 501, not a 404 (RFC 9110 §9.1).
 */
export function knownMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

/** What a route of every method takes: all but CONNECT, which Node never hands over as a request. */
const EVERY_METHOD: readonly string[] = METHODS.filter((m) => m !== "CONNECT");

/** A route's methods as the route table and the start-up log show them: `ANY` for every method. */
export function methodsLabel(route: RouteInfo): string {
  return route.methods.includes(ANY_METHOD) ? "ANY" : route.methods.join(", ");
}

/** The methods `route` takes, upper case, `["*"]` spelled out. */
export function methodsOf(route: RouteInfo): string[] {
  return route.methods.includes(ANY_METHOD) ? [...EVERY_METHOD] : route.methods.map((m) => m.toUpperCase());
}

const NO_QUERY = Object.freeze({});
/**
 * The longest request path routed (414 beyond it). A path parameter may take all of it, so
 * find-my-way's own parameter limit, which would make a long parameter a 404, is never reached.
 */
export const MAX_PATH_LENGTH = 8192;

/** `/users/{id}` (the SDKs' syntax, as in OpenAPI) → `/users/:id` (find-my-way's). */
export function toRouterPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ":$1");
}

export class Router {
  private readonly fmw = FindMyWay({
    // The worker gets the raw query string; parsing it here would be wasted work.
    querystringParser: () => NO_QUERY,
    maxParamLength: MAX_PATH_LENGTH,
  });

  /**
   * A foreign app (ASGI, WSGI, fetch: its routes end with the catch-all `/*`) decodes its own paths,
   * so a path whose percent-encoding does not decode (`/%ff`, `/%zz`) still reaches it, as under
   * uvicorn or gunicorn; the app answers it (usually its own 404). Neutrino's SDKs take decoded
   * parameters from the router, so for them such a path stays a 400.
   */
  private readonly decodesOwnPaths: boolean;

  constructor(readonly routes: readonly RouteInfo[]) {
    this.decodesOwnPaths = routes.some((route) => route.path === "/*");
    const noop = (): void => {};
    for (const route of routes) {
      const allowed = new Set(methodsOf(route));
      const autoHead = allowed.has("GET") && !allowed.has("HEAD");
      const allow = [...allowed, ...(autoHead ? ["HEAD"] : [])].join(", ");
      const path = toRouterPath(route.path);
      const headers = route.headers === true;
      const sync = route.sync === true;
      const streamBody = route.streamBody === true;
      const streamLargeBody = route.streamLargeBody === true;
      for (const method of ALL_METHODS) {
        let store: Store;
        if (allowed.has(method)) store = { kind: "route", route, workerMethod: method, headers, sync, streamBody, streamLargeBody, allow };
        else if (method === "HEAD" && autoHead)
          store = { kind: "route", route, workerMethod: "GET", headers, sync, streamBody, streamLargeBody, allow };
        else store = { kind: "method_not_allowed", route, allow };
        this.fmw.on(method, path, noop, store);
      }
    }
    this.fmw.compile();
  }

  /** Looks up a request target (path with or without query string). Null means 404. */
  find(method: string, url: string): RouteMatch | null {
    const found = this.lookup(method, url);
    if (!found) return null;
    const store = found.store as Store;
    return store.kind === "route"
      ? {
          kind: "route",
          route: store.route,
          workerMethod: store.workerMethod,
          params: found.params,
          headers: store.headers,
          sync: store.sync,
          streamBody: store.streamBody,
          streamLargeBody: store.streamLargeBody,
        }
      : store;
  }

  /** The methods a request target's route allows (`GET, POST, HEAD`), or null when no route matches. */
  allowed(url: string): string | null {
    const found = this.lookup("OPTIONS", url);
    return found ? (found.store as Store).allow : null;
  }

  private lookup(method: string, url: string): FindMyWay.FindResult<FindMyWay.HTTPVersion.V1> | null {
    const found = this.fmw.find(method as Method, url);
    // find-my-way finds nothing for a path that does not decode: look it up with every `%` taken
    // literally. The worker still gets the path as received, and decodes it as its server would.
    if (found === null && this.decodesOwnPaths && url.includes("%")) return this.fmw.find(method as Method, url.replaceAll("%", "%25"));
    return found;
  }
}
