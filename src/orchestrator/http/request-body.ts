/**
 * A request body streamed to a worker: the body goes out in BodyChunk frames as it arrives, under
 * the worker's window (docs/protocol.md, Flow control). When the window is spent the request is
 * paused, so the client's upload waits in its own socket, never in the orchestrator's memory; the
 * worker's WindowUpdate resumes it.
 *
 * A `"stream_body": true` route (the SDKs') always streams its body. A `"stream_large_body": true`
 * route (an ASGI or fetch app) streams only a body that is not known to be small: a small one is
 * read whole and travels in the TaskAssignment, the hot path.
 */
import type { IncomingMessage } from "node:http";
import { performance } from "node:perf_hooks";
import { encodeBodyChunkHead, encodeBodyEnd } from "../../protocol/codec.js";
import { BODY_INCOMPLETE, INITIAL_WINDOW, MAX_CHUNK, type Pair } from "../../protocol/messages.js";
import type { Worker } from "../workers/worker.js";
import type { OpenStreams } from "../streams.js";

/**
 * The largest body a `"stream_large_body"` route gets whole in its TaskAssignment, by its
 * Content-Length: one frame, no window to manage, as fast as a route that never streams.
 */
export const WHOLE_BODY_LIMIT = 64 * 1024;

/**
 * The last header pair of a TaskAssignment whose body is streamed to a `"stream_large_body"`
 * route. A pseudo-header: no real header name starts with ":", and the worker removes it before
 * the app sees the headers.
 */
export const STREAMED_BODY_PAIR: Pair = [":body", "streamed"];

/** Whether a request has a body at all: a non-zero Content-Length, chunked, or an HTTP/2 head without END_STREAM. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  if (length !== undefined) return length !== "0";
  if (req.httpVersionMajor === 2) return !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders;
  return req.headers["transfer-encoding"] !== undefined;
}

/**
 * Whether a request to a `"stream_large_body"` route streams its body: a Content-Length above
 * WHOLE_BODY_LIMIT, or a body of unknown length (chunked; on HTTP/2, one without a
 * Content-Length that the request head did not end).
 */
export function streamsBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return length !== undefined ? Number(length) > WHOLE_BODY_LIMIT : hasBody(req);
}

export class RequestBodyStream {
  /** Bytes the worker lets us send now. */
  private window = INITIAL_WINDOW;
  private worker: Worker | null = null;
  /** BodyEnd went out, or the task no longer wants the body. */
  private over = false;
  /** performance.now() of the last chunk sent or window received. */
  progressAt = 0;
  /** Bytes of the body read so far. */
  private received = 0;

  constructor(
    private readonly taskId: number,
    private readonly req: IncomingMessage,
    private readonly streams: OpenStreams,
    /** The most bytes the body may have (--max-body-size; Infinity: no limit). */
    private readonly limit: number,
    /** The client went away before the whole body arrived (BodyEnd with bit 0 is already sent). */
    private readonly onClientGone: () => void,
    /** The body went past `limit` (BodyEnd with bit 0 is already sent; the rest is left unread). */
    private readonly onTooLarge: () => void,
  ) {}

  private closeGauge = (): void => {};

  /** The worker waits for the client's next bytes (its window is open, the upload is not over). */
  get waitingOnClient(): boolean {
    return !this.over && this.worker !== null && this.window > 0;
  }

  /** The task is on `worker`: start reading the body (the request was left unread until now). */
  start(worker: Worker): void {
    if (this.over) return;
    this.worker = worker;
    this.progressAt = performance.now();
    this.closeGauge = this.streams.open("request");
    const { req } = this;
    req.on("data", this.onData);
    req.once("end", this.onEnd);
    // 'close' without 'end' first: the client aborted mid-body. A client that half-closes
    // mid-body only ends the socket (the server allows half-open connections): it is gone too.
    req.once("close", this.onClose);
    if (this.http1) {
      req.socket.once("end", this.onSocketEnd);
      req.socket.once("close", this.onSocketEnd);
    }
  }

  /**
   * On HTTP/2 the connection carries other streams, and `req.socket`'s events are this stream's
   * own (its 'end' is the body's end): the request's 'close' alone says the client left.
   */
  private get http1(): boolean {
    return this.req.httpVersionMajor !== 2;
  }

  windowUpdate(increment: number): void {
    if (this.over) return;
    this.progressAt = performance.now();
    this.window += increment;
    if (this.window > 0 && this.req.isPaused()) this.req.resume();
  }

  /**
   * The task ended (or failed) before taking the whole body: send nothing more, and let Node read
   * the rest of the body to nowhere, so the connection can carry the next request.
   */
  abandon(): void {
    if (this.finish()) this.req.resume();
  }

  /**
   * The client closed its side mid-body (the server's parser saw it before this stream's own
   * listeners): as a close mid-body. False when no worker reads the body yet.
   */
  clientLeft(): boolean {
    if (this.worker === null) return false;
    this.onClose();
    return true;
  }

  /** The upload is cut short by the server (--body-timeout): the worker's body ends incomplete. */
  cutShort(): void {
    if (!this.finish()) return;
    if (this.worker !== null) this.worker.send(encodeBodyEnd(this.taskId, BODY_INCOMPLETE));
  }

  private readonly onData = (chunk: Buffer): void => {
    const worker = this.worker!;
    this.received += chunk.length;
    if (this.received > this.limit) {
      // Counted as the bytes pass, since a chunked body has no length to check up front.
      if (this.finish()) {
        worker.send(encodeBodyEnd(this.taskId, BODY_INCOMPLETE));
        this.onTooLarge();
      }
      return;
    }
    for (let at = 0; at < chunk.length; at += MAX_CHUNK) {
      const piece = at === 0 && chunk.length <= MAX_CHUNK ? chunk : chunk.subarray(at, at + MAX_CHUNK);
      worker.send([encodeBodyChunkHead(this.taskId, piece.length), piece]);
      this.window -= piece.length;
    }
    this.progressAt = performance.now();
    if (this.window <= 0) this.req.pause();
  };

  private readonly onEnd = (): void => {
    if (this.finish()) this.worker!.send(encodeBodyEnd(this.taskId, 0));
  };

  private readonly onSocketEnd = (): void => {
    if (!this.req.complete) this.onClose();
  };

  private readonly onClose = (): void => {
    if (!this.finish()) return;
    this.req.resume(); // what is left of the body goes nowhere
    this.worker!.send(encodeBodyEnd(this.taskId, BODY_INCOMPLETE));
    this.onClientGone();
  };

  /** Marks the stream over; false when it already was. */
  private finish(): boolean {
    if (this.over) return false;
    this.over = true;
    const { req } = this;
    req.removeListener("data", this.onData);
    req.removeListener("end", this.onEnd);
    req.removeListener("close", this.onClose);
    if (this.http1) {
      req.socket.removeListener("end", this.onSocketEnd);
      req.socket.removeListener("close", this.onSocketEnd);
    }
    this.closeGauge();
    return true;
  }
}
