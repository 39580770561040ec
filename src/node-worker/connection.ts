/**
 * The worker's end of the socket once the app is loaded (docs/protocol.md): reads TaskAssignment,
 * DiscoverRoutes, CancelTask and Shutdown frames, runs tasks through the Executor, many at once,
 * and writes each TaskResult as soon as its handler settles. Exits when the orchestrator goes away.
 */
import type { Socket } from "node:net";
import { encodeHeartbeat, encodeRouteRegistry, encodeTaskResult, encodeWorkerReady, ProtocolError } from "../protocol/codec.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import { HANDLER_FAILED, type Message, type TaskAssignment } from "../protocol/messages.js";
import { errorOutcome, type Executor, type Outcome } from "./executor.js";

const CANCELLED_BODY = Buffer.from(JSON.stringify({ error: "Gateway Timeout", detail: "the task was cancelled" }));

export class Connection {
  private readonly decoder = new FrameDecoder();
  private readonly inflight = new Set<number>();
  /** Tasks the orchestrator cancelled: already answered, their handlers' results are dropped. */
  private readonly cancelled = new Set<number>();
  private readonly registry: Buffer;
  private shuttingDown = false;
  private corked = false;

  constructor(
    private readonly socket: Socket,
    private readonly workerId: string,
    private readonly executor: Executor,
  ) {
    this.registry = encodeRouteRegistry(executor.routes);
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
    // orchestrator's --worker-timeout detects. Sending them while tasks run is allowed.
    const interval = heartbeatIntervalMs(process.env);
    if (interval > 0) setInterval(() => this.send(encodeHeartbeat(this.workerId)), interval).unref();
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
      default:
        this.protocolError(new ProtocolError("malformed", `unexpected ${m.type} from the orchestrator`));
    }
  }

  private runTask(task: TaskAssignment): void {
    const { taskId } = task;
    if (this.shuttingDown) return this.protocolError(new ProtocolError("malformed", `task ${taskId} assigned after Shutdown`));
    if (this.inflight.has(taskId)) return this.protocolError(new ProtocolError("malformed", `task ${taskId} is already in flight`));
    this.inflight.add(taskId);
    this.executor
      .run(task)
      .catch((err: unknown) => errorOutcome(500, `the worker failed: ${String(err)}`, HANDLER_FAILED))
      .then((outcome: Outcome) => {
        if (this.cancelled.delete(taskId)) return;
        this.inflight.delete(taskId);
        this.send(encodeTaskResult(taskId, outcome.status, outcome.flags, outcome.headers, outcome.body));
        if (this.shuttingDown) this.exitWhenIdle();
      });
  }

  /**
   * A promise cannot be stopped from outside: answer the task now (the orchestrator discards the
   * answer, the client already has its 504), which frees the slot, and drop the handler's result.
   */
  private cancel(taskId: number): void {
    if (!this.inflight.delete(taskId)) return; // it finished while the CancelTask was on its way
    this.cancelled.add(taskId);
    this.send(encodeTaskResult(taskId, 504, HANDLER_FAILED, [], CANCELLED_BODY));
    if (this.shuttingDown) this.exitWhenIdle();
  }

  /** Results finished in the same tick leave in one write: cork now, uncork once the tick is done. */
  private send(frame: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  private exitWhenIdle(): void {
    // end() flushes what is corked and calls back once it is written.
    if (this.inflight.size === 0) this.socket.end(() => process.exit(0));
  }

  private protocolError(err: ProtocolError): void {
    process.stderr.write(`neutrino worker ${this.workerId}: protocol error (${err.kind}): ${err.message}\n`);
    process.exit(2);
  }
}

/** NEUTRINO_HEARTBEAT_INTERVAL in seconds, as milliseconds; 0 when unset or not a positive number. */
function heartbeatIntervalMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.NEUTRINO_HEARTBEAT_INTERVAL);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

