/**
 * The HTTP front: route lookup (404/405), body reading (413), hand-off to the dispatcher, and
 * writing the worker's answer back. The response body bytes come from the worker and are passed
 * through untouched.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { nextTaskId, type Job } from "../dispatch/job.js";
import { encodeTaskAssignment } from "../protocol/codec.js";
import type { Pair, TaskResult } from "../protocol/messages.js";
import { sendError, sendRawError } from "./errors.js";
import type { Logger } from "../log.js";
import { NO_ROUTE, type Metrics } from "../metrics.js";
import type { ProbePaths } from "./probes.js";
import { BuiltIns, builtInsOf } from "./built-ins.js";
import type { RequestStats } from "../status/request-stats.js";
import type { StatusPage } from "../status/status-page.js";
import { compress, compressible, negotiate, weakenEtags, type CompressionOptions } from "./compression.js";
import { Cors, type CorsOptions } from "./cors.js";
import { clientAddress, requestHeaderPairs } from "./request-headers.js";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.js";
import type { Router } from "./router.js";
import type { StaticFiles } from "./static-files.js";
import type { ApiDocs } from "../openapi/docs-page.js";

/** How long a client may take to send its request, and to send the next one on a kept-alive connection. */
export interface ClientTimeouts {
  /** Time to receive the request headers (slowloris): 408. */
  readonly headersMs: number;
  /** Time to receive the whole request, body included: 408. */
  readonly requestMs: number;
  readonly keepAliveMs: number;
}

export interface HttpServerOptions {
  readonly router: Router;
  readonly dispatcher: Dispatcher;
  readonly maxBodySize: number;
  readonly timeouts: ClientTimeouts;
  readonly probes: ProbePaths;
  readonly metrics: Metrics;
  /** Where the main port serves /metrics; null when another port (--metrics-port, --admin-port) serves it. */
  readonly metricsPath: string | null;
  /** One log line per request answered by a worker (or its failure), or null for none. */
  readonly accessLog: Logger | null;
  /** `--static` mounts: each owns its URL prefix (null: none). */
  readonly staticFiles: StaticFiles | null;
  /** /openapi.json and /docs (null: --no-docs, or served on --admin-port). */
  readonly apiDocs: ApiDocs | null;
  /** The /_neutrino/ status page (--status-page), or null when it is off. */
  readonly statusPage?: StatusPage | null;
  /** Serve the status page on this port (false: --admin-port serves it; it is still fed). */
  readonly statusPageHere?: boolean;
  /** --cors-origin: answer preflights and add Access-Control-* headers (null or absent: off). */
  readonly cors?: CorsOptions | null;
  /** --compress: compress worker answers from this size up (null or absent: off). */
  readonly compression?: CompressionOptions | null;
}

const EMPTY = Buffer.alloc(0);
const NO_PAIRS: Pair[] = [];
const NO_CLIENT: readonly [host: string, port: number] = ["", 0];
/**
 * Hop-by-hop and framing headers are the orchestrator's to set, never a worker's; so is
 * X-Request-Id, which the client sent or the orchestrator made.
 */
const RESERVED_RESPONSE_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", REQUEST_ID_HEADER]);

/** One request in flight: the Job the dispatcher and workers see, bound to its HTTP response. */
class HttpJob implements Job {
  readonly submittedAt = performance.now();
  assignedAt = 0;
  slow = false;
  /** Answered already: a late result (after a timeout, say) is dropped. */
  private settled = false;

  constructor(
    readonly taskId: number,
    readonly requestId: string,
    readonly frame: Buffer,
    readonly sync: boolean,
    readonly method: string,
    readonly route: string,
    private readonly path: string,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly server: HttpServer,
    private readonly metrics: Metrics,
  ) {}

  private record(status: number): void {
    const now = performance.now();
    this.metrics.requestDone(this.route, this.method, status, (now - this.submittedAt) / 1000);
    this.server.requestStats?.record(status, (now - this.submittedAt) / 1000);
    const log = this.server.accessLog;
    if (!log) return;
    const ms = (t: number): number => Math.round(t * 1000) / 1000;
    const started = this.assignedAt || now;
    log.info(
      {
        requestId: this.requestId,
        method: this.method,
        path: this.path,
        route: this.route,
        status,
        durationMs: ms(now - this.submittedAt),
        queueMs: ms(started - this.submittedAt),
        workerMs: this.assignedAt ? ms(now - this.assignedAt) : 0,
      },
      `${this.method} ${this.path} ${status} ${ms(now - this.submittedAt)} ms`,
    );
  }

  get abandoned(): boolean {
    const socket = this.res.socket;
    return socket === null || socket.destroyed;
  }

  get answered(): boolean {
    return this.settled;
  }

  complete(result: TaskResult): void {
    if (this.settled) return;
    this.settled = true;
    const headers: string[] = [];
    let hasType = false;
    for (const [name, value] of result.headers) {
      const lower = name.toLowerCase();
      if (RESERVED_RESPONSE_HEADERS.has(lower)) continue;
      if (lower === "content-type") hasType = true;
      headers.push(name, value);
    }
    if (!hasType) headers.push("content-type", "application/json");
    headers.push(REQUEST_ID_HEADER, this.requestId);
    const { cors, compression } = this.server;
    if (cors !== null && !Cors.answered(result.headers)) headers.push(...cors.responseHeaders(this.req.headers.origin));
    const { status, body } = result;
    if (compression !== null && body.length >= compression.minBytes && compressible(status, result.headers)) {
      headers.push("vary", "Accept-Encoding");
      const encoding = negotiate(this.req.headers["accept-encoding"]);
      if (encoding !== null) {
        compress(encoding, body, (out) => {
          if (out === null || out.length >= body.length) return this.send(status, headers, body);
          headers.push("content-encoding", encoding);
          weakenEtags(headers);
          this.send(status, headers, out);
        });
        return;
      }
    }
    this.send(status, headers, body);
  }

  private send(status: number, headers: string[], body: Buffer): void {
    headers.push("content-length", String(body.length));
    if (this.server.draining) headers.push("connection", "close");
    try {
      this.res.writeHead(status, headers);
    } catch (err) {
      sendError(this.res, 502, `the worker sent an invalid response: ${(err as Error).message}`, {
        [REQUEST_ID_HEADER]: this.requestId,
      });
      return;
    }
    this.res.end(body);
    this.record(status);
  }

  fail(status: number, detail: string, headers?: Record<string, string>): void {
    if (this.settled) return;
    this.settled = true;
    this.record(status);
    const all: Record<string, string> = { ...headers, [REQUEST_ID_HEADER]: this.requestId };
    if (this.server.draining) all.connection = "close";
    const cors = this.server.cors;
    if (cors !== null) {
      const more = cors.responseHeaders(this.req.headers.origin);
      for (let i = 0; i < more.length; i += 2) all[more[i]!] = more[i + 1]!;
    }
    sendError(this.res, status, detail, all);
  }
}

export class HttpServer {
  readonly server: Server;
  /** Set once shutdown begins: every response then closes its connection. */
  draining = false;
  /** Replaced as a whole when a reload brings new routes. */
  router: Router;
  readonly accessLog: Logger | null;
  /** Fed with every request a worker was asked to answer, when the status page is on. */
  readonly requestStats: RequestStats | null;
  readonly cors: Cors | null;
  readonly compression: CompressionOptions | null;
  readonly builtIns: BuiltIns;

  constructor(private readonly options: HttpServerOptions) {
    this.router = options.router;
    this.builtIns = new BuiltIns(builtInsOf(options, options.statusPageHere ?? true));
    this.accessLog = options.accessLog;
    this.requestStats = options.statusPage?.stats ?? null;
    this.cors = options.cors ? new Cors(options.cors) : null;
    this.compression = options.compression ?? null;
    const { headersMs, requestMs, keepAliveMs } = options.timeouts;
    this.server = createServer(
      {
        headersTimeout: headersMs,
        requestTimeout: Math.max(requestMs, headersMs),
        keepAliveTimeout: keepAliveMs,
        // Node checks those timeouts every 30 s by default: far too coarse for a 10 s limit.
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || err.code === "ECONNRESET") {
        socket.destroy();
        return;
      }
      if (err.code === "HPE_HEADER_OVERFLOW") sendRawError(socket, 431, "request headers are too large");
      else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") sendRawError(socket, 408, "the request took too long to arrive");
      else sendRawError(socket, 400, `malformed HTTP request: ${err.message}`);
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting connections; idle keep-alive connections close now, busy ones after their response. */
  drain(): void {
    this.draining = true;
    this.server.close();
    this.server.closeIdleConnections();
  }

  /** Closes whatever connections remain (end of shutdown). */
  closeAll(): void {
    this.server.closeAllConnections();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const method = req.method ?? "GET";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const requestId = requestIdFor(req.headers[REQUEST_ID_HEADER]);
    const cors = this.cors;
    // Built-ins under the precedence rule of built-ins.ts: some before the app's routes, the rest after.
    const first = this.builtIns.beforeApp(path);
    if (first) {
      res.setHeader(REQUEST_ID_HEADER, requestId);
      cors?.setHeaders(res, req.headers.origin);
      BuiltIns.answer(first, { req, res, method, path, url, draining: this.draining });
      return;
    }
    const match = this.router.find(method, url);
    if (cors !== null) {
      if (method === "OPTIONS" && cors.preflight(req, res, this.router.allowed(url), requestId)) return;
      if (match === null || match.kind === "method_not_allowed") cors.setHeaders(res, req.headers.origin);
    }
    if (match === null) {
      // Everything answered here (probes, metrics, 404…) carries the id too.
      res.setHeader(REQUEST_ID_HEADER, requestId);
      const builtIn = this.builtIns.afterApp(path);
      if (builtIn) {
        BuiltIns.answer(builtIn, { req, res, method, path, url, draining: this.draining });
        return;
      }
      this.options.metrics.requestDone(NO_ROUTE, method, 404, 0);
      sendError(res, 404, `no route for ${method} ${path}`);
      return;
    }
    if (match.kind === "method_not_allowed") {
      this.options.metrics.requestDone(match.route.path, method, 405, 0);
      sendError(res, 405, `${method} is not allowed on ${match.route.path} (allowed: ${match.allow})`, {
        allow: match.allow,
        [REQUEST_ID_HEADER]: requestId,
      });
      return;
    }

    const { maxBodySize } = this.options;
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBodySize) {
      this.tooLarge(req, res, requestId);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodySize) {
        req.removeAllListeners("data").removeAllListeners("end");
        this.tooLarge(req, res, requestId);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      const body = chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const params = paramPairs(match.params);
      const taskId = nextTaskId();
      const query = q < 0 ? "" : url.slice(q + 1);
      // Headers and the client's address only for routes that read the request.
      const headers = match.headers ? requestHeaderPairs(req.rawHeaders) : NO_PAIRS;
      const [host, port] = match.headers ? clientAddress(req) : NO_CLIENT;
      const frame = encodeTaskAssignment(taskId, match.workerMethod, match.route.path, path, query, params, headers, requestId, host, port, body);
      this.options.dispatcher.submit(
        new HttpJob(taskId, requestId, frame, match.sync, method, match.route.path, path, req, res, this, this.options.metrics),
      );
    });
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    this.cors?.setHeaders(res, req.headers.origin);
    // The rest of the body is not read: close the connection rather than parse it as a next request.
    sendError(res, 413, `request body is larger than the limit of ${this.options.maxBodySize} bytes`, {
      connection: "close",
      [REQUEST_ID_HEADER]: requestId,
    });
  }
}

function paramPairs(params: Record<string, string | undefined>): Pair[] {
  let pairs: Pair[] | null = null;
  for (const name in params) {
    const value = params[name];
    if (value !== undefined) (pairs ??= []).push([name, value]);
  }
  return pairs ?? NO_PAIRS;
}
