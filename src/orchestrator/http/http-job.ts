/**
 * One request in flight: the Job the dispatcher and workers see, bound to its HTTP response. A
 * worker answers it with one TaskResult (written at once, compressed if asked) or with a stream
 * (docs/protocol.md, Streams): the head goes out as soon as it comes, each chunk as it comes, and
 * the worker's window grows back only once a chunk has reached the client's socket, so a slow
 * client slows the handler instead of filling the orchestrator's memory.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Job } from "../dispatch/job.js";
import { encodeWindowUpdate } from "../../protocol/codec.js";
import { APP_HEADERS, BODY_INCOMPLETE, CANCEL_CLIENT_GONE, INITIAL_WINDOW, type Pair, type StreamFrame, type TaskResult } from "../../protocol/messages.js";
import type { Worker } from "../workers/worker.js";
import type { Metrics } from "../metrics.js";
import type { Logger } from "../log.js";
import type { RequestStats } from "../status/request-stats.js";
import { sendError } from "./errors.js";
import { logMs, writeAccessRecord } from "./access-log.js";
import { compress, compressible, negotiate, weakenEtags, type CompressionOptions } from "./compression.js";
import { Cors } from "./cors.js";
import { REQUEST_ID_HEADER } from "./request-id.js";
import { RequestBodyStream } from "./request-body.js";

/** What a job needs from the server it belongs to (read at answer time: draining changes). */
export interface JobContext {
  readonly draining: boolean;
  readonly accessLog: Logger | null;
  readonly requestStats: RequestStats | null;
  readonly cors: Cors | null;
  readonly compression: CompressionOptions | null;
  readonly metrics: Metrics;
  /**
   * Logs, once per route and kind, an answer the orchestrator had to correct or refuse: an app's
   * bug its clients never see. Per kind too, so that one mistake does not hide another (a
   * foreign app has one route, its catch-all, unless its framework tells its templates).
   */
  appMistake(route: string, kind: AppMistake, message: string): void;
}

/** What an app got wrong in an answer: its length, or a head Node will not send. */
export type AppMistake = "content-length" | "invalid-head";

/**
 * A head Node would not send (CR/LF or NUL in a header value, a name that is no token), from an
 * HTTP or a WebSocket job: the reason goes to the operator (naming the header, never its value),
 * and the detail returned to the client's 502.
 */
export function refusedHead(host: Pick<JobContext, "appMistake">, route: string, err: Error): string {
  const detail = `the worker sent an invalid response: ${err.message}`;
  host.appMistake(route, "invalid-head", `${detail}: answered 502 Bad Gateway`);
  return detail;
}

/** The status logged and counted for a stream whose client went away before its end (nginx's). */
export const CLIENT_CLOSED = 499;

const EMPTY = Buffer.alloc(0);
/** Time a cut-short response's client gets to take the bytes written before the cut. */
const ABORT_FLUSH_MS = 10_000;
/** A `connection` header's `close` token (it is a comma-separated list). */
const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;

/**
 * Hop-by-hop and framing headers are the orchestrator's to set, never a worker's (but for a
 * `connection: close`, which it honours); so is X-Request-Id, which the client sent or the
 * orchestrator made.
 */
const RESERVED_RESPONSE_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", REQUEST_ID_HEADER]);

/** Where a streamed response is (from its ResponseHead on). */
type StreamState =
  /** Chunks go to the client. */
  | "open"
  /** Nobody reads any more (client gone, HEAD, timed out, cut): chunks are dropped, their window given back. */
  | "discarding"
  /** The worker sent its BodyEnd. */
  | "ended";

export class HttpJob implements Job {
  readonly submittedAt = performance.now();
  assignedAt = 0;
  slow = false;
  streaming: boolean;
  /** Answered already: a late result (after a timeout, say) is dropped. */
  private settled = false;
  private worker: Worker | null = null;
  /** The streamed response, once its head came. */
  private stream: StreamState | null = null;
  private lastFrameAt = 0;
  private status = 0;
  /** The worker's content-length for a streamed response (-1: none, chunked). */
  private declaredLength = -1;
  private bytesReceived = 0;
  private bytesGranted = 0;
  /** Closes this response's count in the open-streams gauge. */
  private closeGauge: (() => void) | null = null;

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
    private readonly server: JobContext,
    /**
     * The body follows the TaskAssignment in BodyChunk frames, up to this many bytes (Infinity:
     * no limit); null when the TaskAssignment carries it.
     */
    bodyLimit: number | null = null,
  ) {
    this.upload =
      bodyLimit === null
        ? null
        : new RequestBodyStream(taskId, req, server.metrics.streams, bodyLimit, () => this.uploadAborted(), () => this.uploadTooLarge(bodyLimit));
    this.streaming = bodyLimit !== null;
  }

  private readonly upload: RequestBodyStream | null;

  /** The streamed body went past --max-body-size: stop the handler, and refuse the request if it has no answer yet. */
  private uploadTooLarge(limit: number): void {
    if (this.worker !== null) this.worker.cancel(this.taskId);
    // The rest of the body is not read: the connection closes after the answer.
    this.fail(413, `request body is larger than the limit of ${limit} bytes`, { connection: "close" });
  }

  /** The client left mid-upload (the worker has its BodyEnd with bit 0): stop the handler. */
  private uploadAborted(): void {
    if (!this.settled && this.stream === null) {
      this.recordClientGone();
      // No answer will be written, and no next request can follow a cut body: an HTTP/1
      // connection is done (one the client only half-closed would otherwise stay open for good).
      if (this.req.httpVersionMajor < 2) this.req.socket.destroy();
    }
    if (this.worker !== null) this.worker.cancel(this.taskId, CANCEL_CLIENT_GONE);
  }

  get progressAt(): number {
    const up = this.upload?.progressAt ?? 0;
    return Math.max(this.lastFrameAt, up, this.assignedAt);
  }

  get waitingOnClient(): boolean {
    if (this.stream === "open" && this.bytesReceived - this.bytesGranted >= INITIAL_WINDOW) return true;
    return this.upload?.waitingOnClient ?? false;
  }

  get abandoned(): boolean {
    // The connection, not `res.socket`: a pipelined response waiting behind an earlier one has
    // no socket yet, and its request is still wanted.
    return this.req.socket.destroyed;
  }

  get answered(): boolean {
    return this.settled;
  }

  assigned(worker: Worker): void {
    this.worker = worker;
    if (this.upload !== null) this.upload.start(worker);
    // A worker that runs many tasks at once can drop one whose client left before its answer
    // (a fetch app's request.signal, an ASGI app's http.disconnect); one that runs a task at a
    // time cannot be interrupted before its head.
    else if (worker.concurrency > 1) this.res.once("close", () => this.closedBeforeAnswer());
  }

  private closedBeforeAnswer(): void {
    if (this.settled || this.stream !== null || this.worker === null || !this.worker.has(this.taskId)) return;
    this.recordClientGone();
    this.clientGone = true;
    this.worker.cancel(this.taskId, CANCEL_CLIENT_GONE);
  }

  /**
   * The client left before its answer and the worker was told so (CancelTask with
   * CANCEL_CLIENT_GONE): an ASGI app may run on, and the watchdog stops it at --timeout.
   */
  clientGone = false;

  /** Metrics, status page and access log for the answer; `extra.bytes` is the body size sent. */
  private record(status: number, extra?: { bytes?: number } & Record<string, unknown>): void {
    const now = performance.now();
    const { metrics, requestStats, accessLog: log } = this.server;
    metrics.requestDone(this.route, this.method, status, (now - this.submittedAt) / 1000);
    requestStats?.record(status, (now - this.submittedAt) / 1000);
    if (!log) return;
    const started = this.assignedAt || now;
    writeAccessRecord(log, this.req, {
      requestId: this.requestId,
      method: this.method,
      path: this.path,
      route: this.route,
      status,
      bytes: extra?.bytes ?? 0,
      durationMs: logMs(now - this.submittedAt),
      queueMs: logMs(started - this.submittedAt),
      workerMs: this.assignedAt ? logMs(now - this.assignedAt) : 0,
      extra,
    });
  }


  /**
   * The head's headers, filtered: the worker's minus reserved ones, plus the request id and CORS,
   * and `content-type: application/json` when it has none and `defaultType` says so.
   */
  private headers(
    result: { headers: readonly Pair[] },
    defaultType: boolean,
  ): { headers: string[]; contentType: string | null; length: string | null } {
    const headers: string[] = [];
    let contentType: string | null = null;
    let length: string | null = null;
    let close = false;
    for (const [name, value] of result.headers) {
      const lower = name.toLowerCase();
      if (lower === "content-length") length = value;
      if (RESERVED_RESPONSE_HEADERS.has(lower)) {
        if (lower === "connection" && CLOSE_TOKEN.test(value)) close = true;
        continue;
      }
      if (lower === "content-type") contentType = value;
      headers.push(name, value);
    }
    // The app asked for the connection to end after this response (to shed a client, or as
    // uvicorn and gunicorn honour it): HTTP/1 only, HTTP/2 has no connection header.
    if (close && this.req.httpVersionMajor === 1) headers.push("connection", "close");
    if (contentType === null && defaultType) headers.push("content-type", "application/json");
    headers.push(REQUEST_ID_HEADER, this.requestId);
    const cors = this.server.cors;
    if (cors !== null && !Cors.answered(result.headers)) headers.push(...cors.responseHeaders(this.req.headers.origin));
    return { headers, contentType, length };
  }

  /** Dropped unanswered: its client left (a reset connection or HTTP/2 stream) before its answer. */
  left(): void {
    if (!this.settled) this.recordClientGone();
  }

  complete(result: TaskResult): void {
    this.upload?.abandon();
    if (this.settled) return;
    if (this.abandoned) return this.left(); // the answer has nowhere to go: not a 200 in the log
    if (result.status < 200) {
      // An interim status is no answer: the client would wait for the final one forever (and
      // 101 would claim a protocol switch that never happens).
      this.fail(502, `the handler answered with status ${result.status}, which is not a final response`);
      return;
    }
    this.settled = true;
    // A body without a type is the SDKs' JSON; an empty one (a redirect, a 204) has no type to
    // say, and a foreign app's headers are what it meant (uvicorn and gunicorn add none either).
    const sdkTyped = (result.flags & APP_HEADERS) === 0;
    const { headers, length } = this.headers(result, result.body.length > 0 && sdkTyped);
    // An SDK's HEAD body is its GET's (dropped on the way out); a foreign app's may be none.
    const appLength = sdkTyped ? undefined : length;
    const { compression } = this.server;
    const { status, body } = result;
    if (typeof appLength === "string" && body.length > 0 && Number(appLength) !== body.length) {
      // The body goes out with its real length (uvicorn would raise and cut the connection).
      this.server.appMistake(this.route, "content-length", `the app's Content-Length (${appLength.trim()}) does not match its body (${body.length} bytes): the body was sent with its real length`);
    }
    if (compression !== null && body.length >= compression.minBytes && compressible(status, result.headers, sdkTyped)) {
      headers.push("vary", "Accept-Encoding");
      const encoding = negotiate(this.req.headers["accept-encoding"]);
      if (encoding !== null) {
        compress(encoding, body, (out) => {
          if (out === null || out.length >= body.length) return this.send(status, headers, body, appLength);
          headers.push("content-encoding", encoding);
          weakenEtags(headers);
          this.send(status, headers, out, appLength);
        });
        return;
      }
    }
    this.send(status, headers, body, appLength);
  }

  /** `appLength`: a foreign app's content-length (null: it gave none), which only a bodiless HEAD keeps. */
  private send(status: number, headers: string[], body: Buffer, appLength?: string | null): void {
    // 204 and 304 have no body, so no length either (RFC 9110 §8.6): a stray length would make a
    // keep-alive client wait for bytes that never come.
    if (status === 204 || status === 304) body = EMPTY;
    else if (appLength !== undefined && body.length === 0 && this.method === "HEAD") {
      // An app that dropped a HEAD's body (Hono does) knows the GET's length, or nobody does: a
      // HEAD's length must be the GET's (RFC 9110 §8.6), so it is the app's or none, never 0.
      if (appLength !== null && /^\d{1,15}$/.test(appLength.trim())) headers.push("content-length", appLength.trim());
    } else headers.push("content-length", String(body.length));
    if (this.server.draining) headers.push("connection", "close");
    try {
      this.res.writeHead(status, headers);
    } catch (err) {
      // A header Node refuses to send (CR/LF in a value, say): nothing went out yet.
      this.answerError(502, refusedHead(this.server, this.route, err as Error));
      return;
    }
    this.res.end(body);
    this.record(status, { bytes: body.length });
  }

  onStreamFrame(m: StreamFrame, worker: Worker): string | void {
    const now = performance.now();
    switch (m.type) {
      case "ResponseHead":
        if (this.stream !== null) return "a second ResponseHead";
        this.lastFrameAt = now;
        this.streaming = true;
        this.head(m.status, m.headers, worker);
        return;
      case "BodyChunk":
        if (this.stream === null) return "BodyChunk before ResponseHead";
        this.lastFrameAt = now;
        this.chunk(m.data, worker);
        return;
      case "BodyEnd":
        if (this.stream === null) return "BodyEnd before ResponseHead";
        this.lastFrameAt = now;
        this.end((m.flags & BODY_INCOMPLETE) !== 0);
        return;
      case "WindowUpdate":
        if (this.upload === null) return "WindowUpdate for a task whose request body is not streamed";
        this.upload.windowUpdate(m.increment);
        return;
      default:
        return `${m.type} for an HTTP request`;
    }
  }

  private head(status: number, pairs: Pair[], worker: Worker): void {
    this.stream = "discarding";
    if (this.settled || this.abandoned) {
      // Answered already (timed out) or nobody left to read it: stop the handler.
      if (!this.settled) this.recordClientGone();
      worker.cancel(this.taskId);
      return;
    }
    if (status < 200) {
      this.fail(502, `the handler answered with status ${status}, which is not a final response`);
      worker.cancel(this.taskId);
      return;
    }
    const { headers, contentType, length } = this.headers({ headers: pairs }, false);
    if (contentType !== null && /^\s*text\/event-stream/i.test(contentType)) {
      // Server-Sent Events must reach the client as they are written: no cache, no proxy buffering.
      if (!pairs.some(([n]) => n.toLowerCase() === "cache-control")) headers.push("cache-control", "no-cache");
      if (!pairs.some(([n]) => n.toLowerCase() === "x-accel-buffering")) headers.push("x-accel-buffering", "no");
    }
    const bodiless = this.method === "HEAD" || status === 204 || status === 304;
    // A worker's length is kept (a download of known size), else the body is chunked.
    if (length !== null && /^\d{1,15}$/.test(length.trim()) && status !== 204 && status !== 304) {
      this.declaredLength = Number(length);
      headers.push("content-length", length.trim());
    }
    if (this.server.draining) headers.push("connection", "close");
    try {
      this.res.writeHead(status, headers);
    } catch (err) {
      this.answerError(502, refusedHead(this.server, this.route, err as Error));
      this.settled = true;
      worker.cancel(this.taskId);
      return;
    }
    this.settled = true;
    this.status = status;
    if (bodiless) {
      // The head is the whole answer: the handler's body is not wanted.
      this.res.end();
      this.record(status);
      worker.cancel(this.taskId);
      return;
    }
    // The head goes out now, before any chunk: the client's time to first byte is the handler's.
    this.res.flushHeaders();
    this.stream = "open";
    this.closeGauge = this.server.metrics.streams.open("response");
    this.onConnectionClose = () => this.connectionClosed();
    this.req.socket.once("close", this.onConnectionClose);
  }

  private chunk(data: Buffer, worker: Worker): void {
    this.bytesReceived += data.length;
    if (this.stream !== "open") {
      // Nobody reads it: give the window back at once, so the worker reaches its cancel or end.
      this.grant(worker, data.length);
      return;
    }
    if (this.declaredLength >= 0 && this.bytesReceived > this.declaredLength) {
      const why = `the handler sent more than its content-length of ${this.declaredLength} bytes`;
      this.server.appMistake(this.route, "content-length", `${why}: the response was cut short`);
      this.cut(502, why);
      worker.cancel(this.taskId);
      return;
    }
    this.res.write(data, (err) => {
      // Written to the client's socket: the worker may send as much again.
      if (!err) this.grant(worker, data.length);
    });
  }

  private grant(worker: Worker, bytes: number): void {
    this.bytesGranted += bytes;
    this.lastFrameAt = performance.now();
    if (this.worker === worker && worker.has(this.taskId)) worker.send(encodeWindowUpdate(this.taskId, bytes));
  }

  /** The worker ended its stream (the task is over on its side). */
  private end(incomplete: boolean): void {
    this.upload?.abandon();
    const state = this.stream;
    this.stream = "ended";
    if (state !== "open") return;
    this.stopWatching();
    if (incomplete || (this.declaredLength >= 0 && this.bytesReceived !== this.declaredLength)) {
      if (!incomplete) {
        this.server.appMistake(this.route, "content-length", `the handler's streamed body (${this.bytesReceived} bytes) ended short of its content-length of ${this.declaredLength}: the response was cut short`);
      }
      // The client must not take a cut-short body for the whole one: abort the connection.
      this.abortConnection();
      this.record(this.status, { truncated: true, bytes: this.bytesReceived });
      return;
    }
    this.res.end();
    this.record(this.status, { bytes: this.bytesReceived });
  }

  /** The client's connection closed while its stream was open: stop the handler. */
  /** Set while a response stream is open: its listener on the connection's close. */
  private onConnectionClose: (() => void) | null = null;

  private connectionClosed(): void {
    if (this.stream !== "open") return;
    this.stream = "discarding";
    this.stopWatching();
    this.recordClientGone();
    if (this.worker !== null) this.worker.cancel(this.taskId, CANCEL_CLIENT_GONE);
  }

  /** Settles the job as its client's leaving: 499, with the bytes of a stream that went out. */
  private recordClientGone(): void {
    this.settled = true;
    this.record(CLIENT_CLOSED, { disconnected: true, bytes: this.bytesReceived });
  }

  private stopWatching(): void {
    if (this.onConnectionClose !== null) this.req.socket.removeListener("close", this.onConnectionClose);
    this.onConnectionClose = null;
    this.closeGauge?.();
    this.closeGauge = null;
  }

  /**
   * Closes the connection without ending the body (no last chunk, or short of the length), so
   * the client sees the response cut short; what was already written still reaches it first.
   * A client that does not take it within ABORT_FLUSH_MS loses it.
   */
  private abortConnection(): void {
    const socket = this.res.socket;
    if (socket === null || socket.destroyed) {
      this.res.destroy();
      return;
    }
    socket.end();
    setTimeout(() => socket.destroy(), ABORT_FLUSH_MS).unref();
  }

  /** Cuts an open stream short (its status is out): the client sees the connection abort. */
  private cut(status: number, why: string): void {
    this.stream = "discarding";
    this.stopWatching();
    this.abortConnection();
    this.record(status, { truncated: true, bytes: this.bytesReceived, detail: why });
  }

  /**
   * A streamed upload that did not arrive within --body-timeout (408), or whose rest cannot be
   * parsed or was cut short by the client (400): the handler's body ends incomplete, the client
   * gets the error (or, past the head, a cut response) and its connection closes. A client that
   * closed mid-body once a worker reads it is a client gone instead (499), as when it drops.
   */
  bodyFailed(status: number, detail: string, clientGone = false): void {
    if (clientGone && this.upload?.clientLeft()) return;
    this.upload?.cutShort();
    if (this.settled && this.stream !== "open") {
      // Answered without the whole body: the rest will not come, so nor will a next request.
      this.abortConnection();
      return;
    }
    this.fail(status, detail, { connection: "close" });
    if (this.worker !== null && this.worker.concurrency > 1 && this.worker.has(this.taskId)) this.worker.cancel(this.taskId);
  }

  fail(status: number, detail: string, headers?: Record<string, string>): void {
    this.upload?.abandon();
    if (this.stream === "open") {
      // Too late for an error status: abort the response, so the client sees it fail.
      this.cut(status, detail);
      return;
    }
    if (this.settled) return;
    this.settled = true;
    this.answerError(status, detail, headers);
  }

  private answerError(status: number, detail: string, headers?: Record<string, string>): void {
    const all: Record<string, string> = { ...headers, [REQUEST_ID_HEADER]: this.requestId };
    if (this.server.draining) all.connection = "close";
    const cors = this.server.cors;
    if (cors !== null) {
      const more = cors.responseHeaders(this.req.headers.origin);
      for (let i = 0; i < more.length; i += 2) all[more[i]!] = more[i + 1]!;
    }
    this.record(status, { bytes: sendError(this.res, status, detail, all) });
  }
}
