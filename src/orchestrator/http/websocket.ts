/**
 * WebSockets (docs/protocol.md, Streams → WebSockets). Node hands upgrade requests to the
 * `upgrade` event, never to HttpServer.handle: the gateway routes them, checks the handshake,
 * and sends a WebSocketJob through the dispatcher like any request. The worker's WebSocketAccept
 * completes the handshake (with `ws`, in noServer mode); a TaskResult or ResponseHead instead is
 * written to the client as a plain HTTP answer. After the accept, messages are relayed both ways
 * under the byte windows of Flow control, pings and pongs stay here, and either side's close
 * reaches the other. An open WebSocket is a task in flight: it holds its worker's slot.
 */
import { ServerResponse, STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { Counter } from "prom-client";
import { createRequire } from "node:module";
import type { WebSocket, WebSocketServer } from "ws";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { nextTaskId, type Job } from "../dispatch/job.js";
import type { Logger } from "../log.js";
import { NO_ROUTE, type Metrics } from "../metrics.js";
import type { RequestStats } from "../status/request-stats.js";
import type { Worker } from "../workers/worker.js";
import { refusedHead, type AppMistake } from "./http-job.js";
import {
  encodeTaskAssignment,
  encodeWebSocketClose,
  encodeWebSocketMessageHead,
  encodeWindowUpdate,
} from "../../protocol/codec.js";
import { BODY_INCOMPLETE, INITIAL_WINDOW, type Pair, type RouteInfo, type StreamFrame, type TaskResult } from "../../protocol/messages.js";
import { errorBody, versionRefused } from "./errors.js";
import { clientAddress, clientViewOf, requestHeaderPairs } from "./request-headers.js";
import { REQUEST_ID_HEADER, requestIdFor } from "./request-id.js";
import { MAX_PATH_LENGTH, type Router } from "./router.js";

export interface WebSocketSettings {
  /** The largest message a client may send, in bytes (ws's maxPayload): larger ones close with 1009. */
  readonly maxPayload: number;
  /** Time between pings to a quiet client (0: no pings). */
  readonly pingIntervalMs: number;
  /** Time a client gets to answer a ping before it is dropped (0: no limit). */
  readonly pingTimeoutMs: number;
  /** Negotiate permessage-deflate with the clients that offer it (--ws-per-message-deflate). */
  readonly perMessageDeflate: boolean;
}

export const DEFAULT_WEBSOCKET_SETTINGS: WebSocketSettings = {
  maxPayload: 16 * 1024 * 1024,
  pingIntervalMs: 20_000,
  pingTimeoutMs: 20_000,
  perMessageDeflate: false,
};

/**
 * permessage-deflate with small windows, as the websockets library (uvicorn's) chooses: 4 KiB
 * windows and memLevel 5. Measured (300 connections, one 5 kB message each), a connection that
 * compresses costs the orchestrator about 130 KiB more than one that does not, against about
 * 240 KiB with zlib's defaults (32 KiB windows, memLevel 8). Messages under 1 KiB go as they
 * are; ws bounds what a message inflates to by maxPayload (no zip bombs).
 */
const DEFLATE_OPTIONS = {
  threshold: 1024,
  serverMaxWindowBits: 12,
  clientMaxWindowBits: 12,
  zlibDeflateOptions: { memLevel: 5 },
};

/** What the gateway reads from the HTTP server it serves (HttpServer has all of it). */
export interface GatewayHost {
  /** Read on every upgrade: a reload replaces it. */
  readonly router: Router;
  readonly draining: boolean;
  readonly accessLog: Logger | null;
  readonly requestStats: RequestStats | null;
  /** Logs an app's mistake once per route and kind (JobContext.appMistake). */
  appMistake(route: string, kind: AppMistake, message: string): void;
}

/** Time the worker gets to answer a close with its own before it is sent CancelTask. */
const CLOSE_GRACE_MS = 5_000;
/** The reason sent with 1001 when the server drains. */
const GOING_AWAY = "the server is shutting down";
const EMPTY = Buffer.alloc(0);
/** RFC 6455 §4.1: a 16-byte nonce, base64. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** A subprotocol name is an RFC 7230 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Response headers that belong to the handshake or to framing: never a worker's to set. */
const RESERVED = new Set([
  "upgrade",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  REQUEST_ID_HEADER,
]);

/** A close code `ws` may send in a close frame (RFC 6455 §7.4): the others are only reported. */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** The close code a `ws` receiver error stands for (what ws sent the client), reported to the worker. */
function errorCloseCode(err: Error & { code?: string }): number {
  if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") return 1009;
  if (err.code === "WS_ERR_INVALID_UTF8") return 1007;
  return err.code?.startsWith("WS_ERR_") ? 1002 : 1006;
}

/** Headers a worker may add to the 101 (or a refusal), as `name: value` lines; throws on an invalid one. */
function headerLines(headers: readonly Pair[]): string[] {
  const lines: string[] = [];
  for (const [name, value] of headers) {
    if (RESERVED.has(name.toLowerCase())) continue;
    validateHeaderName(name);
    validateHeaderValue(name, value);
    lines.push(`${name}: ${value}`);
  }
  return lines;
}

/** Writes a whole HTTP response on a socket that left Node's HTTP parser; the connection closes after it. */
function writeResponse(socket: Socket, status: number, lines: string[], body: Buffer | null): void {
  if (socket.destroyed) return;
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}`, ...lines, `date: ${new Date().toUTCString()}`, "connection: close"];
  if (body === null) {
    // A streamed refusal: its end is the connection's end.
    socket.write(`${head.join("\r\n")}\r\n\r\n`);
    return;
  }
  head.push(`content-length: ${body.length}`);
  socket.write(`${head.join("\r\n")}\r\n\r\n`);
  socket.end(body);
}

/** A JSON error as every other error answer, on the raw socket. */
function writeError(socket: Socket, status: number, detail: string, headers: Record<string, string>): void {
  const lines = ["content-type: application/json"];
  for (const name in headers) lines.push(`${name}: ${headers[name]}`);
  writeResponse(socket, status, lines, Buffer.from(errorBody(status, detail)));
}

/** The counters of one Metrics registry (a test may build several servers on one). */
interface WebSocketMetrics {
  readonly messages: Counter<"direction">;
}
const registered = new WeakMap<Metrics, WebSocketMetrics>();

function metricsOf(metrics: Metrics): WebSocketMetrics {
  let m = registered.get(metrics);
  if (m === undefined) {
    m = {
      messages: new Counter({
        name: "neutrino_websocket_messages_total",
        help: "WebSocket messages relayed, by direction (in: from clients, out: to clients)",
        labelNames: ["direction"] as const,
        registers: [metrics.registry],
      }),
    };
    registered.set(metrics, m);
  }
  return m;
}

/** WebSocket.OPEN: a socket that may send. */
const OPEN = 1;

export class WebSocketGateway {
  /**
   * Handshakes only: connections are adopted one by one (noServer), and tracked here, not by ws.
   * Made (and ws loaded) at the first upgrade: an app without WebSocket routes never needs it.
   */
  private wssMade: WebSocketServer | null = null;
  /** Jobs whose WebSocket is open (accepted, not closed yet). */
  private readonly live = new Set<WebSocketJob>();
  /** What the worker chose, for the handshake in progress (ws asks through its hooks). */
  private readonly handshakes = new WeakMap<IncomingMessage, { protocol: string; lines: string[] }>();
  readonly messages: WebSocketMetrics["messages"];

  constructor(
    private readonly host: GatewayHost,
    private readonly dispatcher: Dispatcher,
    readonly metrics: Metrics,
    readonly settings: WebSocketSettings = DEFAULT_WEBSOCKET_SETTINGS,
    /** Serves a request as if it had asked for no upgrade (HttpServer.handle). */
    private readonly plain: (req: IncomingMessage, res: ServerResponse) => void = () => {},
  ) {
    this.messages = metricsOf(metrics).messages;
  }

  private get wss(): WebSocketServer {
    if (this.wssMade) return this.wssMade;
    const { WebSocketServer } = createRequire(import.meta.url)("ws") as typeof import("ws");
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: this.settings.maxPayload,
      perMessageDeflate: this.settings.perMessageDeflate ? DEFLATE_OPTIONS : false,
      handleProtocols: (_offered, req) => this.handshakes.get(req)?.protocol || false,
    });
    wss.on("headers", (lines: string[], req: IncomingMessage) => {
      const chosen = this.handshakes.get(req);
      if (chosen) lines.push(...chosen.lines);
    });
    // Checked before the worker was asked; this only answers what slipped through, as JSON.
    wss.on("wsClientError", (err: Error, socket: Socket) => writeError(socket, 400, err.message, {}));
    return (this.wssMade = wss);
  }

  /** WebSockets open now. */
  get open(): number {
    return this.live.size;
  }

  get draining(): boolean {
    return this.host.draining;
  }

  get accessLog(): Logger | null {
    return this.host.accessLog;
  }

  get requestStats(): RequestStats | null {
    return this.host.requestStats;
  }

  appMistake(route: string, kind: AppMistake, message: string): void {
    this.host.appMistake(route, kind, message);
  }

  /** An upgrade request, from the HTTP server's `upgrade` event. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on("error", () => {}); // 'close' follows, and that is what matters
    const requestId = requestIdFor(req.headers[REQUEST_ID_HEADER]);
    const method = req.method ?? "GET";
    const refuse = (status: number, detail: string, headers: Record<string, string> = {}): void => {
      this.metrics.requestDone(NO_ROUTE, method, status, 0);
      writeError(socket, status, detail, { ...headers, [REQUEST_ID_HEADER]: requestId });
    };
    // RFC 6455 §4.1: the handshake is an HTTP/1.1 request (HTTP/1.0 has no Upgrade).
    if (req.httpVersionMajor !== 1) return refuse(505, versionRefused(req.httpVersion));
    if (req.httpVersionMinor < 1) return refuse(400, "a WebSocket handshake needs HTTP/1.1, not HTTP/1.0");
    const url = req.url ?? "/";
    if (url.charCodeAt(0) !== 0x2f /* "/" */) return refuse(400, "a WebSocket request target must be a path");
    if (req.headers.host === undefined) return refuse(400, "the Host header is required in HTTP/1.1");
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path.length > MAX_PATH_LENGTH) return refuse(414, `the request path is longer than ${MAX_PATH_LENGTH} characters`);
    if (req.headers.upgrade?.toLowerCase() !== "websocket") return this.ignoreUpgrade(req, socket, refuse);
    if (this.host.draining) return refuse(503, GOING_AWAY, { "retry-after": "1" });
    const match = this.host.router.find(method, url);
    if (match === null) return refuse(404, `no route for ${method} ${path}`);
    if (match.kind === "method_not_allowed") {
      this.metrics.requestDone(match.route.path, method, 405, 0);
      writeError(socket, 405, `${method} is not allowed on ${match.route.path} (allowed: ${match.allow})`, {
        allow: match.allow,
        [REQUEST_ID_HEADER]: requestId,
      });
      return;
    }
    const route = match.route.path;
    const routeRefuse = (status: number, detail: string, headers: Record<string, string> = {}): void => {
      this.metrics.requestDone(route, method, status, 0);
      writeError(socket, status, detail, { ...headers, [REQUEST_ID_HEADER]: requestId });
    };
    if (match.route.websocket !== true || method !== "GET") return routeRefuse(400, `${route} does not take WebSocket connections`);
    const version = req.headers["sec-websocket-version"];
    if (version !== "13" && version !== "8") {
      const detail = version === undefined ? "the Sec-WebSocket-Version header is missing (13 is spoken)" : "unsupported Sec-WebSocket-Version (13 is spoken)";
      return routeRefuse(426, detail, { "sec-websocket-version": "13" });
    }
    const key = req.headers["sec-websocket-key"];
    if (key === undefined || !KEY.test(key)) return routeRefuse(400, "missing or invalid Sec-WebSocket-Key header");
    const offered = offeredProtocols(req.headers["sec-websocket-protocol"]);
    if (offered === null) return routeRefuse(400, "invalid Sec-WebSocket-Protocol header");

    const taskId = nextTaskId();
    const params: Pair[] = [];
    for (const name in match.params) {
      const value = match.params[name];
      if (value !== undefined) params.push([name, value]);
    }
    // The handler always gets the headers (the subprotocols offered are among them) and the client's
    // address, seen through a trusted proxy as an HTTP request's are: the host it asked for, and the
    // scheme in x-forwarded-proto (an ASGI app's scope says `wss` from it).
    const [clientHost, clientPort] = clientAddress(req);
    const frame = encodeTaskAssignment(
      taskId,
      "GET",
      route,
      path,
      q < 0 ? "" : url.slice(q + 1),
      params,
      requestHeaderPairs(req.rawHeaders, clientViewOf(req)),
      requestId,
      clientHost,
      clientPort,
      EMPTY,
    );
    this.dispatcher.submit(new WebSocketJob(taskId, requestId, frame, match.sync, route, path, offered, req, socket, head, this));
  }

  /**
   * Another protocol (`curl --http2` asks for h2c): a server may ignore an upgrade it does not
   * speak (RFC 9110 §7.8), so the request is served as plain HTTP/1.1 on a connection that then
   * closes. Node has stopped parsing at the head, so only a request without a body can be served.
   */
  private ignoreUpgrade(req: IncomingMessage, socket: Socket, refuse: (status: number, detail: string) => void): void {
    const length = req.headers["content-length"];
    if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")) {
      refuse(400, `Upgrade: ${String(req.headers.upgrade).slice(0, 50)} is not supported with a request body: send the request without the Upgrade header`);
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once("finish", () => {
      res.detachSocket(socket);
      socket.end();
    });
    req.push(null); // it has no body
    this.plain(req, res);
  }

  /** A plain request (no upgrade) on a WebSocket route. */
  upgradeRequired(res: ServerResponse, method: string, route: string, requestId: string): void {
    this.metrics.requestDone(route, method, 426, 0);
    const body = errorBody(426, `${route} is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)`);
    res.writeHead(426, STATUS_CODES[426], {
      upgrade: "websocket",
      // Upgrade is a connection option (RFC 9110 §7.8); a closing connection must still say so.
      connection: res.shouldKeepAlive && !this.draining ? "Upgrade" : "Upgrade, close",
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      [REQUEST_ID_HEADER]: requestId,
    });
    res.end(body);
  }

  /** The drain begins: every open WebSocket closes with 1001 (going away), so none holds shutdown up. */
  goingAway(): void {
    for (const job of [...this.live]) job.close(1001, GOING_AWAY);
  }

  /**
   * Completes the handshake the worker accepted. Calls `opened` with the WebSocket, or returns
   * false when the socket could not take it (the client left meanwhile).
   */
  handshake(req: IncomingMessage, socket: Socket, head: Buffer, protocol: string, lines: string[], opened: (ws: WebSocket) => void): boolean {
    this.handshakes.set(req, { protocol, lines });
    let done = false;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      done = true;
      opened(ws);
    });
    this.handshakes.delete(req);
    return done;
  }

  /** Bookkeeping of open connections. */
  opened(job: WebSocketJob): void {
    this.live.add(job);
  }

  closed(job: WebSocketJob): void {
    this.live.delete(job);
  }
}

/**
 * A route that only takes WebSockets (an SDK's `websocket` route: methods exactly GET): a plain
 * request to it is answered 426. A WebSocket route that lists other methods too (an ASGI app's
 * routes) serves plain requests as usual.
 */
export function websocketOnly(route: RouteInfo): boolean {
  return route.websocket === true && route.methods.every((m) => m.toUpperCase() === "GET");
}

/** The subprotocols a client offers (`Sec-WebSocket-Protocol`), or null when the header is malformed. */
function offeredProtocols(header: string | undefined): Set<string> | null {
  const offered = new Set<string>();
  if (header === undefined) return offered;
  for (const part of header.split(",")) {
    const name = part.trim();
    if (!TOKEN.test(name) || offered.has(name)) return null;
    offered.add(name);
  }
  return offered;
}

/**
 * One WebSocket connection on its way to a worker, then relayed to it: the Job the dispatcher
 * and the worker see.
 *
 *   waiting ──WebSocketAccept──▶ open ──either side closes──▶ closed
 *   waiting ──TaskResult / ResponseHead / fail──▶ refused (a plain HTTP answer, then the socket closes)
 */
class WebSocketJob implements Job {
  readonly submittedAt = performance.now();
  assignedAt = 0;
  slow = false;
  readonly method = "GET";
  /**
   * From the accept on: the connection's life is no service time, and nothing is prefetched
   * behind it. Before, --timeout bounds the wait for the accept like any response head.
   */
  streaming = false;
  /** WebSockets are exempt from --timeout once accepted (they live as long as both ends do). */
  readonly progressAt = Infinity;
  private state: "waiting" | "refused" | "open" | "closed" = "waiting";
  /** The worker's answer to the handshake: its WebSocketAccept, or a ResponseHead (a TaskResult ends the task). */
  private answer: "none" | "accept" | "head" = "none";
  private ws: WebSocket | null = null;
  private worker: Worker | null = null;
  /** The worker has ended the task (its WebSocketClose, or it died): nothing more goes to it. */
  private taskEnded = false;
  /** The worker was sent our WebSocketClose: its answer ends the task. */
  private closeSent = false;
  private closeTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  /** Bytes of client messages the worker still takes (Flow control); below zero by at most one message. */
  private window = INITIAL_WINDOW;
  /** Client messages that arrived after the window ran out (what ws had parsed before it paused). */
  private held: { binary: boolean; data: Buffer }[] = [];
  /** The close code ws sent the client itself (1009 for an oversize message…), reported to the worker. */
  private failureCode = 0;
  private closeCode = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private acceptedAt = 0;
  /** Counts it in `neutrino_streams_open{kind="websocket"}` while open. */
  private uncount: (() => void) | null = null;

  constructor(
    readonly taskId: number,
    readonly requestId: string,
    readonly frame: Buffer,
    readonly sync: boolean,
    readonly route: string,
    private readonly path: string,
    private readonly offered: Set<string>,
    private readonly req: IncomingMessage,
    private readonly socket: Socket,
    private readonly head: Buffer,
    private readonly gateway: WebSocketGateway,
  ) {}

  /** Nobody waits any more: the client left before its WebSocket was accepted. */
  get abandoned(): boolean {
    return this.state === "waiting" && this.socket.destroyed;
  }

  /** The handshake is settled (accepted or refused): no HTTP answer, and no --timeout, any more. */
  get answered(): boolean {
    return this.state !== "waiting";
  }

  complete(result: TaskResult): void {
    this.taskEnded = true;
    if (this.state === "open") {
      // A buffered result after the accept ends the task: the handler failed.
      this.close(1011, "");
      return;
    }
    if (this.state !== "waiting") return;
    if (result.status < 200) {
      this.fail(502, `the handler answered with status ${result.status}, which is not a final response`);
      return;
    }
    let lines: string[];
    try {
      lines = headerLines(result.headers);
    } catch (err) {
      this.fail(502, refusedHead(this.gateway, this.route, err as Error));
      return;
    }
    if (!result.headers.some(([name]) => name.toLowerCase() === "content-type")) lines.push("content-type: application/json");
    this.refuse(result.status);
    writeResponse(this.socket, result.status, [...lines, `${REQUEST_ID_HEADER}: ${this.requestId}`], result.body);
  }

  fail(status: number, detail: string, headers?: Record<string, string>): void {
    if (this.state === "open") {
      // After the accept only a close can say it: the worker died (1011), or the server is stopping (1001).
      this.taskEnded = true;
      this.close(status === 503 ? 1001 : 1011, status === 503 ? GOING_AWAY : "");
      return;
    }
    if (this.state !== "waiting") return;
    this.refuse(status);
    writeError(this.socket, status, detail, { ...headers, [REQUEST_ID_HEADER]: this.requestId });
  }

  assigned(worker: Worker): void {
    this.worker = worker;
  }

  onStreamFrame(m: StreamFrame, worker: Worker): string | void {
    this.worker = worker;
    switch (m.type) {
      case "WebSocketAccept":
        if (this.answer !== "none") return "a second answer to a WebSocket handshake";
        this.answer = "accept";
        if (this.state === "waiting") this.accept(m.subprotocol, m.headers);
        else this.tellWorkerClosed(1006, ""); // answered meanwhile (a timeout): the worker must let go
        return;
      case "WebSocketMessage":
        if (this.answer !== "accept") return "a WebSocketMessage before the WebSocketAccept";
        if (this.state === "open") this.toClient(m.binary, m.data);
        return;
      case "WindowUpdate":
        this.window += m.increment;
        if (this.state === "open") this.flushHeld();
        return;
      case "WebSocketClose":
        this.taskEnded = true;
        this.clearCloseTimer();
        if (this.state === "open") this.close(m.code, m.reason);
        else if (this.state === "waiting") {
          // Closed before accepting: the handshake is refused, as ASGI servers do.
          this.refuse(403);
          writeError(this.socket, 403, "the handler closed the WebSocket before accepting it", { [REQUEST_ID_HEADER]: this.requestId });
        }
        return;
      case "ResponseHead":
        // The handler refuses the handshake with a streamed HTTP response; its end is the connection's end.
        if (this.answer !== "none") return "a second answer to a WebSocket handshake";
        this.answer = "head";
        this.streaming = true;
        if (this.state !== "waiting") return worker.cancel(this.taskId);
        try {
          const lines = headerLines(m.headers);
          this.refuse(m.status);
          writeResponse(this.socket, m.status, [...lines, `${REQUEST_ID_HEADER}: ${this.requestId}`], null);
        } catch (err) {
          this.fail(502, refusedHead(this.gateway, this.route, err as Error));
          worker.cancel(this.taskId);
        }
        return;
      case "BodyChunk":
        if (this.answer !== "head") return "a BodyChunk without a ResponseHead";
        if (!this.socket.destroyed && this.socket.writable) {
          const length = m.data.length;
          this.socket.write(m.data, (err) => {
            if (!err && !this.taskEnded) worker.send(encodeWindowUpdate(this.taskId, length));
          });
        }
        return;
      case "BodyEnd":
        this.taskEnded = true;
        if (this.answer !== "head") return "a BodyEnd without a ResponseHead";
        if (m.flags & BODY_INCOMPLETE) this.socket.destroy();
        else this.socket.end();
        return;
    }
  }

  /**
   * Closes the WebSocket from this side (the worker closed, or the server drains) with `code`;
   * the worker hears of it unless the close is its own.
   */
  close(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== OPEN) return;
    this.closeCode = code;
    // The client's close frame must be read even if the worker's window is spent (what comes before it is dropped).
    this.held = [];
    ws.resume();
    try {
      ws.close(sendable(code) ? code : 1011, reason);
    } catch {
      ws.close(sendable(code) ? code : 1011); // a reason over 123 bytes
    }
    this.tellWorkerClosed(code, reason);
  }

  /** The handshake is refused with an HTTP answer (written by the caller): counted like a request. */
  private refuse(status: number): void {
    this.state = "refused";
    this.record(status, performance.now());
  }

  private accept(subprotocol: string, headers: Pair[]): void {
    if (this.socket.destroyed) {
      this.state = "closed";
      this.tellWorkerClosed(1006, "");
      return;
    }
    if (this.gateway.draining) {
      this.fail(503, GOING_AWAY, { "retry-after": "1" });
      this.tellWorkerClosed(1001, GOING_AWAY);
      return;
    }
    if (subprotocol !== "" && !this.offered.has(subprotocol)) {
      this.fail(502, `the handler chose the subprotocol ${JSON.stringify(subprotocol)}, which the client did not offer`);
      this.tellWorkerClosed(1006, "");
      return;
    }
    let lines: string[];
    try {
      lines = headerLines(headers);
    } catch (err) {
      this.fail(502, refusedHead(this.gateway, this.route, err as Error));
      this.tellWorkerClosed(1006, "");
      return;
    }
    lines.push(`${REQUEST_ID_HEADER}: ${this.requestId}`);
    const ok = this.gateway.handshake(this.req, this.socket, this.head, subprotocol, lines, (ws) => this.opened(ws));
    if (!ok) {
      // ws found the socket half-closed and dropped it.
      this.state = "closed";
      this.tellWorkerClosed(1006, "");
    }
  }

  private opened(ws: WebSocket): void {
    this.ws = ws;
    this.state = "open";
    this.streaming = true;
    this.acceptedAt = performance.now();
    this.uncount = this.gateway.metrics.streams.open("websocket");
    this.record(101, this.acceptedAt);
    this.gateway.opened(this);
    ws.on("message", (data: Buffer, binary: boolean) => this.fromClient(binary, data));
    ws.on("pong", () => this.keepAlive());
    ws.on("error", (err: Error & { code?: string }) => (this.failureCode = errorCloseCode(err)));
    ws.on("close", (code: number, reason: Buffer) => this.onClose(code, reason));
    this.keepAlive();
  }

  private fromClient(binary: boolean, data: Buffer): void {
    if (this.taskEnded || this.closeSent) return;
    this.messagesIn++;
    this.gateway.messages.inc({ direction: "in" });
    if (this.window > 0 && this.held.length === 0) {
      this.forward(binary, data);
      return;
    }
    this.held.push({ binary, data });
    this.ws!.pause();
  }

  private forward(binary: boolean, data: Buffer): void {
    this.window -= data.length;
    this.worker!.send([encodeWebSocketMessageHead(this.taskId, binary, data.length), data]);
    if (this.window <= 0) this.ws!.pause();
  }

  private flushHeld(): void {
    while (this.window > 0 && this.held.length > 0) {
      const { binary, data } = this.held.shift()!;
      this.forward(binary, data);
    }
    if (this.window > 0 && this.ws!.isPaused) this.ws!.resume();
  }

  private toClient(binary: boolean, data: Buffer): void {
    const ws = this.ws!;
    if (ws.readyState !== OPEN) return;
    this.messagesOut++;
    this.gateway.messages.inc({ direction: "out" });
    const length = data.length;
    // The window goes back once the message is written to the client's socket: a slow client slows the handler.
    ws.send(data, { binary }, (err) => {
      if (!err && !this.taskEnded) this.worker?.send(encodeWindowUpdate(this.taskId, length));
    });
  }

  /** Pings a quiet client every interval; one that does not answer in time is dropped (1006). */
  private keepAlive(): void {
    const { pingIntervalMs, pingTimeoutMs } = this.gateway.settings;
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = null;
    if (pingIntervalMs <= 0) return;
    this.pingTimer = setTimeout(() => {
      const ws = this.ws!;
      if (ws.readyState !== OPEN) return;
      ws.ping();
      this.pingTimer = pingTimeoutMs > 0 ? setTimeout(() => ws.terminate(), pingTimeoutMs) : null;
    }, pingIntervalMs);
  }

  /** The connection is closed (by either side, or dropped). */
  private onClose(code: number, reason: Buffer): void {
    this.state = "closed";
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.held = [];
    this.gateway.closed(this);
    this.uncount?.();
    // The client's code; the one ws sent itself when it closed on a bad message (1009…).
    this.tellWorkerClosed(this.failureCode || code, this.failureCode ? "" : reason.toString());
    if (this.closeCode === 0) this.closeCode = this.failureCode || code;
    this.logClosed();
  }

  /** Our WebSocketClose to the worker (once); it must answer with its own, else it is sent CancelTask. */
  private tellWorkerClosed(code: number, reason: string): void {
    if (this.taskEnded || this.closeSent || this.worker === null) return;
    this.closeSent = true;
    const worker = this.worker;
    worker.send(encodeWebSocketClose(this.taskId, code, truncate(reason)));
    this.closeTimer = setTimeout(() => {
      this.closeTimer = null;
      if (!this.taskEnded) worker.cancel(this.taskId);
    }, CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }

  private clearCloseTimer(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
  }

  /** The handshake's outcome, in the metrics and the status page's request stats (the connection's life is not a latency). */
  private record(status: number, now: number): void {
    const seconds = (now - this.submittedAt) / 1000;
    this.gateway.metrics.requestDone(this.route, this.method, status, seconds);
    this.gateway.requestStats?.record(status, seconds);
    if (status !== 101) this.log(status, now, {});
  }

  private logClosed(): void {
    this.log(101, performance.now(), { closeCode: this.closeCode, messagesIn: this.messagesIn, messagesOut: this.messagesOut });
  }

  private log(status: number, now: number, more: Record<string, number>): void {
    const log = this.gateway.accessLog;
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
        websocket: true,
        ...more,
      },
      `${this.method} ${this.path} ${status} ${ms(now - this.submittedAt)} ms${status === 101 ? ` (WebSocket closed ${this.closeCode})` : ""}`,
    );
  }
}

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5): cut at a character boundary. */
function truncate(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = "";
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > 123) break;
    out += ch;
  }
  return out;
}
