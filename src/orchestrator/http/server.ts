/**
 * The HTTP front: route lookup (404/405), body reading (413), hand-off to the dispatcher, and
 * writing the worker's answer back. The response body bytes come from the worker and are passed
 * through untouched.
 */
import { createServer, Server, type IncomingMessage, type ServerResponse } from "node:http";
import { constants as http2Constants, createSecureServer, Http2ServerRequest, type Http2SecureServer, type Http2Session } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { SecureContextOptions } from "node:tls";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { nextTaskId } from "../dispatch/job.js";
import { encodeTaskAssignment } from "../../protocol/codec.js";
import type { Pair } from "../../protocol/messages.js";
import { CONNECT_REFUSED, expectationRefused, sendError, sendRawError, versionRefused } from "./errors.js";
import { logMs, writeAccessRecord, type PeerOnly } from "./access-log.js";
import type { Logger } from "../log.js";
import { NO_METHOD, NO_ROUTE, type Metrics } from "../metrics.js";
import type { ProbePaths } from "./probes.js";
import { BuiltIns, builtInsOf } from "./built-ins.js";
import type { RequestStats } from "../status/request-stats.js";
import type { StatusPage } from "../status/status-page.js";
import type { CompressionOptions } from "./compression.js";
import { Cors, type CorsOptions } from "./cors.js";
import { EdgeHttp2Response } from "./http2-response.js";
import { listenOn, type Bound, type ListenOptions, type ListenSpec } from "./listeners.js";
import type { Trust } from "./proxy-headers.js";
import { attachClientView, clientAddress, clientViewOf, isFormBody, requestHeaderPairs } from "./request-headers.js";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.js";
import { knownMethod, MAX_PATH_LENGTH, methodsOf, type Router } from "./router.js";
import { CLIENT_CLOSED, HttpJob, type AppMistake, type JobContext } from "./http-job.js";
import { hasBody, STREAMED_BODY_PAIR, streamsBody } from "./request-body.js";
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
  /** Client connections held open at once (--max-connections; 0 or absent: no limit). */
  readonly maxConnections?: number;
  readonly dispatcher: Dispatcher;
  readonly maxBodySize: number;
  readonly timeouts: ClientTimeouts;
  readonly probes: ProbePaths;
  readonly metrics: Metrics;
  /** Where the main port serves /metrics; null when another port (--metrics-port, --admin-port) serves it. */
  readonly metricsPath: string | null;
  /** One log line per request answered by a worker (or its failure), or null for none. */
  readonly accessLog: Logger | null;
  /** The operator's log: what the server had to correct in an app's answers. */
  readonly log: Logger;
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
  /** --ssl-*: serve HTTPS, HTTP/2 by ALPN with HTTP/1.1 for clients without it (null or absent: plain HTTP). */
  readonly tls?: TlsServerOptions | null;
  /** --forwarded-allow-ips: the proxies whose forwarding headers count (null or absent: none, the connection is the client). */
  readonly proxyTrust?: Trust | null;
  /** --ws-max-size, --ws-ping-interval, --ws-ping-timeout (absent: their defaults). */
  readonly websocket?: WebSocketSettings;
}

export interface TlsServerOptions extends SecureContextOptions {
  /** Ask clients for a certificate (--ssl-cert-reqs 1 or 2). */
  readonly requestCert?: boolean;
  /** Refuse a client without a valid certificate (--ssl-cert-reqs 2). */
  readonly rejectUnauthorized?: boolean;
}

/** One listening server; several (--bind, --uds, --fd) share one HttpServer's handler. */
type Listener = Server | Http2SecureServer<any, any, any, any>;

const EMPTY = Buffer.alloc(0);
/** Requests one HTTP/2 connection may have open at once. */
const MAX_HTTP2_STREAMS = 128;
const NO_PAIRS: Pair[] = [];
const NO_CLIENT: readonly [host: string, port: number] = ["", 0];
/** On a connection: the response to its latest request, which Node writes after every earlier one. */
const LAST_RESPONSE = Symbol("neutrino.lastResponse");
/** On a connection: its request stream could not be parsed, and the error answer is on its way. */
const PARSE_FAILED = Symbol("neutrino.parseFailed");
/**
 * On an HTTP/1 connection, while a request's body is being read: how that request fails when its
 * body does not arrive within --body-timeout (Node's request timeout: 408), cannot be parsed (a bad
 * chunk: 400) or is cut short by the client closing its side (400, `clientGone`). Node itself only
 * reports the error, to clientError, and the request would wait for a rest that never comes.
 */
const BODY_WATCH = Symbol("neutrino.bodyWatch");
type BodyFailure = (status: number, detail: string, clientGone: boolean) => void;
/** On a connection accepted past --max-connections: its requests get a 503, and it closes. */
const OVER_LIMIT = Symbol("neutrino.overLimit");
type Connection = Socket & {
  [OVER_LIMIT]?: true;
  [LAST_RESPONSE]?: ServerResponse;
  [PARSE_FAILED]?: true;
  [BODY_WATCH]?: { readonly req: IncomingMessage; readonly fail: BodyFailure };
};
/** The 408's detail when a body stops arriving. */
const BODY_LATE = "the request body did not arrive within --body-timeout";
/** The 400's detail when the client closes its side of the connection mid-body. */
const BODY_CUT = "the client closed the connection before sending the whole request body";
/** The 499's detail when the client resets its connection (or HTTP/2 stream) mid-body. */
const BODY_RESET = "the client went away before sending the whole request body";

export class HttpServer implements JobContext {
  /** Every listener (--bind, --uds, --fd, or --host/--port), in the order they were opened. */
  readonly listeners: Listener[] = [];
  /** Open HTTP/2 connections: a GOAWAY ends them when draining, as `connection: close` ends HTTP/1.1 ones. */
  private readonly sessions = new Set<Http2Session>();
  /** Set once shutdown begins: every response then closes its connection. */
  draining = false;
  /** Client connections open on every listener (counted only under --max-connections). */
  private connections = 0;
  /** Replaced as a whole when a reload brings new routes. */
  router: Router;
  readonly accessLog: Logger | null;
  /** Fed with every request a worker was asked to answer, when the status page is on. */
  readonly requestStats: RequestStats | null;
  readonly cors: Cors | null;
  readonly compression: CompressionOptions | null;
  readonly builtIns: BuiltIns;
  private readonly proxyTrust: Trust | null;
  readonly metrics: Metrics;
  /** Upgrade requests never reach handle(): Node emits `upgrade`, and the gateway takes them. */
  readonly websockets: WebSocketGateway;
  /** Route and kind of each app mistake logged (bounded: routes are templates, never raw paths). */
  private readonly mistakesLogged = new Set<string>();

  constructor(private readonly options: HttpServerOptions) {
    this.router = options.router;
    this.builtIns = new BuiltIns(builtInsOf(options, options.statusPageHere ?? true));
    this.accessLog = options.accessLog;
    this.requestStats = options.statusPage?.stats ?? null;
    this.cors = options.cors ? new Cors(options.cors) : null;
    this.compression = options.compression ?? null;
    this.proxyTrust = options.proxyTrust ?? null;
    this.metrics = options.metrics;
    this.websockets = new WebSocketGateway(this, options.dispatcher, options.metrics, options.websocket, (req, res) => this.handle(req, res));
  }

  appMistake(route: string, kind: AppMistake, message: string): void {
    const key = `${kind} ${route}`;
    if (this.mistakesLogged.has(key)) return;
    this.mistakesLogged.add(key);
    this.options.log.warn({ route }, `${route}: ${message} (said once per route)`);
  }

  /** A new listener, not yet listening, with every handler of this server on it. */
  private createListener(): Listener {
    const { options } = this;
    const { headersMs, requestMs, keepAliveMs } = options.timeouts;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      attachClientView(req, this.proxyTrust);
      this.handle(req, res);
    };
    let server: Listener;
    if (options.tls) {
      const secure = createSecureServer(
        {
          ...options.tls,
          // HTTP/2 where the client offers it (ALPN), HTTP/1.1 for the others.
          allowHTTP1: true,
          Http2ServerResponse: EdgeHttp2Response,
          // Streams per connection are bounded as nginx bounds them (Node's default is 2^32 - 1).
          settings: { maxHeaderListSize: options.maxHeaderSize ?? 16 * 1024, maxConcurrentStreams: MAX_HTTP2_STREAMS },
        },
        onRequest as never,
      );
      // The HTTP/1.1 side of this server reads the same settings http.createServer takes as options.
      Object.assign(secure, {
        headersTimeout: headersMs,
        requestTimeout: Math.max(requestMs, headersMs),
        keepAliveTimeout: keepAliveMs,
        maxHeaderSize: options.maxHeaderSize,
        connectionsCheckingInterval: 1_000,
      });
      secure.on("session", (session: Http2Session) => {
        this.sessions.add(session);
        session.once("close", () => this.sessions.delete(session));
        // An idle connection ends as an idle HTTP/1.1 keep-alive one does; close() lets open streams finish.
        session.setTimeout(keepAliveMs, () => session.close());
        if (this.draining) session.close();
      });
      server = secure;
    } else {
      server = createServer(
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
        onRequest,
      );
    }
    this.limitConnections(server);
    // A client that half-closes after its last request (`printf … | nc`) still gets every answer:
    // by default Node ends the connection at the client's FIN, dropping the responses not yet written.
    (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // Upgrade requests never reach handle(): Node emits `upgrade` (on the HTTP/1.1 side of a TLS
    // listener too), and the gateway takes them, seeing the client as handle() does.
    server.on("upgrade", (req: IncomingMessage, socket: Connection, head: Buffer) => {
      attachClientView(req, this.proxyTrust);
      if (socket[OVER_LIMIT]) return this.answerRaw(socket, req, { method: req.method ?? "GET", path: req.url ?? "" }, 503, this.overLimitDetail());
      this.websockets.upgrade(req, socket, head);
    });
    // An Expect other than 100-continue (RFC 9110 §10.1.1): unheard, Node answers a bare 417 of
    // its own, without a body saying why, a request id, a metric or an access-log line. The body
    // that may follow is not read: the connection closes.
    server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
      attachClientView(req, this.proxyTrust);
      (req.socket as Connection)[LAST_RESPONSE] = res;
      this.reject(req, res, 417, expectationRefused(req.headers.expect), requestIdFor(req.headers[REQUEST_ID_HEADER]), true);
    });
    // CONNECT, a proxy's method: unheard, Node would close the connection without a word.
    server.on("connect", (req: IncomingMessage, socket: Socket | ServerResponse) => {
      if ("writeHead" in socket) {
        // An HTTP/2 stream's (an answer object, not the connection): the routes refuse it as any method.
        this.handle(req, socket);
        return;
      }
      attachClientView(req, this.proxyTrust);
      this.answerRaw(socket, req, { method: "CONNECT", path: req.url ?? "" }, 501, CONNECT_REFUSED);
    });
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Connection) => {
      if (!socket.writable || err.code === "ECONNRESET") {
        socket.destroy();
        // A request whose body was still arriving is a client gone (499), logged as any other.
        const watch = socket[BODY_WATCH];
        socket[BODY_WATCH] = undefined;
        if (watch !== undefined && !watch.req.complete) watch.fail(CLIENT_CLOSED, BODY_RESET, true);
        return;
      }
      // The parser stays failed: later data on this connection reports the same error again.
      if (socket[PARSE_FAILED]) return;
      socket[PARSE_FAILED] = true;
      const late = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
      const last = socket[LAST_RESPONSE];
      // Only the latest request can be unfinished: the parser reads requests in order. Its body is
      // late, malformed, or cut short by the client.
      if (last !== undefined && !last.req.complete) {
        const watch = socket[BODY_WATCH];
        socket[BODY_WATCH] = undefined;
        if (watch !== undefined && watch.req === last.req) {
          const eof = err.code === "HPE_INVALID_EOF_STATE";
          const detail = late ? BODY_LATE : eof ? BODY_CUT : `malformed HTTP request body: ${err.message}`;
          watch.fail(late ? 408 : 400, detail, eof);
        }
        // Nothing more can be read here: the connection ends once its answers are out, at once if
        // that request was answered without its body (a 404, a probe…); a second answer would
        // read as the response to a request never sent.
        afterResponses(socket, () => socket.end());
        return;
      }
      let status = 400;
      let detail = `malformed HTTP request: ${err.message}`;
      if (err.code === "HPE_HEADER_OVERFLOW") [status, detail] = [431, "request headers are too large"];
      else if (late) [status, detail] = [408, "the request took too long to arrive"];
      // Requests pipelined before the bad one are answered first, in order (RFC 9112 §9.3.2).
      // Nothing of the request could be read, proxy headers included: the client is the peer.
      afterResponses(socket, () => this.answerRaw(socket, socket, null, status, detail));
    });
    return server;
  }

  /**
   * --max-connections: every client connection is counted (TCP, before any TLS handshake); one
   * accepted past the limit is marked, on the socket its requests arrive on (the TLS one under
   * TLS), and handle() answers them 503. Node's own `maxConnections` would drop such a
   * connection without a word.
   */
  private limitConnections(server: Listener): void {
    const max = this.options.maxConnections ?? 0;
    if (max <= 0) return;
    const tls = Boolean(this.options.tls);
    server.on("connection", (socket: Connection) => {
      this.connections++;
      socket.once("close", () => this.connections--);
      if (!tls && this.connections > max) socket[OVER_LIMIT] = true;
    });
    if (tls) {
      server.on("secureConnection", (socket: Connection) => {
        if (this.connections > max) socket[OVER_LIMIT] = true;
      });
    }
  }

  private overLimitDetail(): string {
    return `the server is at its limit of ${this.options.maxConnections} open connections: retry later`;
  }

  /**
   * `OPTIONS *` asks about the server itself (RFC 9110 §9.3.7), as HAProxy's `option httpchk
   * OPTIONS *` health check does: 200, no body, `Allow` naming every method some route takes.
   */
  private optionsAsterisk(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const methods = new Set<string>(["OPTIONS"]);
    for (const route of this.router.routes) for (const m of methodsOf(route)) methods.add(m);
    if (methods.has("GET")) methods.add("HEAD"); // the router answers HEAD on every GET route
    res.writeHead(200, { allow: [...methods].join(", "), "content-length": 0, [REQUEST_ID_HEADER]: requestId });
    res.end();
    this.answered(req, { requestId, method: "OPTIONS", path: "*", route: null, status: 200, bytes: 0 });
  }

  /** A request on a connection past --max-connections: 503, and the connection closes. */
  private overLimit(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    this.refuse(req, res, { status: 503, detail: this.overLimitDetail() }, requestId, { connection: "close", "retry-after": "1" });
    if (req instanceof Http2ServerRequest) req.stream.session?.close();
  }

  /**
   * Answers on the connection itself, then closes it (a request Node could not parse, or one no
   * handler takes): counted (as no route) and logged like every other answer. `head` is what was
   * read of the request (null: nothing), `from` what the log reads the client from.
   */
  private answerRaw(
    socket: Socket,
    from: IncomingMessage | PeerOnly,
    head: { method: string; path: string } | null,
    status: number,
    detail: string,
  ): void {
    const sent = sendRawError(socket, status, detail);
    const { method, path } = head ?? { method: "", path: "" };
    this.answered(from, { requestId: sent.requestId, method, path, route: null, status, bytes: sent.bytes }, head?.method ?? NO_METHOD);
  }

  /**
   * An answer the server wrote itself, no worker asked: counted in the metrics (as no route when
   * none matched; `metricMethod` when the log's method is not the label) and written to the
   * access log like any other. The status page's totals stay those of requests a worker answered.
   */
  private answered(
    from: IncomingMessage | PeerOnly,
    answer: { requestId: string; method: string; path: string; route: string | null; status: number; bytes: number; seconds?: number; extra?: Record<string, unknown> },
    metricMethod = answer.method,
  ): void {
    const seconds = answer.seconds ?? 0;
    this.metrics.requestDone(answer.route ?? NO_ROUTE, metricMethod, answer.status, seconds);
    if (this.accessLog) {
      const { requestId, method, path, route, status, bytes, extra } = answer;
      writeAccessRecord(this.accessLog, from, { requestId, method, path, route, status, bytes, durationMs: logMs(seconds * 1000), queueMs: 0, workerMs: 0, extra });
    }
  }

  /** Opens one more listener on `spec` (a TCP address, a Unix socket, an inherited descriptor). */
  async listenOn(spec: ListenSpec, options: Omit<ListenOptions, "secure">): Promise<Bound> {
    const server = this.createListener();
    const bound = await listenOn(server, spec, { ...options, secure: Boolean(this.options.tls) });
    this.listeners.push(server);
    return bound;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await this.listenOn({ kind: "tcp", host, port }, { backlog: 511 });
    return this.listeners.at(-1)!.address() as AddressInfo;
  }

  /** A new certificate for new connections (SIGHUP); the ones open keep theirs. */
  setSecureContext(tls: SecureContextOptions): void {
    for (const server of this.listeners) (server as Http2SecureServer).setSecureContext(tls);
  }

  /** Stops accepting connections; idle keep-alive connections close now, busy ones after their response. */
  drain(): void {
    this.draining = true;
    this.websockets.goingAway();
    for (const server of this.listeners) {
      server.close();
      // Node's HTTP/1.1 connection list, which Http2SecureServer keeps too for its HTTP/1.1 side
      // but has no public method for (Node 20).
      Server.prototype.closeIdleConnections.call(server);
    }
    for (const session of this.sessions) session.close();
  }

  /** Closes whatever connections remain (end of shutdown). */
  closeAll(): void {
    for (const server of this.listeners) Server.prototype.closeAllConnections.call(server);
    for (const session of this.sessions) session.destroy();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    (req.socket as Connection)[LAST_RESPONSE] = res;
    let url = req.url ?? "/";
    const method = req.method ?? "GET";
    const requestId = requestIdFor(req.headers[REQUEST_ID_HEADER]);
    if ((req.socket as Connection)[OVER_LIMIT]) return this.overLimit(req, res, requestId);
    if (req.httpVersionMajor !== 1 && !(req instanceof Http2ServerRequest)) {
      // A request line of another version on an HTTP/1 connection (Node's parser takes
      // `HTTP/2.0` and `HTTP/0.9`): nothing here speaks it, and everything downstream takes major
      // version 2 for a real HTTP/2 stream.
      this.reject(req, res, 505, versionRefused(req.httpVersion), requestId, true);
      return;
    }
    if (url.charCodeAt(0) !== 0x2f /* "/" */) {
      if (url === "*" && method === "OPTIONS") return this.optionsAsterisk(req, res, requestId);
      // Absolute form (`GET http://host/path`, RFC 9112 §3.2.2) is routed by its path, like
      // origin form; anything else (`*` but for OPTIONS, a bare name) names no resource here.
      const origin = originForm(url);
      if (origin === null) {
        this.reject(req, res, 400, `the request target must be a path or an absolute URL, got ${JSON.stringify(url.slice(0, 200))}`, requestId);
        return;
      }
      url = origin;
    }
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      this.reject(req, res, 400, "the Host header is required in HTTP/1.1", requestId, true);
      return;
    }
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path.length > MAX_PATH_LENGTH) {
      this.reject(req, res, 414, `the request path is longer than ${MAX_PATH_LENGTH} characters`, requestId);
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
        this.reject(req, res, 400, `the request path has malformed percent-encoding: ${path.slice(0, 200)}`, requestId);
        return;
      }
      if (!knownMethod(method)) {
        this.refuse(req, res, { status: 501, detail: `the method ${method.slice(0, 40)} is not implemented` }, requestId);
        return;
      }
      this.refuse(req, res, { status: 404, detail: `no route for ${method} ${path}` }, requestId);
      return;
    }
    if (match.kind === "method_not_allowed") {
      const detail = `${method} is not allowed on ${match.route.path} (allowed: ${match.allow})`;
      this.refuse(req, res, { status: 405, detail, route: match.route.path }, requestId, { allow: match.allow });
      return;
    }
    if (websocketOnly(match.route)) return this.websockets.upgradeRequired(res, method, match.route.path, requestId);

    const params = paramPairs(match.params);
    const query = q < 0 ? "" : url.slice(q + 1);
    /** `bodyLimit`: the body follows in BodyChunk frames, up to that many bytes (null: `body` is all of it). */
    const submit = (body: Buffer, bodyLimit: number | null = null): HttpJob => {
      const taskId = nextTaskId();
      // Headers and the client's address only for routes that read the request; headers for a
      // form body too (the worker binds its fields by its Content-Type).
      let headers =
        match.headers || isFormBody(req.headers["content-type"]) ? requestHeaderPairs(req.rawHeaders, clientViewOf(req)) : NO_PAIRS;
      if (bodyLimit !== null && match.streamLargeBody) headers = [...headers, STREAMED_BODY_PAIR];
      // An ASGI or WSGI app is told an HTTP/1.0 or HTTP/2 request's version; 1.1 goes unsaid.
      if (match.route.httpVersion === true && req.httpVersion !== "1.1" && headers !== NO_PAIRS) {
        headers = [[":version", req.httpVersionMajor === 2 ? "2" : req.httpVersion], ...headers];
      }
      const [host, port] = match.headers ? clientAddress(req) : NO_CLIENT;
      const frame = encodeTaskAssignment(taskId, match.workerMethod, match.route.path, path, query, params, headers, requestId, host, port, body);
      const job = new HttpJob(taskId, requestId, frame, match.sync, method, match.route.path, path, req, res, this, bodyLimit);
      this.options.dispatcher.submit(job);
      return job;
    };
    const withBody = hasBody(req);
    if (match.streamBody) {
      // Dispatched at the head: the body follows to the worker as it arrives, under its window,
      // so --max-body-size does not apply (nothing is buffered).
      const job = submit(EMPTY, Infinity);
      if (withBody) req.once("end", this.watchBody(req, (status, detail, gone) => job.bodyFailed(status, detail, gone)));
      return;
    }

    const { maxBodySize } = this.options;
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBodySize) {
      this.tooLarge(req, res, match.route.path, requestId);
      return;
    }
    if (match.streamLargeBody && streamsBody(req)) {
      // Dispatched at the head, as above, but --max-body-size still holds, counted as bytes pass.
      const job = submit(EMPTY, maxBodySize);
      req.once("end", this.watchBody(req, (status, detail, gone) => job.bodyFailed(status, detail, gone)));
      return;
    }
    if (!withBody) {
      // Nothing to wait for: listening for the empty body's `end` would cost the request stream's
      // flow of ticks (resume, read, end, destroy) and a turn of latency. Node's server drains
      // the request once the response is done, as for any request no one read.
      submit(EMPTY);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const arrivedAt = performance.now();
    const disarm = this.watchBody(req, (status, detail) => {
      req.removeAllListeners("data").removeAllListeners("end");
      const refusal = { status, detail, route: match.route.path, arrivedAt };
      if (status === CLIENT_CLOSED) this.clientLeft(req, refusal, requestId);
      else this.refuse(req, res, refusal, requestId, { connection: "close" });
    });
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodySize) {
        req.removeAllListeners("data").removeAllListeners("end");
        disarm();
        this.tooLarge(req, res, match.route.path, requestId, arrivedAt);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      disarm();
      submit(chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  }

  /**
   * Calls `fail` if the request's body has not arrived within --body-timeout (408), or, over
   * HTTP/1, cannot be parsed or is cut short by the client (400); returns what stops watching once
   * it has arrived. HTTP/1: Node's request timeout (counted from the request's first byte) and its
   * parser report all three, to clientError. HTTP/2 has no such timeout, so the stream gets one:
   * the body must keep moving.
   */
  private watchBody(req: IncomingMessage, fail: BodyFailure): () => void {
    if (req.httpVersionMajor >= 2) {
      const stream = (req as unknown as Http2ServerRequest).stream;
      // Reset mid-body (RST_STREAM): Node's compatibility layer still ends the request's body,
      // so without this the truncated body would reach the handler as if it were whole.
      const reset = (): void => fail(CLIENT_CLOSED, BODY_RESET, true);
      stream.once("aborted", reset);
      stream.setTimeout(this.options.timeouts.requestMs, () => {
        fail(408, BODY_LATE, false);
        // The rest of the body is not wanted: once the answer is out, RST_STREAM(NO_ERROR) ends
        // the client's half too (RFC 9113 §8.1), as closing the connection does over HTTP/1.
        const close = (): void => stream.close(http2Constants.NGHTTP2_NO_ERROR);
        if (stream.writableFinished) close();
        else stream.once("finish", close);
      });
      return () => {
        stream.setTimeout(0);
        stream.off("aborted", reset);
      };
    }
    const connection = req.socket as Connection;
    connection[BODY_WATCH] = { req, fail };
    return () => (connection[BODY_WATCH] = undefined);
  }

  /** A request the server answers itself with an error (400, 404, 405, 408, 413, 414…), counted and logged. */
  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    refusal: { status: number; detail: string; route?: string; arrivedAt?: number },
    requestId: string,
    headers: Record<string, string> = {},
  ): void {
    const bytes = sendError(res, refusal.status, refusal.detail, { ...headers, [REQUEST_ID_HEADER]: requestId });
    this.recordRefusal(req, refusal, requestId, bytes);
  }

  /** A request whose client left before the server could answer it: counted and logged (499), nothing written. */
  private clientLeft(req: IncomingMessage, refusal: { detail: string; route: string; arrivedAt?: number }, requestId: string): void {
    this.recordRefusal(req, { ...refusal, status: CLIENT_CLOSED }, requestId, 0, { disconnected: true, detail: refusal.detail });
  }

  private recordRefusal(
    req: IncomingMessage,
    refusal: { status: number; route?: string; arrivedAt?: number },
    requestId: string,
    bytes: number,
    extra?: Record<string, unknown>,
  ): void {
    const seconds = refusal.arrivedAt === undefined ? 0 : (performance.now() - refusal.arrivedAt) / 1000;
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    this.answered(req, { requestId, method: req.method ?? "", path, route: refusal.route ?? null, status: refusal.status, bytes, seconds, extra });
  }

  private reject(req: IncomingMessage, res: ServerResponse, status: number, detail: string, requestId: string, close = false): void {
    this.refuse(req, res, { status, detail }, requestId, close ? { connection: "close" } : {});
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse, route: string, requestId: string, arrivedAt?: number): void {
    this.cors?.setHeaders(res, req.headers.origin);
    // The rest of the body is not read: close the connection rather than parse it as a next request.
    const detail = `request body is larger than the limit of ${this.options.maxBodySize} bytes`;
    this.refuse(req, res, { status: 413, detail, route, arrivedAt }, requestId, { connection: "close" });
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
