/**
 * The worker's end of the socket once the app is loaded (docs/protocol.md): reads TaskAssignment,
 * DiscoverRoutes, CancelTask, Shutdown and stream frames, runs tasks through the TaskRunner, many
 * at once, and answers each as soon as its handler settles: one TaskResult, or a stream
 * (ResponseHead, BodyChunk under the flow-control window, BodyEnd), or a WebSocket conversation.
 * Exits when the orchestrator goes away.
 */
import type { Socket } from "node:net";
import {
  DEFAULT_MAX_FRAME,
  encodeBodyEnd,
  encodeHeartbeat,
  encodeResponseHead,
  encodeRouteRegistry,
  encodeTaskResult,
  encodeWebSocketClose,
  encodeWorkerReady,
  MAX_STR16,
  oversizedHeader,
  ProtocolError,
} from "../protocol/codec.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import { BODY_INCOMPLETE, HANDLER_FAILED, MAX_CHUNK, type Message, type Pair, type StreamFrame, type TaskAssignment } from "../protocol/messages.js";
import { BodySource } from "./body-source.js";
import { errorOutcome, requestLabel } from "./executor.js";
import { blocksLoop, startLoopMonitor, takeLoopReport } from "./loop-monitor.js";
import { describeThrown } from "./stack.js";
import { bodyFollows, Task, WindowExceeded, type Wire } from "./task-streams.js";
import type { Outcome, TaskRunner } from "./task-runner.js";

const CANCELLED_BODY = Buffer.from(JSON.stringify({ error: "Gateway Timeout", detail: "the task was cancelled" }));
type RouteKind = { streamBody?: boolean; streamLargeBody?: boolean; websocket?: boolean };
const NO_KIND: RouteKind = {};
/** The close code the worker sends for a WebSocket whose task was cancelled (the orchestrator already closed it). */
const GOING_AWAY = 1001;

export class Connection implements Wire {
  private readonly decoder = new FrameDecoder();
  /** The tasks in flight, until the frame that ends each has been sent. */
  private readonly tasks = new Map<number, Task>();
  private readonly registry: Buffer;
  /** Per route path: whether it streams its request body (always, or when large), whether it is a WebSocket. */
  private readonly kinds = new Map<string, RouteKind>();
  private shuttingDown = false;
  private corked = false;
  /** An early Heartbeat is on its way (see start). */
  private reportPending = false;

  constructor(
    private readonly socket: Socket,
    private readonly workerId: string,
    private readonly runner: TaskRunner,
  ) {
    this.registry = encodeRouteRegistry(runner.routes);
    for (const { path, streamBody, streamLargeBody, websocket } of runner.routes) {
      if (streamBody || streamLargeBody || websocket) this.kinds.set(path, { streamBody, streamLargeBody, websocket });
    }
  }

  start(concurrency: number): void {
    const { socket } = this;
    socket.setNoDelay(true);
    // The orchestrator closed the socket or died: there is nobody left to answer.
    socket.on("end", () => process.exit(0));
    socket.on("error", () => process.exit(0));
    socket.on("data", (chunk: Buffer) => {
      let messages: Message[];
      try {
        messages = this.decoder.push(chunk);
      } catch (err) {
        this.protocolError(err as ProtocolError);
        return;
      }
      for (const m of messages) this.handle(m);
    });
    this.send(encodeWorkerReady(this.workerId, process.pid, "node", concurrency));
    // Sent from the event loop, so they stop when a handler blocks it: that is what the
    // orchestrator's --worker-timeout detects. Sending them while tasks run is allowed. Each
    // carries the loop report (loop-monitor.ts); one goes out early, once the loop is free
    // again, after a task that held it long enough to matter.
    startLoopMonitor(() => {
      if (this.reportPending) return;
      this.reportPending = true;
      setImmediate(() => this.heartbeat());
    });
    const interval = heartbeatIntervalMs(process.env);
    if (interval > 0) setInterval(() => this.heartbeat(), interval).unref();
  }

  private heartbeat(): void {
    this.reportPending = false;
    const { loopLagMs, routeSyncMs } = takeLoopReport();
    this.send(encodeHeartbeat(this.workerId, loopLagMs, routeSyncMs));
  }

  private handle(m: Message): void {
    switch (m.type) {
      case "TaskAssignment":
        return this.runTask(m);
      case "DiscoverRoutes":
        return this.send(this.registry);
      case "CancelTask":
        return this.cancel(m.taskId);
      case "Shutdown":
        if (!m.graceful) process.exit(0);
        this.shuttingDown = true;
        return this.exitWhenIdle();
      case "BodyChunk":
      case "BodyEnd":
      case "WindowUpdate":
      case "WebSocketMessage":
      case "WebSocketClose":
        return this.streamFrame(m);
      default:
        this.violation(`unexpected ${m.type} from the orchestrator`);
    }
  }

  private runTask(assignment: TaskAssignment): void {
    const { taskId } = assignment;
    if (this.shuttingDown) return this.violation(`task ${taskId} assigned after Shutdown`);
    if (this.tasks.has(taskId)) return this.violation(`task ${taskId} is already in flight`);
    const kind = this.kinds.get(assignment.route) ?? NO_KIND;
    const task = new Task(taskId, this, kind, kind.streamLargeBody === true && bodyFollows(assignment));
    this.tasks.set(taskId, task);
    // A handler known to hold the loop starts in a later turn: the tasks that came in the same
    // read, and the results they settle now, leave first instead of waiting out its run.
    if (blocksLoop(assignment.route)) setImmediate(() => task.ended || this.begin(task, assignment));
    else this.begin(task, assignment);
  }

  private begin(task: Task, assignment: TaskAssignment): void {
    const { taskId } = assignment;
    this.runner
      .run(assignment, { signal: task.abort.signal, body: task.body?.stream, websocket: task.websocket })
      .catch((err: unknown) => errorOutcome(500, `the worker failed: ${String(err)}`, HANDLER_FAILED))
      .then((outcome) => {
        if (task.ended) {
          // Cancelled while the handler ran: stop a stream it returned all the same.
          if (outcome && !Buffer.isBuffer(outcome.body)) sourceOf(outcome).cancel();
          return;
        }
        if (outcome === undefined) return this.end(task, encodeWebSocketClose(taskId, 1000, ""));
        if (Buffer.isBuffer(outcome.body)) return this.end(task, resultFrame(taskId, outcome, assignment));
        void this.stream(task, outcome, assignment);
      });
  }

  /**
   * Sends a streamed response: the head, then each chunk the body yields, split to MAX_CHUNK,
   * pulling the next one only while the orchestrator's window is open, then BodyEnd.
   */
  private async stream(task: Task, outcome: Outcome, assignment: TaskAssignment): Promise<void> {
    const source = sourceOf(outcome, assignment);
    const oversized = oversizedHeader(outcome.headers);
    if (oversized !== null) {
      source.cancel();
      return this.end(task, headerRefusal(task.id, requestLabel(assignment), oversized));
    }
    task.source = source;
    this.send(encodeResponseHead(task.id, outcome.status, outcome.flags, outcome.headers as Pair[]));
    try {
      for (;;) {
        await task.windowOpen();
        if (task.ended) return;
        const chunk = await source.next();
        if (task.ended) return;
        if (chunk === undefined) break;
        for (let offset = 0; offset < chunk.length; offset += MAX_CHUNK) {
          if (offset > 0) await task.windowOpen();
          if (task.ended) return;
          task.sendChunk(chunk.subarray(offset, offset + MAX_CHUNK));
        }
      }
    } catch (err) {
      if (task.ended) return;
      const { stack } = describeThrown(err);
      process.stderr.write(`neutrino: ${source.label} failed\n${stack}\n`);
      source.cancel(); // a generator left at a yield by a chunk it could not send runs its finally
      return this.end(task, encodeBodyEnd(task.id, BODY_INCOMPLETE));
    }
    this.end(task, encodeBodyEnd(task.id, 0));
  }

  /** A frame of a task's streams. Frames for a task that has ended cross on the wire: ignored. */
  private streamFrame(m: StreamFrame): void {
    const task = this.tasks.get(m.taskId);
    if (!task) return;
    try {
      switch (m.type) {
        case "WindowUpdate":
          return task.grant(m.increment);
        case "BodyChunk":
          if (!task.body) return this.violation(`BodyChunk for task ${m.taskId}, whose route does not stream its body`);
          return task.body.push(m.data);
        case "BodyEnd":
          if (!task.body) return this.violation(`BodyEnd for task ${m.taskId}, whose route does not stream its body`);
          return task.body.finish(m.flags);
        case "WebSocketMessage":
          if (!task.websocket?.accepted) return this.violation(`WebSocketMessage for task ${m.taskId}, not an accepted WebSocket`);
          return task.websocket.push(m.binary, m.data);
        case "WebSocketClose":
          if (!task.websocket) return this.violation(`WebSocketClose for task ${m.taskId}, not a WebSocket`);
          return task.websocket.peerClosed(m.code, m.reason);
        default:
          return this.violation(`unexpected ${m.type} from the orchestrator`);
      }
    } catch (err) {
      if (err instanceof WindowExceeded) return this.violation(err.message);
      throw err;
    }
  }

  /**
   * Abandons a task (its client left, or it ran out of time): the handler's request.signal is
   * aborted, a stream it returned is cancelled (its `finally` blocks run), and the task is
   * answered at once with the frame that ends it in its state, which frees the slot. A promise
   * cannot be stopped from outside: a handler still running has its eventual result dropped.
   */
  private cancel(taskId: number): void {
    const task = this.tasks.get(taskId);
    if (!task) return; // it finished while the CancelTask was on its way
    let frame: Buffer;
    if (task.websocket?.accepted) frame = encodeWebSocketClose(taskId, GOING_AWAY, "");
    else if (task.source) frame = encodeBodyEnd(taskId, BODY_INCOMPLETE);
    else frame = encodeTaskResult(taskId, 504, HANDLER_FAILED, [], CANCELLED_BODY);
    this.end(task, frame);
    task.abort.abort();
    task.source?.cancel();
  }

  /** Sends the frame that ends `task` and forgets it; the first call wins. */
  end(task: Task, frame: Buffer): void {
    if (task.ended) return;
    this.tasks.delete(task.id);
    task.close();
    this.send(frame);
    if (this.shuttingDown) this.exitWhenIdle();
  }

  /** Frames written in the same tick leave in one write: cork now, uncork once the tick is done. */
  send(frame: Buffer | Buffer[]): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (Array.isArray(frame)) for (const part of frame) this.socket.write(part);
    else this.socket.write(frame);
  }

  private violation(message: string): void {
    this.protocolError(new ProtocolError("malformed", message));
  }

  private exitWhenIdle(): void {
    // end() flushes what is corked and calls back once it is written.
    if (this.tasks.size === 0) this.socket.end(() => process.exit(0));
  }

  private protocolError(err: ProtocolError): void {
    process.stderr.write(`neutrino worker ${this.workerId}: protocol error (${err.kind}): ${err.message}\n`);
    process.exit(2);
  }
}

/** The outcome's body as a source; a fetch app's stream is named in the log by its request. */
function sourceOf(outcome: Outcome, task?: TaskAssignment): BodySource {
  const { body } = outcome;
  if (body instanceof BodySource) return body;
  const label = task ? `the streamed response of ${requestLabel(task)}` : undefined;
  return BodySource.from(body as ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, undefined, label);
}

/** Room for a TaskResult's fixed fields: type, task_id, status, flags and the header count. */
const RESULT_FIXED = 1 + 4 + 2 + 1 + 2;

/**
 * A buffered outcome's TaskResult, or a 500 when it would not fit one frame: the orchestrator
 * would refuse the frame and lose the worker, so the handler is told to stream instead.
 */
function resultFrame(taskId: number, outcome: Outcome, task: TaskAssignment): Buffer {
  const body = outcome.body as Buffer;
  let size = RESULT_FIXED + body.length;
  let longest = 0;
  for (const [name, value] of outcome.headers) {
    const length = Buffer.byteLength(name) + Buffer.byteLength(value);
    size += 4 + length;
    if (length > longest) longest = length;
  }
  if (longest > MAX_STR16) {
    const oversized = oversizedHeader(outcome.headers);
    if (oversized !== null) return headerRefusal(taskId, requestLabel(task), oversized);
  }
  if (size <= DEFAULT_MAX_FRAME) return encodeTaskResult(taskId, outcome.status, outcome.flags, outcome.headers as Pair[], body);
  const detail = "response too large to buffer: stream it";
  process.stderr.write(`neutrino: ${requestLabel(task)}: ${detail} (${body.length} bytes; a buffered response must fit one ${DEFAULT_MAX_FRAME}-byte frame)\n`);
  const refused = errorOutcome(500, detail, HANDLER_FAILED);
  return encodeTaskResult(taskId, refused.status, refused.flags, refused.headers as Pair[], refused.body as Buffer);
}

/** What the client reads when a response header cannot be sent (the log names the header). */
const RESPONSE_HEADER_TOO_LARGE = "a response header is too large to send (over 65,535 bytes)";

/**
 * The 500 that replaces a response with a header the protocol cannot carry: the head would not
 * encode, and a task without an answer would hold its client until --timeout.
 */
function headerRefusal(taskId: number, label: string, oversized: string): Buffer {
  process.stderr.write(`neutrino: ${label}: the response has ${oversized}; a header name or value may have at most ${MAX_STR16} bytes\n`);
  const refused = errorOutcome(500, RESPONSE_HEADER_TOO_LARGE, HANDLER_FAILED);
  return encodeTaskResult(taskId, refused.status, refused.flags, refused.headers as Pair[], refused.body as Buffer);
}

/** NEUTRINO_HEARTBEAT_INTERVAL in seconds, as milliseconds; 0 when unset or not a positive number. */
function heartbeatIntervalMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.NEUTRINO_HEARTBEAT_INTERVAL);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}
