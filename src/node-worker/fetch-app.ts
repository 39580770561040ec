/**
 * Serves an app written for the web-standard fetch API (Hono, itty-router…): an object with a
 * `fetch(request)` method, or such a function, that answers a web `Request` with a `Response`.
 * The orchestrator sends every path to it (a catch-all route) and the app answers its own 404s
 * and 405s; the route templates the app can tell (Hono's `app.routes`) only label requests in
 * metrics, logs and the status page, so a label is always a template, never a raw path.
 */
import type { Pair, RouteInfo, TaskAssignment } from "../protocol/messages.js";
import { ANY_METHOD, APP_HEADERS, HANDLER_FAILED, MAX_CHUNK } from "../protocol/messages.js";
import { errorOutcome, logFailure, reportFailure, requestLabel } from "./executor.js";
import { timeSync } from "./loop-monitor.js";
import type { Outcome, TaskContext, TaskRunner } from "./task-runner.js";

export type FetchHandler = (request: Request, info: ConnectionInfo) => unknown;

/** The second argument of the handler, shaped as Deno's `ServeHandlerInfo` (Hono's `getConnInfo` reads it). */
export interface ConnectionInfo {
  readonly remoteAddr: { readonly transport: "tcp"; readonly hostname: string; readonly port: number };
}

/** Methods a web Request cannot have (the Fetch standard forbids them); Node never hands over CONNECT. */
const FORBIDDEN_METHODS = new Set(["TRACE", "TRACK"]);
/** The route that takes every path no introspected template matches. */
export const CATCH_ALL = "/*";

const NO_BODY_METHODS = new Set(["GET", "HEAD"]);
/** A Host header value: a name or an IPv4 or IPv6 address, and an optional port. */
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const EMPTY = Buffer.alloc(0);
/**
 * A body complete within the event-loop turn that produced it, in at most this many pieces and
 * this many bytes, goes as one TaskResult (a JSON or text answer is one piece).
 */
const BUFFERED_READS = 8;
const BUFFERED_LIMIT = MAX_CHUNK;
const TURN_OVER = Symbol("turn over");

export class FetchApp implements TaskRunner {
  readonly routes: RouteInfo[];

  /** `templates`: the app's route paths in its own syntax (Hono's), any it cannot express skipped. */
  constructor(
    private readonly handler: FetchHandler,
    templates: Iterable<string> = [],
  ) {
    // A large or chunked request body is streamed to request.body as it arrives, a small one given whole.
    this.routes = routeTemplates(templates).map((path) => ({ path, methods: [ANY_METHOD], headers: true, streamLargeBody: true }));
  }

  /**
   * A fetch app found in `value`: an object with a `fetch` method (called as a method, as Hono's
   * and itty-router's expect) or a function that takes the request (any function when `forced`:
   * `--interface fetch`); null for anything else. Hono's `routes` label requests.
   */
  static from(value: unknown, forced = false): FetchApp | null {
    if (typeof value === "function") {
      return isClass(value) || (value.length === 0 && !forced) ? null : new FetchApp(value as FetchHandler);
    }
    if (typeof value !== "object" || value === null) return null;
    const target = value as { fetch?: unknown; routes?: unknown };
    if (typeof target.fetch !== "function") return null;
    const fetch = target.fetch as FetchHandler;
    return new FetchApp((request, info) => fetch.call(target, request, info), introspect(target.routes));
  }

  /** Never rejects: every failure is an error response. */
  async run(task: TaskAssignment, context: TaskContext): Promise<Outcome> {
    let request: Request;
    try {
      request = requestOf(task, context);
    } catch (err) {
      // Every method reaches the app (it answers its own 405), but these cannot be a Request.
      if (FORBIDDEN_METHODS.has(task.method)) return errorOutcome(501, `a fetch handler cannot be given a ${task.method} request`);
      return errorOutcome(400, `the request cannot be given to the app: ${errorText(err)}`);
    }
    let response: unknown;
    try {
      const info = { remoteAddr: { transport: "tcp" as const, hostname: task.clientHost, port: task.clientPort } };
      response = await timeSync(task.route, () => this.handler(request, info));
    } catch (err) {
      return handlerFailed(task, err);
    }
    if (!isResponse(response)) {
      const detail = `the fetch handler returned ${describe(response)}, not a Response`;
      process.stderr.write(`neutrino: ${requestLabel(task)}: ${detail}\n`);
      return errorOutcome(500, detail, HANDLER_FAILED);
    }
    try {
      return await outcomeOf(response, task, context.signal);
    } catch (err) {
      return bodyFailed(task, err);
    }
  }
}

/**
 * The web Request for a task: the URL from the scheme the client used (the orchestrator's
 * `x-forwarded-proto`: TLS, or a trusted proxy's word), the Host header (`localhost` without a
 * usable one), the path and the query; the headers as received, with the request's id in
 * `x-request-id`.
 */
function requestOf(task: TaskAssignment, context: TaskContext): Request {
  const headers: Pair[] = [];
  let host = "";
  let scheme = "http";
  for (const pair of task.headers) {
    if (pair[0] === "host") host = pair[1];
    else if (pair[0] === "x-forwarded-proto" && pair[1] === "https") scheme = "https";
    if (pair[0] !== "x-request-id") headers.push(pair);
  }
  headers.push(["x-request-id", task.requestId]);
  const target = task.query === "" ? task.path : `${task.path}?${task.query}`;
  const init: RequestInit & { duplex?: "half" } = { method: task.method, headers };
  // A GET or HEAD carries no body in fetch (a Request with one cannot be made); one streamed
  // anyway is dropped as it comes, so that its upload does not stall on the window.
  if (NO_BODY_METHODS.has(task.method)) void context.body?.cancel().catch(() => {});
  else {
    if (context.body !== undefined) {
      init.body = context.body;
      init.duplex = "half"; // a streamed request body (fetch requires saying so)
    } else if (task.body.length > 0) init.body = task.body as unknown as BodyInit;
  }
  // Only a host and port: anything else in the header (a "/" say) would change the path the app sees.
  if (!HOST.test(host)) host = "localhost";
  return new (taskRequestType())(`${scheme}://${host}${target}`, init, context.signal);
}

/**
 * A Request whose `signal` is the task's own. Passing it as `init.signal` would do the same, but
 * Node's fetch then links a second signal to it, which costs three times the rest of the Request.
 * Defined on first use: reading the global `Request` loads Node's fetch (undici, some 25 ms), which
 * a worker serving a neutrino App never needs.
 */
type TaskRequestType = new (url: string, init: RequestInit, signal: AbortSignal) => Request;
let taskRequest: TaskRequestType | undefined;

function taskRequestType(): TaskRequestType {
  return (taskRequest ??= class TaskRequest extends Request {
    readonly #signal: AbortSignal;

    constructor(url: string, init: RequestInit, signal: AbortSignal) {
      super(url, init);
      this.#signal = signal;
    }

    override get signal(): AbortSignal {
      return this.#signal;
    }
  });
}

/**
 * The Response as a TaskResult when its body is already complete within this turn of the event
 * loop and small (a JSON or text answer: the hot path, and the orchestrator may compress it),
 * else as a stream that starts with the chunks read so far.
 */
async function outcomeOf(response: Response, task: TaskAssignment, signal: AbortSignal): Promise<Outcome> {
  const status = response.status;
  if (status < 200 || status > 599) {
    // Response.error() (status 0): fetch's network error, which a server answers with a 500.
    const detail = `the fetch handler returned a Response with status ${status}`;
    process.stderr.write(`neutrino: ${requestLabel(task)}: ${detail}\n`);
    return errorOutcome(500, detail, HANDLER_FAILED);
  }
  const body = response.body;
  if (body === null) return { status, flags: APP_HEADERS, headers: headersOf(response), body: EMPTY };
  const reader = body.getReader();
  // A cancelled task's body is cancelled, which is how the app's stream hears that the client
  // left (Hono's stream helpers run their onAbort), even before anyone reads it. The signal is
  // the task's own: the listener goes with it.
  const cancel = (): void => void reader.cancel().catch(() => {});
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
  const turnOver = new Promise<typeof TURN_OVER>((resolve) => setImmediate(resolve, TURN_OVER));
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = reader.read();
    const read = await Promise.race([next, turnOver]);
    if (read === TURN_OVER) return streamed(response, reader, chunks, next);
    if (read.done) {
      const bytes = chunks.length === 1 ? asBuffer(chunks[0]!) : Buffer.concat(chunks, size);
      return { status, flags: APP_HEADERS, headers: headersOf(response), body: bytes };
    }
    chunks.push(bytes(read.value));
    size += read.value.byteLength;
    if (size > BUFFERED_LIMIT || chunks.length === BUFFERED_READS) return streamed(response, reader, chunks, undefined);
  }
}

function streamed(
  response: Response,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  chunks: Uint8Array[],
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
): Outcome {
  return { status: response.status, flags: APP_HEADERS, headers: headersOf(response), body: rest(reader, chunks, pending) };
}

/** The body from where the first reads stopped; ending it early (a cancel) cancels the app's stream. */
async function* rest(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  chunks: Uint8Array[],
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  let done = false;
  try {
    yield* chunks;
    chunks.length = 0;
    for (;;) {
      const read = await (pending ?? reader.read());
      pending = undefined;
      if (read.done) {
        done = true;
        return;
      }
      yield bytes(read.value);
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
  }
}

/** The response headers as pairs (Headers gives each Set-Cookie apart). */
function headersOf(response: Response): Pair[] {
  const pairs: Pair[] = [];
  for (const [name, value] of response.headers) pairs.push([name, value]);
  return pairs;
}

/** A body chunk, which fetch says must be bytes (an app's own ReadableStream may hold anything). */
function bytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError(`the response body gave ${describe(chunk)}, not a Uint8Array`);
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * A web Response: this Node's, or another fetch implementation's (a bundled undici's) with a
 * status, iterable Headers and a web stream or null as its body.
 */
function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  if (typeof value !== "object" || value === null) return false;
  const r = value as { status?: unknown; headers?: { [Symbol.iterator]?: unknown }; body?: { getReader?: unknown } | null };
  return typeof r.status === "number" && typeof r.headers?.[Symbol.iterator] === "function" && (r.body === null || typeof r.body?.getReader === "function");
}

function handlerFailed(task: TaskAssignment, thrown: unknown): Outcome {
  const { detail, extra } = reportFailure("app (its fetch handler)", task, thrown);
  return errorOutcome(500, detail, HANDLER_FAILED, [], extra);
}

function bodyFailed(task: TaskAssignment, thrown: unknown): Outcome {
  logFailure("the response body", task, thrown);
  const ids = task.requestId ? { request_id: task.requestId } : {};
  return errorOutcome(500, "the response body failed before it was sent", HANDLER_FAILED, [], ids);
}

/** Hono's `routes`: entries with a string `path` (middleware included: their paths label too). */
function introspect(routes: unknown): string[] {
  if (!Array.isArray(routes)) return [];
  const paths: string[] = [];
  for (const route of routes) {
    const path = (route as { path?: unknown } | null)?.path;
    if (typeof path === "string") paths.push(path);
  }
  return paths;
}

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)(\{[^/]*\})?(\?)?$/;
const SPECIAL = /[:*{}()?]/;

/**
 * Hono-style paths as the orchestrator's route templates, the catch-all last: `:name` and
 * `:name{regex}` become `{name}` (the regex is the app's business), an optional last `:name?`
 * gives the template with and without it, a final `*` stays. A path the orchestrator's router
 * cannot express (a `*` or an optional parameter mid-path, several parameters in a segment) is
 * left to the catch-all. Templates of the same shape (`/u/{id}`, `/u/{name}`) are one route.
 */
export function routeTemplates(paths: Iterable<string>): string[] {
  const byShape = new Map<string, string>();
  const add = (template: string): void => {
    const shape = template.replace(/\{[^}]*\}/g, "{}");
    if (!byShape.has(shape)) byShape.set(shape, template);
  };
  for (const path of paths) for (const template of templatesOf(path)) add(template);
  add(CATCH_ALL);
  // The catch-all last, wherever an app's middleware (`app.use("*")`) put it.
  const all = [...byShape.values()].filter((t) => t !== CATCH_ALL);
  return [...all, CATCH_ALL];
}

function templatesOf(path: string): string[] {
  if (path === "*") return [CATCH_ALL];
  if (!path.startsWith("/")) return [];
  const segments = path.slice(1).split("/");
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === "*") {
      if (!last) return [];
      out.push("*");
      continue;
    }
    const param = PARAM.exec(segment);
    if (param) {
      if (param[3] !== undefined) {
        if (!last) return [];
        const without = `/${out.join("/")}`;
        return [without, `/${[...out, `{${param[1]}}`].join("/")}`];
      }
      out.push(`{${param[1]}}`);
      continue;
    }
    if (SPECIAL.test(segment)) return [];
    out.push(segment);
  }
  return [`/${out.join("/")}`];
}

function isClass(value: Function): boolean {
  return /^class\b/.test(Function.prototype.toString.call(value));
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== "object") return `a ${typeof value}`;
  const name = (value as object).constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
