/**
 * Streamed responses: `StreamingResponse` (a body sent chunk by chunk as it is produced) and
 * `ServerSentEvent` (one event of a `text/event-stream`). A handler may also return an async
 * iterable or a web ReadableStream directly; it is sent as a StreamingResponse with the defaults.
 */
import { Response, type ResponseInit } from "./response.js";

/** What a streamed body may be: its items are strings (UTF-8), bytes, or, in an event stream, events. */
export type StreamBody = AsyncIterable<unknown> | Iterable<unknown> | ReadableStream<unknown>;

export const STREAM_MEDIA_TYPE = "text/plain; charset=utf-8";

const STREAMING_BRAND = Symbol.for("neutrino.StreamingResponse");
const EVENT_BRAND = Symbol.for("neutrino.ServerSentEvent");

/**
 * A response whose body is sent as it is produced: each item of `body` (an async iterable, an
 * iterable such as a generator, or a ReadableStream) goes to the client as soon as it is yielded,
 * and the handler is slowed down when the client reads slowly. Middleware sees it like any
 * Response (status and headers may be changed) and passes it on; its body is not buffered.
 *
 *     app.route("/count", () => new StreamingResponse(count(), { mediaType: "text/csv" }));
 */
export class StreamingResponse extends Response {
  declare body: StreamBody;

  constructor(body: StreamBody, init: ResponseInit = {}) {
    if (!isStreamBody(body) && !isIterableBody(body)) {
      throw new TypeError("StreamingResponse: the body must be an async iterable, an iterable or a ReadableStream");
    }
    super(body, init);
    if (!this.headers.has("content-type")) this.headers.set("content-type", STREAM_MEDIA_TYPE);
  }

  /** Whether `value` is a StreamingResponse, from this copy of the package or another one. */
  static isStreamingResponse(value: unknown): value is StreamingResponse {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[STREAMING_BRAND] === true;
  }
}

Object.defineProperty(StreamingResponse.prototype, STREAMING_BRAND, { value: true });

export interface ServerSentEventInit {
  /** The event's data: a string (several lines become several `data:` lines) or any other value, sent as JSON. */
  readonly data?: unknown;
  /** The event type (`event:`); the browser's EventSource dispatches it to listeners of that name. */
  readonly event?: string;
  /** The event id (`id:`), which the browser sends back as Last-Event-ID when it reconnects. */
  readonly id?: string | number;
  /** How long the browser waits before reconnecting, in milliseconds (`retry:`). */
  readonly retry?: number;
  /** A comment line (`: ...`), ignored by browsers: keeps an idle connection alive. */
  readonly comment?: string;
}

/**
 * One Server-Sent Event. Yield these from a stream with media type `text/event-stream`; each is
 * written in the event-stream format (`String(event)` gives the same text):
 *
 *     yield new ServerSentEvent({ data: "hello", event: "greeting", id: 1 });
 *     // event: greeting\nid: 1\ndata: hello\n\n
 */
export class ServerSentEvent {
  readonly data: unknown;
  readonly event: string | undefined;
  readonly id: string | undefined;
  readonly retry: number | undefined;
  readonly comment: string | undefined;

  constructor(init: ServerSentEventInit) {
    if (typeof init !== "object" || init === null) throw new TypeError("ServerSentEvent: expected { data, event, id, retry, comment }");
    const { data, event, id, retry, comment } = init;
    if (event !== undefined) this.event = singleLine("event", event);
    if (id !== undefined) {
      this.id = singleLine("id", typeof id === "number" ? String(id) : id);
      if (this.id.includes("\0")) throw new TypeError("ServerSentEvent: id must not contain NUL");
    }
    if (retry !== undefined && (!Number.isInteger(retry) || retry < 0)) {
      throw new TypeError(`ServerSentEvent: retry must be a whole number of milliseconds, got ${String(retry)}`);
    }
    this.retry = retry;
    if (comment !== undefined && typeof comment !== "string") throw new TypeError("ServerSentEvent: comment must be a string");
    this.comment = comment;
    this.data = data;
  }

  /** The event in the `text/event-stream` format, ending with the blank line that dispatches it. */
  toString(): string {
    let out = "";
    if (this.comment !== undefined) for (const line of lines(this.comment)) out += `: ${line}\n`;
    if (this.event !== undefined) out += `event: ${this.event}\n`;
    if (this.id !== undefined) out += `id: ${this.id}\n`;
    if (this.retry !== undefined) out += `retry: ${this.retry}\n`;
    if (this.data !== undefined) {
      const text = typeof this.data === "string" ? this.data : JSON.stringify(this.data);
      for (const line of lines(text ?? "null")) out += `data: ${line}\n`;
    }
    return `${out}\n`;
  }

  static isServerSentEvent(value: unknown): value is ServerSentEvent {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[EVENT_BRAND] === true;
  }
}

Object.defineProperty(ServerSentEvent.prototype, EVENT_BRAND, { value: true });

function singleLine(field: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`ServerSentEvent: ${field} must be a string`);
  if (/[\r\n]/.test(value)) throw new TypeError(`ServerSentEvent: ${field} must be one line`);
  return value;
}

/** The lines of a text, split as the event-stream format does (CRLF, LF or CR). */
function lines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/**
 * Whether a handler's return value (or a Response's body) is sent as a stream: a ReadableStream,
 * an async iterable, or a generator. Other iterables (arrays, Sets, Maps) are values, sent as JSON.
 */
export function isStreamBody(value: unknown): value is StreamBody {
  if (typeof value !== "object" || value === null) return false;
  if (typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") return true;
  if (value instanceof ReadableStream) return true;
  return Object.prototype.toString.call(value) === "[object Generator]";
}

/** Any iterable but a string or bytes (which are whole bodies): what a StreamingResponse may also stream. */
function isIterableBody(value: unknown): value is Iterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !(value instanceof Uint8Array) &&
    typeof (value as Iterable<unknown>)[Symbol.iterator] === "function"
  );
}

/**
 * The body of `response` if it is to be streamed: a stream body (see isStreamBody) in any
 * Response, or any iterable in a StreamingResponse. Undefined for a body sent whole (a string
 * or bytes a middleware put in its place included).
 */
export function streamedBody(response: Response): StreamBody | undefined {
  const { body } = response;
  if (isStreamBody(body)) return body;
  if (StreamingResponse.isStreamingResponse(response) && isIterableBody(body)) return body;
  return undefined;
}

/** Whether a content-type is `text/event-stream`, whatever its parameters. */
export function isEventStream(contentType: string | null): boolean {
  return contentType !== null && contentType.split(";")[0]!.trim().toLowerCase() === "text/event-stream";
}

/**
 * One item of a stream as bytes: a string as UTF-8, bytes as they are; in an event stream a
 * ServerSentEvent (or any other value, as an event whose data is that value in JSON) is formatted.
 */
export function chunkBytes(item: unknown, eventStream: boolean): Buffer {
  if (typeof item === "string") return Buffer.from(item, "utf8");
  if (item instanceof Uint8Array) return Buffer.isBuffer(item) ? item : Buffer.from(item.buffer, item.byteOffset, item.byteLength);
  if (item instanceof ArrayBuffer) return Buffer.from(item);
  if (ServerSentEvent.isServerSentEvent(item)) return Buffer.from(String(item), "utf8");
  if (eventStream && item !== undefined) return Buffer.from(String(new ServerSentEvent({ data: item })), "utf8");
  const what = item === null ? "null" : typeof item === "object" ? (item.constructor?.name ?? "object") : typeof item;
  throw new TypeError(`a streamed body may yield strings and bytes (and events in a text/event-stream), not ${what}`);
}
