/** A request on its way to a worker: what the dispatcher, the queue and the workers pass around. */
import type { StreamFrame, TaskResult } from "../../protocol/messages.js";
import type { Worker } from "../workers/worker.js";

export interface Job {
  /** The task id on the wire; unique across the whole server while in flight. */
  readonly taskId: number;
  /** The encoded TaskAssignment, ready to write to any worker's socket. */
  readonly frame: Buffer;
  readonly method: string;
  readonly route: string;
  readonly requestId: string;
  /** A synchronous handler's task (`"sync": true`): a worker runs at most one of those at a time. */
  readonly sync?: boolean;
  /**
   * Set by the dispatcher when the job is submitted: its route is slow (see Dispatcher), so the
   * worker that runs it counts as busy with slow work until it is done.
   */
  slow: boolean;
  /**
   * Set by the dispatcher when the job is submitted: its route blocks its worker's event loop (see
   * Dispatcher.setBlocking), so it is dispatched as a sync job.
   */
  blocking?: boolean;
  /** performance.now() when the request was submitted. */
  readonly submittedAt: number;
  /** performance.now() when a worker got it (0 while queued): splits queue wait from worker time. */
  assignedAt: number;
  /** True when nobody waits for the answer any more (the client went away while it was queued). */
  readonly abandoned: boolean;
  /**
   * The job is dropped, unrun or unanswered, because it was abandoned: it records its client's
   * leaving (499), so the request still shows in the metrics and the access log.
   */
  left?(): void;
  /** The client has its answer (the result, or an error such as a timeout). */
  readonly answered: boolean;
  /**
   * The client left before its answer and the worker was told so (CancelTask with
   * CANCEL_CLIENT_GONE): a worker may let the handler run on, and --timeout still ends it.
   */
  readonly clientGone?: boolean;
  /** Sends the worker's result to the client; ignored once answered. */
  complete(result: TaskResult): void;
  /**
   * Called by Worker.assign once the TaskAssignment went out to `worker`: a job that streams
   * learns where to send its frames (request body chunks, window updates).
   */
  assigned?(worker: Worker): void;
  /**
   * A frame of this task's stream or WebSocket from `worker` (docs/protocol.md, Streams). A
   * BodyEnd or WebSocketClose has already ended the task on the worker's side when it arrives
   * here. Returns a reason when the frame is a protocol error for this job (the worker is then
   * killed). Absent on a job that cannot stream: a stream frame for it is a protocol error.
   */
  onStreamFrame?(m: StreamFrame, worker: Worker): string | void;
  /**
   * The task streams (a response head came, or its route streams the request body or is a
   * WebSocket); stays true once set. Its worker is held for the stream's length, so nothing is
   * prefetched behind it, its service time says nothing about the route being quick, and
   * --timeout counts from `progressAt` instead of the submission.
   */
  readonly streaming: boolean;
  /** performance.now() of the stream's last progress (a frame either way); Infinity: never times out (a WebSocket). */
  readonly progressAt: number;
  /**
   * The worker is blocked on the client (its window is spent, or it waits for more of the
   * upload): its silence then is not a hang.
   */
  readonly waitingOnClient?: boolean;
  /** Answers with a JSON error body `{"error": reason phrase, "detail": detail}`; ignored once answered. */
  fail(status: number, detail: string, headers?: Record<string, string>): void;
}

let lastTaskId = 0;

/** Task ids wrap at 2^32; by then the task that used an id before is long done. */
export function nextTaskId(): number {
  lastTaskId = lastTaskId === 0xffffffff ? 1 : lastTaskId + 1;
  return lastTaskId;
}
