/**
 * The HTTP front: route lookup (404/405), body reading (413), hand-off to the dispatcher, and
 * writing the worker's answer back. The response body bytes come from the worker and are passed
 * through untouched.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { nextTaskId } from "../dispatch/job.js";
import { encodeTaskAssignment } from "../../protocol/codec.js";
import type { Pair } from "../../protocol/messages.js";
import { sendError, sendRawError } from "./errors.js";
import type { Logger } from "../log.js";
import { NO_ROUTE, type Metrics } from "../metrics.js";
import type { ProbePaths } from "./probes.js";
import { BuiltIns, builtInsOf } from "./built-ins.js";
import type { RequestStats } from "../status/request-stats.js";
import type { StatusPage } from "../status/status-page.js";
import type { CompressionOptions } from "./compression.js";
import { Cors, type CorsOptions } from "./cors.js";
import { clientAddress, requestHeaderPairs } from "./request-headers.js";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.js";
import { MAX_PATH_LENGTH, type Router } from "./router.js";
import { HttpJob, type JobContext } from "./http-job.js";
import type { StaticFiles } from "./static-files.js";
import type { ApiDocs } from "../openapi/docs-page.js";
import { WebSocketGateway, websocketOnly, type WebSocketSettings } from "./websocket.js";

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
  /** The largest request head (request line and headers) accepted, in bytes: 431 beyond it. */
  readonly maxHeaderSize?: number;
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
  /** --ws-max-size, --ws-ping-interval, --ws-ping-timeout (absent: their defaults). */
  readonly websocket?: WebSocketSettings;
}

const EMPTY = Buffer.alloc(0);
const NO_PAIRS: Pair[] = [];
const NO_CLIENT: readonly [host: string, port: number] = ["", 0];
/** On a connection: the response to its latest request, which Node writes after every earlier one. */
const LAST_RESPONSE = Symbol("neutrino.lastResponse");
/** On a connection: its request stream could not be parsed, and the error answer is on its way. */
const PARSE_FAILED = Symbol("neutrino.parseFailed");
type Connection = Socket & { [LAST_RESPONSE]?: ServerResponse; [PARSE_FAILED]?: true };
export class HttpServer implements JobContext {
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
  readonly metrics: Metrics;
  /** Upgrade requests never reach handle(): Node emits `upgrade`, and the gateway takes them. */
  readonly websockets: WebSocketGateway;

  constructor(private readonly options: HttpServerOptions) {
    this.router = options.router;
    this.builtIns = new BuiltIns(builtInsOf(options, options.statusPageHere ?? true));
    this.accessLog = options.accessLog;
    this.requestStats = options.statusPage?.stats ?? null;
    this.cors = options.cors ? new Cors(options.cors) : null;
    this.compression = options.compression ?? null;
    this.metrics = options.metrics;
    const { headersMs, requestMs, keepAliveMs } = options.timeouts;
    this.server = createServer(
      {
        headersTimeout: headersMs,
        requestTimeout: Math.max(requestMs, headersMs),
        maxHeaderSize: options.maxHeaderSize,
        // Checked in handle(), to answer with the same JSON error as everything else.
        requireHostHeader: false,
        keepAliveTimeout: keepAliveMs,
        // Node checks those timeouts every 30 s by default: far too coarse for a 10 s limit.
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => this.handle(req, res),
    );
    // A client that half-closes after its last request (`printf … | nc`) still gets every answer:
    // by default Node ends the connection at the client's FIN, dropping the responses not yet written.
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.websockets = new WebSocketGateway(this, options.dispatcher, options.metrics, options.websocket, (req, res) => this.handle(req, res));
    this.server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => this.websockets.upgrade(req, socket, head));
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Connection) => {
      if (!socket.writable || err.code === "ECONNRESET") {
        socket.destroy();
        return;
      }
      // The parser stays failed: later data on this connection reports the same error again.
      if (socket[PARSE_FAILED]) return;
      socket[PARSE_FAILED] = true;
      let status = 400;
      let detail = `malformed HTTP request: ${err.message}`;
      if (err.code === "HPE_HEADER_OVERFLOW") [status, detail] = [431, "request headers are too large"];
      else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") [status, detail] = [408, "the request took too long to arrive"];
      // Requests pipelined before the bad one are answered first, in order (RFC 9112 §9.3.2).
      afterResponses(socket, () => sendRawError(socket, status, detail));
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
    this.websockets.goingAway();
    this.server.close();
    this.server.closeIdleConnections();
  }

  /** Closes whatever connections remain (end of shutdown). */
  closeAll(): void {
    this.server.closeAllConnections();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    (req.socket as Connection)[LAST_RESPONSE] = res;
    let url = req.url ?? "/";
    const method = req.method ?? "GET";
    const requestId = requestIdFor(req.headers[REQUEST_ID_HEADER]);
    if (url.charCodeAt(0) !== 0x2f /* "/" */) {
      // Absolute form (`GET http://host/path`, RFC 9112 §3.2.2) is routed by its path, like
      // origin form; anything else (`*`, a bare name) names no resource here.
      const origin = originForm(url);
      if (origin === null) {
        this.reject(res, method, 400, `the request target must be a path or an absolute URL, got ${JSON.stringify(url.slice(0, 200))}`, requestId);
        return;
      }
      url = origin;
    }
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      this.reject(res, method, 400, "the Host header is required in HTTP/1.1", requestId, true);
      return;
    }
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path.length > MAX_PATH_LENGTH) {
      this.reject(res, method, 414, `the request path is longer than ${MAX_PATH_LENGTH} characters`, requestId);
      return;
    }
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
    // A catch-all route (a mounted ASGI, WSGI or fetch app) does not hide the built-ins served after the app's routes.
    if (match !== null && match.route.path.endsWith("*")) {
      const builtIn = this.builtIns.afterApp(path);
      if (builtIn) {
        res.setHeader(REQUEST_ID_HEADER, requestId);
        cors?.setHeaders(res, req.headers.origin);
        BuiltIns.answer(builtIn, { req, res, method, path, url, draining: this.draining });
        return;
      }
    }
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
      if (!wellEncoded(path)) {
        this.reject(res, method, 400, `the request path has malformed percent-encoding: ${path.slice(0, 200)}`, requestId);
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
    if (websocketOnly(match.route)) return this.websockets.upgradeRequired(res, method, match.route.path, requestId);

    const params = paramPairs(match.params);
    const query = q < 0 ? "" : url.slice(q + 1);
    const submit = (body: Buffer): void => {
      const taskId = nextTaskId();
      // Headers and the client's address only for routes that read the request.
      const headers = match.headers ? requestHeaderPairs(req.rawHeaders) : NO_PAIRS;
      const [host, port] = match.headers ? clientAddress(req) : NO_CLIENT;
      const frame = encodeTaskAssignment(taskId, match.workerMethod, match.route.path, path, query, params, headers, requestId, host, port, body);
      const job = new HttpJob(taskId, requestId, frame, match.sync, method, match.route.path, path, req, res, this, match.streamBody);
      this.options.dispatcher.submit(job);
    };
    if (match.streamBody) {
      // Dispatched at the head: the body follows to the worker as it arrives, under its window,
      // so --max-body-size does not apply (nothing is buffered).
      submit(EMPTY);
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
      submit(chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  }

  /** A request refused before routing: counted as no route, answered with a JSON error. */
  private reject(res: ServerResponse, method: string, status: number, detail: string, requestId: string, close = false): void {
    this.options.metrics.requestDone(NO_ROUTE, method, status, 0);
    const headers: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
    if (close) headers.connection = "close";
    sendError(res, status, detail, headers);
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

/** The path and query of an absolute-form target (`http://host/p?q` → `/p?q`), or null for another form. */
function originForm(target: string): string | null {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (scheme === null) return null;
  const rest = target.slice(scheme[0].length);
  return rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

/** Whether every `%` in the path starts an escape that decodes (to UTF-8). */
function wellEncoded(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** Calls `then` once every response on the connection went out, unless the connection closes first. */
function afterResponses(socket: Connection, then: () => void): void {
  const last = socket[LAST_RESPONSE];
  if (last === undefined || last.writableFinished) {
    then();
    return;
  }
  const onClose = (): void => void last.off("finish", onFinish);
  const onFinish = (): void => {
    socket.off("close", onClose);
    if (socket.writable) then();
  };
  last.once("finish", onFinish);
  socket.once("close", onClose);
}

function paramPairs(params: Record<string, string | undefined>): Pair[] {
  let pairs: Pair[] | null = null;
  for (const name in params) {
    const value = params[name];
    if (value !== undefined) (pairs ??= []).push([name, value]);
  }
  return pairs ?? NO_PAIRS;
}
