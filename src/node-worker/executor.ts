/**
 * Runs one TaskAssignment against the app and returns what its TaskResult carries, with the
 * Python worker's statuses and error bodies (python/src/neutrino/internal/worker/executor.py):
 * `{"error": <reason phrase>, "detail": <what was wrong>, ...}`. A failing handler becomes a 500
 * with its stack on stderr; the worker goes on. A handler returns a JSON value or a Response, or
 * throws an HTTPException; the app's middleware (app.use) wraps every call and sees each outcome,
 * errors included, as a Response.
 */
import { STATUS_CODES } from "node:http";
import { HANDLER_FAILED, type Pair, type RouteInfo, type TaskAssignment } from "../protocol/messages.js";
import type { App, Middleware, Route, WebSocketHandler } from "../sdk/app.js";
import { Request, streamOf, type BodyStream } from "../sdk/request.js";
import { HTTPException, JSON_BODY, Response } from "../sdk/response.js";
import { DEBUG_ENV } from "../shared/interface.js";
import { chunkBytes, isEventStream, isStreamBody, STREAM_MEDIA_TYPE, streamedBody, StreamingResponse } from "../sdk/streaming.js";
import { WebSocket, WebSocketDisconnect } from "../sdk/websocket.js";
import { collectArguments, InvalidArguments, InvalidBody, validateArguments } from "./arguments.js";
import { FormTooLarge, formContentType, parseForm } from "./forms.js";
import { BodySource } from "./body-source.js";
import { operationFor } from "./openapi.js";
import { describeThrown } from "./stack.js";
import { timeSync } from "./loop-monitor.js";
import type { BufferedOutcome, Outcome, TaskContext, TaskRunner, WebSocketTask } from "./task-runner.js";

export type { BufferedOutcome, Outcome } from "./task-runner.js";

/** What the executor needs for one route, worked out once when the worker starts. */
interface Entry {
  readonly route: Route;
  readonly methods: ReadonlySet<string>;
  readonly allow: string;
  /** Build a Request for this route: its handler reads it, or the app has middleware. */
  readonly needsRequest: boolean;
}

/** One call's state that outlives the handler: whether it failed (TaskResult flag bit 0). */
interface CallState {
  failed: boolean;
}

const NO_HEADERS: readonly Pair[] = [];
const EMPTY = Buffer.alloc(0);
/** The methods whose requests carry their arguments in a body. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

export class Executor implements TaskRunner {
  private readonly entries = new Map<string, Entry>();
  private readonly middleware: readonly Middleware[];
  private registry: RouteInfo[] | undefined;

  constructor(app: App) {
    this.middleware = app.listMiddleware();
    for (const path of app.listRoutes()) {
      const route = app.getRoute(path);
      const needsRequest = route.readsRequest || this.middleware.length > 0 || route.websocket !== undefined;
      this.entries.set(path, { route, methods: new Set(route.methods), allow: route.methods.join(", "), needsRequest });
    }
  }

  /**
   * The RouteRegistry: keyed by the paths the orchestrator sends back in TaskAssignment.route.
   * A route that reads the request (or any route of an app with middleware) asks for headers.
   */
  get routes(): RouteInfo[] {
    this.registry ??= [...this.entries.values()].map(({ route, needsRequest }) => ({
      path: route.path,
      methods: [...route.methods],
      ...(needsRequest ? { headers: true } : {}),
      ...(route.streamBody ? { streamBody: true } : {}),
      // A WebSocket is not an HTTP operation: it has no place in the OpenAPI document.
      ...(route.websocket ? { websocket: true } : { openapi: safeOperation(route) }),
    }));
    return this.registry;
  }

  /**
   * Never rejects: every failure is an error response. `ctx` comes from the worker's connection;
   * without it (app.inject) nothing is ever cancelled and a streamed body arrives whole.
   */
  async run(task: TaskAssignment, ctx?: TaskContext): Promise<Outcome | undefined> {
    const entry = this.entries.get(task.route);
    if (!entry) return errorOutcome(404, `no route "${task.route}" in this app`);
    if (!entry.methods.has(task.method)) {
      const detail = `method ${task.method} is not allowed for route "${entry.route.path}" (allowed: ${entry.allow})`;
      return errorOutcome(405, detail, 0, [["allow", entry.allow]]);
    }
    const { route } = entry;
    const body = route.streamBody ? (ctx?.body ?? streamOf(task.body)) : task.body;
    const request = entry.needsRequest ? requestOf(task, body, ctx?.signal) : undefined;
    if (route.websocket) {
      if (!ctx?.websocket) return errorOutcome(426, `"${route.path}" is a WebSocket route: connect with a WebSocket client`, 0, [["upgrade", "websocket"]]);
      return this.converse(route, task, request!, ctx.websocket);
    }
    const state: CallState = { failed: false };
    const result =
      this.middleware.length === 0
        ? await this.call(route, task, request, state)
        : await this.callThrough(0, route, task, request!, state);
    const flags = state.failed ? HANDLER_FAILED : 0;
    if (Response.isResponse(result)) return responseOutcome(result, route, task, flags);
    if (isStreamBody(result)) return responseOutcome(new StreamingResponse(result), route, task, flags);
    // Bytes are sent as they are (a Buffer as JSON would be {"type":"Buffer","data":[...]}).
    if (result instanceof Uint8Array || result instanceof ArrayBuffer) {
      return responseOutcome(new Response(result, { status: route.statusCode }), route, task, flags);
    }
    return jsonOutcome(result, route, task, flags, route.statusCode);
  }

  /**
   * The handler's return value (a Promise's, awaited), or an error Response: the handler's own
   * HTTPException, a 400 or 422 for the arguments, a 500 for anything else it threw.
   */
  private async call(route: Route, task: TaskAssignment, request: Request | undefined, state: CallState): Promise<unknown> {
    try {
      const bodyRoute = route.methods.every((m) => BODY_METHODS.has(m.toUpperCase()));
      // A streamed body is the handler's to read: it supplies no arguments.
      const body = route.streamBody ? EMPTY : task.body;
      const formType = formContentType(task.headers, body);
      const form = formType === undefined ? undefined : await parseForm(formType, body);
      const raw = collectArguments(task.query, task.params, body, route.readsRequest, bodyRoute && !route.streamBody, form);
      const args = route.schema ? await validateArguments(route.schema, raw) : raw.values;
      return await timeSync(task.route, () => route.handler(args as never, request as never));
    } catch (err) {
      if (err instanceof FormTooLarge) return errorResponse(413, err.message);
      if (err instanceof InvalidBody) return errorResponse(400, err.message);
      if (err instanceof InvalidArguments) return errorResponse(422, err.message, { errors: err.errors });
      if (HTTPException.isHTTPException(err)) return exceptionResponse(err);
      state.failed = true;
      return handlerFailed(`handler "${route.name}"`, task, err); // the handler, or a schema that threw
    }
  }

  /**
   * Runs a WebSocket handler: accepts the connection (with the first subprotocol the client
   * offered that the route speaks), then closes it when the handler returns (1000, unless it
   * closed) or throws (1011, logged). The task ends with that close.
   */
  private async converse(route: Route, task: TaskAssignment, request: Request, channel: WebSocketTask): Promise<undefined> {
    const subprotocol = chooseSubprotocol(request.headers.get("sec-websocket-protocol"), route.websocket!.subprotocols);
    channel.accept(subprotocol, NO_HEADERS);
    try {
      await (route.handler as unknown as WebSocketHandler)(new WebSocket(channel, subprotocol), request);
      channel.close(1000, "");
    } catch (err) {
      if (WebSocketDisconnect.isWebSocketDisconnect(err)) {
        channel.close(1000, "");
      } else {
        const { stack } = describeThrown(err);
        process.stderr.write(`neutrino: WebSocket handler "${route.name}" failed on ${requestLabel(task)}\n${stack}\n`);
        channel.close(1011, "");
      }
    }
    return undefined;
  }

  /**
   * Middleware `index` onwards, then the handler. Always resolves with a Response, so each
   * middleware's `next()` never rejects: errors below it arrive as error responses.
   */
  private async callThrough(index: number, route: Route, task: TaskAssignment, request: Request, state: CallState): Promise<Response> {
    if (index === this.middleware.length) return toResponse(await this.call(route, task, request, state), route.statusCode);
    const middleware = this.middleware[index]!;
    let downstream: Promise<Response> | undefined;
    // Calling next() twice runs the rest of the chain once.
    const next = (): Promise<Response> => (downstream ??= this.callThrough(index + 1, route, task, request, state));
    const name = `middleware "${middleware.name || `#${index + 1}`}"`;
    try {
      const result = await middleware(request, next);
      if (result === undefined) {
        throw new TypeError(`${name} returned nothing: it must return a Response (the one next() resolves with, or its own)`);
      }
      return toResponse(result, 200);
    } catch (err) {
      if (HTTPException.isHTTPException(err)) return exceptionResponse(err);
      state.failed = true;
      return handlerFailed(name, task, err);
    }
  }
}

function requestOf(task: TaskAssignment, body: Buffer | BodyStream, signal: AbortSignal | undefined): Request {
  return new Request({
    method: task.method,
    path: task.path,
    query: task.query,
    headers: task.headers,
    client: { host: task.clientHost, port: task.clientPort },
    body,
    requestId: task.requestId,
    pathParams: task.params,
    signal,
  }) as Request;
}

/** The first subprotocol the client offered (`Sec-WebSocket-Protocol`, in its order) that the route speaks; "" if none. */
function chooseSubprotocol(offered: string | null, spoken: readonly string[]): string {
  if (!offered || spoken.length === 0) return "";
  for (const name of offered.split(",")) if (spoken.includes(name.trim())) return name.trim();
  return "";
}

/**
 * A handler's or middleware's return value as a Response with `status`: bytes as they are,
 * anything else as JSON (a string too, as without middleware); undefined is sent as JSON null.
 */
function toResponse(value: unknown, status: number): Response {
  if (Response.isResponse(value)) return value;
  if (isStreamBody(value)) return new StreamingResponse(value);
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return new Response(value, { status });
  return Response.json(value === undefined ? null : value, { status });
}

function errorBody(status: number, detail: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { error: STATUS_CODES[status] ?? "Error", detail, ...extra };
}

function errorResponse(status: number, detail: unknown, extra: Record<string, unknown> = {}): Response {
  return new Response(errorBody(status, detail, extra), { status });
}

function exceptionResponse(err: HTTPException): Response {
  return new Response(errorBody(err.status, err.detail), { status: err.status, headers: err.headers });
}

/** Statuses whose responses never carry a body (RFC 9110 §15.3.5, §15.4.5). */
const NO_BODY = new Set([204, 304]);

/** A plain return value: JSON, serialized once. */
function jsonOutcome(result: unknown, route: Route, task: TaskAssignment, flags: number, status = 200): BufferedOutcome {
  let json: string | undefined;
  try {
    json = JSON.stringify(result);
  } catch (err) {
    return notSerializable(route, task, errorText(err)); // BigInt, a circular structure, a throwing toJSON
  }
  if (json === undefined) {
    // JSON.stringify gives undefined for undefined (sent as null), functions and symbols.
    if (result !== undefined) return notSerializable(route, task, `a ${typeof result} is not a JSON value`);
    json = "null";
  }
  return { status, flags, headers: NO_HEADERS, body: Buffer.from(json) };
}

/**
 * A Response: a string body as UTF-8 (text/plain by default), bytes as they are
 * (application/octet-stream by default), anything else as JSON (application/json).
 */
function responseOutcome(response: Response, route: Route, task: TaskAssignment, flags: number): Outcome {
  const { status, body } = response;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    const detail = `the response status must be a whole number from 100 to 599, got ${String(status)}`;
    process.stderr.write(`neutrino: ${requestLabel(task)}: ${detail}\n`);
    return errorOutcome(500, detail, HANDLER_FAILED);
  }
  let bytes: Buffer;
  let mediaType: string | undefined;
  const stream = streamedBody(response);
  if (stream && !(NO_BODY.has(status) || status < 200)) return streamOutcome(response, stream, route, task, flags);
  if (stream) {
    BodySource.from(stream).cancel(); // never read: let it clean up
    bytes = EMPTY;
  } else if (NO_BODY.has(status) || status < 200) bytes = EMPTY; // whatever the body, these statuses carry none
  else if ((response as unknown as Record<symbol, unknown>)[JSON_BODY] === true) {
    const json = jsonOutcome(body, route, task, flags);
    if (json.status !== 200) return json; // not serializable
    bytes = json.body;
  } else if (body === undefined || body === null) bytes = EMPTY; // as the Fetch API's new Response(null)
  else if (typeof body === "string") {
    bytes = Buffer.from(body, "utf8");
    mediaType = "text/plain; charset=utf-8";
  } else if (body instanceof Uint8Array) {
    bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    mediaType = "application/octet-stream";
  } else if (body instanceof ArrayBuffer) {
    bytes = Buffer.from(body);
    mediaType = "application/octet-stream";
  } else {
    const json = jsonOutcome(body, route, task, flags);
    if (json.status !== 200) return json; // not serializable
    bytes = json.body;
  }
  const headers: Pair[] = [];
  let hasType = false;
  for (const [name, value] of response.headers) {
    if (name === "content-type") hasType = true;
    headers.push([name, value]);
  }
  if (!hasType && mediaType) headers.push(["content-type", mediaType]);
  return { status, flags, headers, body: bytes };
}

/**
 * A streamed body: sent chunk by chunk by the connection. Strings are UTF-8, bytes as they are,
 * and in a `text/event-stream` events are formatted. The default type is text/plain.
 */
function streamOutcome(response: Response, body: StreamingResponse["body"], route: Route, task: TaskAssignment, flags: number): Outcome {
  const headers: Pair[] = [];
  for (const pair of response.headers) headers.push(pair);
  const type = response.headers.get("content-type");
  if (type === null) headers.push(["content-type", STREAM_MEDIA_TYPE]);
  const eventStream = isEventStream(type);
  const label = `stream of handler "${route.name}" on ${requestLabel(task)}`;
  return { status: response.status, flags, headers, body: BodySource.from(body, (item) => chunkBytes(item, eventStream), label) };
}

/** The operation, or a minimal one if generating it failed: OpenAPI must never stop a worker. */
function safeOperation(route: Route): Record<string, unknown> {
  try {
    return operationFor(route);
  } catch (err) {
    process.stderr.write(`neutrino: OpenAPI for route "${route.path}" could not be generated: ${errorText(err)}\n`);
    return { responses: { "200": { description: "Successful Response" } } };
  }
}

export function errorOutcome(
  status: number,
  detail: string,
  flags = 0,
  headers: readonly Pair[] = NO_HEADERS,
  extra: Record<string, unknown> = {},
): BufferedOutcome {
  const body = JSON.stringify({ error: STATUS_CODES[status] ?? "Error", detail, ...extra });
  return { status, flags, headers, body: Buffer.from(body) };
}

/** NEUTRINO_DEBUG=1 (the orchestrator's --debug): a 500 shows the error and its stack. */
const DEBUG = process.env[DEBUG_ENV] === "1";

function handlerFailed(who: string, task: TaskAssignment, thrown: unknown): Response {
  const { detail, extra } = reportFailure(who, task, thrown);
  return errorResponse(500, detail, extra);
}

/** A task's request as the log names it, with the id its client and the access log have. */
export function requestLabel(task: TaskAssignment): string {
  return task.requestId ? `${task.method} ${task.path} (request ${task.requestId})` : `${task.method} ${task.path}`;
}

/** Logs what threw, where, with its stack and the request id its client was given. */
export function logFailure(who: string, task: TaskAssignment, thrown: unknown): ReturnType<typeof describeThrown> {
  const described = describeThrown(thrown);
  process.stderr.write(`neutrino: ${who} failed on ${requestLabel(task)}\n${described.stack}\n`);
  return described;
}

/**
 * Logs what threw, with its stack and the request id (the operator needs where it happened),
 * and says what the client's 500 carries: by default only that `who` failed and the request id,
 * since an error's text may hold anything (a password in a connection string); with --debug the
 * error's name, message and stack. Every kind of app fails this way, native or fetch.
 */
export function reportFailure(who: string, task: TaskAssignment, thrown: unknown): { detail: string; extra: Record<string, unknown> } {
  const { name, message, stack } = logFailure(who, task, thrown);
  const ids = task.requestId ? { request_id: task.requestId } : {};
  if (!DEBUG) return { detail: `the ${who.split(" ")[0]} failed; the server log has the details`, extra: ids };
  return { detail: message ? `${name}: ${message}` : name, extra: { exception: name, traceback: stack, ...ids } };
}

function notSerializable(route: Route, task: TaskAssignment, why: string): BufferedOutcome {
  const detail = `return value of handler "${route.name}" is not JSON-serializable: ${why}`;
  process.stderr.write(`neutrino: ${requestLabel(task)}: ${detail}\n`);
  return errorOutcome(500, detail, HANDLER_FAILED);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
