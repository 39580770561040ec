/**
 * `app.inject()`: a request through the app in this process, with no server and no worker: the
 * orchestrator's routing table (path templates, 404, 405 with Allow, HEAD by GET) and the Node
 * worker's own Executor (argument binding and validation, middleware, error rules), so a test sees
 * what a client of `neutrino serve` would.
 */
import { STATUS_CODES } from "node:http";
import { Router } from "../orchestrator/http/router.js";
import { BodySource } from "../node-worker/body-source.js";
import { Executor, type Outcome } from "../node-worker/executor.js";
import type { Pair } from "../protocol/messages.js";
import type { App } from "./app.js";

export interface InjectOptions {
  /** GET by default. */
  readonly method?: string;
  /** Path and query string: `/add?x=2&y=3`. */
  readonly url: string;
  readonly headers?: Record<string, string> | Iterable<readonly [string, string]>;
  /** The raw request body. */
  readonly body?: string | Uint8Array;
  /** A value sent as a JSON body (with `content-type: application/json` unless a header says otherwise); replaces `body`. */
  readonly json?: unknown;
}

export interface InjectResponse {
  readonly statusCode: number;
  /** Response headers, names in lower case. */
  readonly headers: Record<string, string>;
  /** The body as UTF-8 text (`rawBody` has the bytes). */
  readonly body: string;
  readonly rawBody: Buffer;
  /** The body parsed as JSON; throws a SyntaxError if it is not JSON. */
  json(): unknown;
}

/** The routing table and executor of one app, built on the first inject after a change to the app. */
export class Injector {
  private readonly executor: Executor;
  private readonly router: Router;
  private taskId = 0;

  constructor(app: App) {
    this.executor = new Executor(app);
    this.router = new Router(this.executor.routes);
  }

  async inject(options: InjectOptions): Promise<InjectResponse> {
    if (typeof options !== "object" || options === null || typeof options.url !== "string" || !options.url.startsWith("/")) {
      throw new TypeError(`app.inject: url must be a path starting with "/", got ${JSON.stringify(options?.url)}`);
    }
    const method = (options.method ?? "GET").toUpperCase();
    const { url } = options;
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? "" : url.slice(q + 1);
    const headers = headerPairs(options.headers);
    let body: Buffer;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      if (!headers.some(([name]) => name === "content-type")) headers.push(["content-type", "application/json"]);
    } else body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body as Uint8Array);

    const match = this.router.find(method, url);
    if (match === null) return errorResponse(404, `no route for ${method} ${path}`);
    if (match.kind === "method_not_allowed") {
      return errorResponse(405, `${method} is not allowed on ${match.route.path} (allowed: ${match.allow})`, { allow: match.allow });
    }
    const params: Pair[] = [];
    for (const [name, value] of Object.entries(match.params)) if (value !== undefined) params.push([name, value]);
    const outcome = await this.executor.run({
      type: "TaskAssignment",
      taskId: ++this.taskId,
      method: match.workerMethod,
      route: match.route.path,
      path,
      query,
      params,
      headers,
      requestId: `inject-${this.taskId}`,
      clientHost: "127.0.0.1",
      clientPort: 0,
      body,
    });
    // Without a connection the executor never hands over a WebSocket: a WebSocket route answers 426.
    return toResponse(outcome!, await collect(outcome!), method === "HEAD");
  }
}

function headerPairs(headers: InjectOptions["headers"]): Pair[] {
  if (headers === undefined) return [];
  const entries = Symbol.iterator in headers ? [...(headers as Iterable<readonly [string, string]>)] : Object.entries(headers);
  return entries.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
}

/** The whole body: a streamed one read to its end (a stream that fails rejects the inject). */
async function collect(outcome: Outcome): Promise<Buffer> {
  const { body } = outcome;
  if (Buffer.isBuffer(body)) return body;
  const source = body instanceof BodySource ? body : BodySource.from(body);
  const chunks: Buffer[] = [];
  for (let chunk = await source.next(); chunk !== undefined; chunk = await source.next()) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** What the orchestrator writes for a response: JSON unless the handler chose a type, and the length. */
function toResponse(outcome: Outcome, body: Buffer, head: boolean): InjectResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of outcome.headers) {
    const lower = name.toLowerCase();
    headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
  }
  headers["content-type"] ??= "application/json";
  headers["content-length"] = String(body.length);
  return response(outcome.status, headers, head ? Buffer.alloc(0) : body);
}

function errorResponse(status: number, detail: string, extra: Record<string, string> = {}): InjectResponse {
  const body = Buffer.from(JSON.stringify({ error: STATUS_CODES[status] ?? "Error", detail }));
  return response(status, { ...extra, "content-type": "application/json", "content-length": String(body.length) }, body);
}

function response(statusCode: number, headers: Record<string, string>, rawBody: Buffer): InjectResponse {
  const body = rawBody.toString("utf8");
  return { statusCode, headers, body, rawBody, json: () => JSON.parse(body) as unknown };
}
