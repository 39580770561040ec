/**
 * The seam between the Connection (the wire protocol) and what runs the app's code: the SDK's
 * Executor, or a fetch app (fetch-app.ts). The Connection owns the frames, flow control and
 * cancellation; a runner turns one TaskAssignment into an Outcome.
 */
import type { Pair, RouteInfo, TaskAssignment } from "../protocol/messages.js";
import type { WebSocketChannel } from "../sdk/websocket.js";
import type { BodySource } from "./body-source.js";

export interface Outcome {
  readonly status: number;
  readonly flags: number;
  readonly headers: readonly Pair[];
  /**
   * A Buffer: the whole body, sent in one TaskResult. Anything else streams: ResponseHead, then
   * BodyChunk frames under the flow-control window, then BodyEnd (bit 0 if the body threw, which
   * is logged). A plain ReadableStream or AsyncIterable must yield Uint8Array chunks.
   */
  readonly body: Buffer | BodySource | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** An outcome whose body is buffered: one TaskResult. */
export interface BufferedOutcome extends Outcome {
  readonly body: Buffer;
}

/** The worker's end of one WebSocket task: the handler's channel, plus the handshake's answer. */
export interface WebSocketTask extends WebSocketChannel {
  /** Sends WebSocketAccept: the orchestrator completes the handshake with this subprotocol ("" for none). */
  accept(subprotocol: string, headers: readonly Pair[]): void;
}

export interface TaskContext {
  /** Aborted when the task is abandoned: CancelTask (the client left, or time ran out). */
  readonly signal: AbortSignal;
  /** For a route listed with streamBody: the request body, fed by BodyChunk frames, window granted as it is read. */
  readonly body?: ReadableStream<Uint8Array>;
  /** For a route listed with websocket: the connection's channel. */
  readonly websocket?: WebSocketTask;
}

export interface TaskRunner {
  /** The RouteRegistry entries. */
  readonly routes: RouteInfo[];
  /**
   * Never rejects: every failure is an error Outcome. Resolves with undefined when the task has
   * already ended through its WebSocket channel (a WebSocketClose was sent).
   */
  run(task: TaskAssignment, ctx: TaskContext): Promise<Outcome | undefined>;
}
