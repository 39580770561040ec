/**
 * The state of one task in flight on the Node worker's connection, for its streams
 * (docs/protocol.md, Streams and Flow control): the window the worker may still send in (a
 * streamed response or WebSocket messages), the request body it receives as a stream, and its
 * WebSocket. Each receiving side holds at most one window of data (1 MiB plus one frame): the
 * orchestrator sends no more until the handler has read some and the worker granted it back.
 */
import { DEFAULT_MAX_FRAME, encodeBodyChunkHead, encodeWebSocketAccept, encodeWebSocketClose, encodeWebSocketMessageHead, encodeWindowUpdate } from "../protocol/codec.js";
import { BODY_INCOMPLETE, INITIAL_WINDOW, type Pair, type TaskAssignment } from "../protocol/messages.js";
import { WebSocketDisconnect } from "../sdk/websocket.js";
import type { BodySource } from "./body-source.js";
import type { WebSocketTask } from "./task-runner.js";

/** What a task needs from its connection. */
export interface Wire {
  send(frame: Buffer | Buffer[]): void;
  /** Sends the frame that ends the task and forgets the task (once; later calls do nothing). */
  end(task: Task, frame: Buffer): void;
}

/** The orchestrator sent data past a stream's window: a protocol error. */
export class WindowExceeded extends Error {}

export class Task {
  /** Aborted when the task is abandoned (CancelTask), not when it ends normally: the handler's request.signal. */
  readonly abort = new AbortController();
  /** Set once the frame that ends the task has been sent; nothing more is sent for it. */
  ended = false;
  /** The streamed response, once its ResponseHead is out. */
  source: BodySource | undefined;
  readonly body: RequestBody | undefined;
  readonly websocket: WorkerWebSocket | undefined;
  /** Bytes of data frames the worker may still send (the response body, or WebSocket messages). */
  private window = INITIAL_WINDOW;
  private windowWaiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly wire: Wire,
    kind: { streamBody?: boolean; websocket?: boolean },
    /** This task's body follows in BodyChunk frames, though its route does not always stream it. */
    bodyStreamed = false,
  ) {
    this.body = kind.streamBody || bodyStreamed ? new RequestBody(this) : undefined;
    this.websocket = kind.websocket ? new WorkerWebSocket(this) : undefined;
  }

  /** A WindowUpdate from the orchestrator. */
  grant(increment: number): void {
    this.window += increment;
    if (this.window > 0) this.wake();
  }

  /** Resolves once the window is above zero, or the task has ended or its WebSocket closed. */
  async windowOpen(): Promise<void> {
    while (this.window <= 0 && !this.ended && !this.websocket?.closed) {
      await new Promise<void>((resolve) => this.windowWaiters.push(resolve));
    }
  }

  /** Sends one data frame (a head and its data, not copied together) and spends the window. */
  sendData(head: Buffer, data: Buffer): void {
    this.window -= data.length;
    this.wire.send([head, data]);
  }

  /** Sends one streamed-response chunk (at most MAX_CHUNK bytes; the caller splits). */
  sendChunk(data: Buffer): void {
    this.sendData(encodeBodyChunkHead(this.id, data.length), data);
  }

  /** The task is over (its end frame went out): release everything waiting on it. */
  close(): void {
    this.ended = true;
    this.wake();
    this.body?.abandon();
    this.websocket?.abandon();
  }

  wake(): void {
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Data a peer sends in one direction of a stream, within its window. */
class Inbox<T extends { readonly size: number }> {
  private readonly items: T[] = [];
  private window = INITIAL_WINDOW;
  private waiters: (() => void)[] = [];

  constructor(private readonly task: Task) {}

  push(item: T): void {
    // A sender may send only while its window is above zero (it may then overshoot by one frame).
    if (this.window <= 0) throw new WindowExceeded(`task ${this.task.id}: data sent past the flow-control window`);
    this.window -= item.size;
    this.items.push(item);
    this.notify();
  }

  /** The oldest item, its bytes granted back to the sender; undefined when there is none yet. */
  take(): T | undefined {
    const item = this.items.shift();
    if (item) this.release(item.size);
    return item;
  }

  /** Gives back the window of everything queued (the reader lost interest). */
  drop(): void {
    let size = 0;
    for (const item of this.items.splice(0)) size += item.size;
    if (size > 0) this.release(size);
  }

  /** Resolves when something changes: an item arrives, or the stream ends. */
  changed(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private release(size: number): void {
    this.window += size;
    if (!this.task.ended && size > 0) this.task.wire.send(encodeWindowUpdate(this.task.id, size));
  }
}

interface Chunk {
  readonly size: number;
  readonly data: Buffer;
}

/** The pseudo-header that ends the headers of a task whose body follows in BodyChunk frames. */
const STREAMED_BODY_MARK = ":body";

/**
 * For a route listed with streamLargeBody: whether this task's body follows in BodyChunk frames
 * (the orchestrator marked it so) rather than in the TaskAssignment. Removes the mark, which is
 * not the app's.
 */
export function bodyFollows(task: TaskAssignment): boolean {
  const last = task.headers[task.headers.length - 1];
  if (last === undefined || last[0] !== STREAMED_BODY_MARK) return false;
  task.headers.pop();
  return true;
}

/**
 * A request body received as a stream (a route listed with stream_body): a ReadableStream that
 * asks for the next chunk only when the handler reads, and grants the orchestrator that chunk's
 * bytes back once it is handed over, so an upload goes no faster than the handler reads it.
 */
export class RequestBody {
  readonly stream: ReadableStream<Uint8Array>;
  private readonly inbox: Inbox<Chunk>;
  /** undefined while the body is arriving; how it ended otherwise. */
  private end: "complete" | "incomplete" | "cancelled" | undefined;

  constructor(task: Task) {
    this.inbox = new Inbox(task);
    this.stream = new ReadableStream<Uint8Array>(
      { pull: (controller) => this.pull(controller), cancel: () => this.cancel() },
      { highWaterMark: 0 },
    );
  }

  /** A BodyChunk from the orchestrator. */
  push(data: Buffer): void {
    if (this.end === "cancelled") {
      // The handler stopped reading: take the rest and drop it, so the client can finish sending.
      this.inbox.push({ size: data.length, data });
      this.inbox.drop();
      return;
    }
    if (this.end !== undefined) return;
    this.inbox.push({ size: data.length, data });
  }

  /** The orchestrator's BodyEnd. */
  finish(flags: number): void {
    if (this.end !== undefined) return;
    this.end = flags & BODY_INCOMPLETE ? "incomplete" : "complete";
    this.inbox.notify();
  }

  /** The task ended: a read still waiting fails. */
  abandon(): void {
    this.end ??= "incomplete";
    this.inbox.notify();
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      const chunk = this.inbox.take();
      if (chunk) return controller.enqueue(chunk.data);
      if (this.end === "complete") return controller.close();
      if (this.end !== undefined) return controller.error(new Error("the client went away before sending the whole request body"));
      await this.inbox.changed();
    }
  }

  private cancel(): void {
    this.end = "cancelled";
    this.inbox.drop();
  }
}

/** The largest WebSocket message that fits one frame beside its head (type, task_id, kind). */
const MAX_MESSAGE = DEFAULT_MAX_FRAME - 6;

interface Message {
  readonly size: number;
  readonly data: string | Buffer;
}

/**
 * The worker's end of a WebSocket (a route listed with websocket): messages from the client
 * wait here until the handler receives them (their window granted back then), messages to the
 * client go out under the client's window. The first close ends the conversation for the
 * handler; the task ends when the worker sends its own WebSocketClose.
 */
export class WorkerWebSocket implements WebSocketTask {
  private readonly inbox: Inbox<Message>;
  closed: { code: number; reason: string } | undefined;
  /** The WebSocketAccept went out: the task now ends with a WebSocketClose. */
  accepted = false;

  constructor(private readonly task: Task) {
    this.inbox = new Inbox(task);
  }

  accept(subprotocol: string, headers: readonly Pair[]): void {
    if (this.accepted || this.task.ended) return;
    // Encoded first: headers too long for the protocol throw to the handler, nothing sent.
    const frame = encodeWebSocketAccept(this.task.id, subprotocol, headers);
    this.accepted = true;
    this.task.wire.send(frame);
  }

  /** A WebSocketMessage from the orchestrator. */
  push(binary: boolean, data: Buffer): void {
    if (this.closed) return;
    // Text is decoded once here: the orchestrator has checked that it is UTF-8.
    this.inbox.push({ size: data.length, data: binary ? data : data.toString("utf8") });
  }

  /** The orchestrator's WebSocketClose: the client closed (1006: the connection dropped). */
  peerClosed(code: number, reason: string): void {
    this.closed ??= { code, reason };
    this.inbox.notify();
    this.task.wake(); // a send() waiting for window gives up
  }

  async receive(): Promise<{ data: string | Buffer } | { code: number; reason: string }> {
    for (;;) {
      const message = this.inbox.take();
      if (message) return { data: message.data };
      if (this.closed) return this.closed;
      await this.inbox.changed();
    }
  }

  async send(binary: boolean, data: Buffer): Promise<void> {
    // A message travels whole in one frame, which the orchestrator would refuse (and drop the worker).
    if (data.length > MAX_MESSAGE) throw new RangeError(`WebSocket.send: a message may be at most ${MAX_MESSAGE} bytes, got ${data.length}`);
    if (!this.closed) await this.task.windowOpen();
    if (this.closed) throw new WebSocketDisconnect(this.closed.code, this.closed.reason);
    this.task.sendData(encodeWebSocketMessageHead(this.task.id, binary, data.length), data);
  }

  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
    this.inbox.drop();
    this.inbox.notify();
    this.task.wire.end(this.task, encodeWebSocketClose(this.task.id, code, reason));
  }

  /** The task ended without the handler closing (cancelled): it sees the connection dropped. */
  abandon(): void {
    this.closed ??= { code: 1006, reason: "" };
    this.inbox.notify();
  }
}
