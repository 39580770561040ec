/**
 * The WebSocket a handler registered with `app.websocket(path, handler)` gets: the orchestrator
 * terminates the connection and relays whole messages to the worker, which hands them to this
 * object. It mirrors the Python SDK's WebSocket and WebSocketDisconnect.
 */

/** What the worker's end of one WebSocket task provides (src/node-worker/task-streams.ts). */
export interface WebSocketChannel {
  /** The next message from the client, or how the connection closed. Grants flow-control window as it is taken. */
  receive(): Promise<{ readonly data: string | Buffer } | { readonly code: number; readonly reason: string }>;
  /** Resolves once the message is sent; waits while the client's window is spent. Throws WebSocketDisconnect once closed. */
  send(binary: boolean, data: Buffer): Promise<void>;
  /** Ends the task with a close frame (idempotent). */
  close(code: number, reason: string): void;
  /** How the connection closed, once it did (either side). */
  readonly closed: { readonly code: number; readonly reason: string } | undefined;
}

/**
 * The peer closed the connection (or it dropped: code 1006): thrown by `receive()` and `send()`.
 * A handler that lets it escape ends normally.
 */
export class WebSocketDisconnect extends Error {
  override name = "WebSocketDisconnect";

  constructor(
    readonly code: number = 1000,
    readonly reason: string = "",
  ) {
    super(`the WebSocket closed with code ${code}${reason ? ` (${reason})` : ""}`);
  }

  /** Whether `value` is a WebSocketDisconnect, from this copy of the package or another one. */
  static isWebSocketDisconnect(value: unknown): value is WebSocketDisconnect {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[DISCONNECT_BRAND] === true;
  }
}

const DISCONNECT_BRAND = Symbol.for("neutrino.WebSocketDisconnect");
Object.defineProperty(WebSocketDisconnect.prototype, DISCONNECT_BRAND, { value: true });

/** The longest close reason a close frame can carry, in UTF-8 bytes (RFC 6455 §5.5). */
const MAX_REASON = 123;

export class WebSocket implements AsyncIterable<string | Uint8Array> {
  constructor(
    private readonly channel: WebSocketChannel,
    /** The subprotocol chosen from the route's `subprotocols` and the client's offer; "" for none. */
    readonly subprotocol: string,
  ) {}

  /**
   * The next message: a string for a text message, bytes (a Buffer) for a binary one. Throws
   * WebSocketDisconnect, with the close code and reason, once the connection is closed.
   */
  async receive(): Promise<string | Uint8Array> {
    const next = await this.channel.receive();
    if ("data" in next) return next.data;
    throw new WebSocketDisconnect(next.code, next.reason);
  }

  /** Sends a string as a text message, bytes as a binary one; resolves once the client may take more. */
  async send(data: string | Uint8Array | ArrayBuffer): Promise<void> {
    if (typeof data === "string") return this.channel.send(false, Buffer.from(data, "utf8"));
    if (data instanceof Uint8Array) return this.channel.send(true, Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (data instanceof ArrayBuffer) return this.channel.send(true, Buffer.from(data));
    throw new TypeError(`WebSocket.send takes a string or bytes, got ${data === null ? "null" : typeof data}`);
  }

  /** Sends `JSON.stringify(value)` as a text message. */
  sendJson(value: unknown): Promise<void> {
    return this.send(JSON.stringify(value));
  }

  /**
   * Closes the connection with `code` (1000, or an application code from 3000 to 4999) and
   * `reason` (at most 123 bytes of UTF-8). Closing twice, or after the client closed, does nothing.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    if (!isSendableCode(code)) throw new RangeError(`WebSocket.close: code must be 1000-1003, 1007-1014 or 3000-4999, got ${String(code)}`);
    if (typeof reason !== "string" || Buffer.byteLength(reason) > MAX_REASON) {
      throw new RangeError(`WebSocket.close: reason must be a string of at most ${MAX_REASON} bytes of UTF-8`);
    }
    this.channel.close(code, reason);
  }

  /** Whether the connection is closed (by either side). */
  get closed(): boolean {
    return this.channel.closed !== undefined;
  }

  /** `for await (const message of ws)`: each message until the connection closes (the loop then ends). */
  async *[Symbol.asyncIterator](): AsyncIterator<string | Uint8Array> {
    for (;;) {
      const next = await this.channel.receive();
      if (!("data" in next)) return;
      yield next.data;
    }
  }
}

/** Close codes an endpoint may send (RFC 6455 §7.4; 1004-1006 and 1015 are reserved). */
export function isSendableCode(code: unknown): code is number {
  if (!Number.isInteger(code)) return false;
  const c = code as number;
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}
