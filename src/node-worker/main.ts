/**
 * The Node worker process the orchestrator starts, one per socket (docs/protocol.md, "Connection"):
 *
 *     node [--import <tsx>] dist/src/node-worker/main.js <socket_path> <worker_id> <app_path>
 *
 * Unlike the synchronous Python worker it runs many tasks at once (NEUTRINO_WORKER_CONCURRENCY,
 * announced in WorkerReady) and answers each as soon as its handler settles, in any order.
 * Exit status: 0 after Shutdown or when the orchestrator goes away, 1 when the app cannot be
 * loaded (after sending StartupError) or the socket cannot be reached, 2 on a protocol error.
 */
import { readFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import {
  encodeHeartbeat,
  encodeHello,
  encodeRouteRegistry,
  encodeStartupError,
  encodeTaskResult,
  encodeWorkerReady,
  ProtocolError,
} from "../protocol/codec.js";
import { FrameDecoder } from "../protocol/frame-decoder.js";
import { HANDLER_FAILED, type Message, type TaskAssignment } from "../protocol/messages.js";
import type { App } from "../sdk/app.js";
import { loadApp, StartupFailure } from "./app-loader.js";
import { concurrencyFrom } from "./concurrency.js";
import { errorOutcome, Executor, type Outcome } from "./executor.js";
import { dieWithParent } from "./parent-watch.js";

const CANCELLED_BODY = Buffer.from(JSON.stringify({ error: "Gateway Timeout", detail: "the task was cancelled" }));
const USAGE = "usage: node dist/src/node-worker/main.js <socket_path> <worker_id> <app_path>\n";

async function main(args: string[]): Promise<void> {
  if (args.length !== 3) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const [socketPath, workerId, appPath] = args as [string, string, string];
  // Ctrl-C in a terminal reaches the whole process group; the orchestrator drains the workers
  // and then sends Shutdown, so the worker must not die on SIGINT first.
  process.on("SIGINT", () => {});
  dieWithParent();
  // A promise nobody awaits cannot have left the worker's own state half-done: report it and go
  // on serving, as a Python worker goes on when a background thread fails.
  process.on("unhandledRejection", (reason) => {
    const text = reason instanceof Error ? (reason.stack ?? String(reason)) : String(reason);
    process.stderr.write(`neutrino worker ${workerId}: unhandled promise rejection (the worker keeps serving):\n${text}\n`);
  });

  const concurrency = concurrencyFrom(process.env);
  const secret = readSecret();
  const socket = await connect(socketPath).catch((err: Error) => {
    process.stderr.write(`neutrino worker ${workerId}: cannot connect to ${socketPath}: ${err.message}\n`);
    process.exit(1);
  });
  // Hello first, before the app loads (which may take a while): the orchestrator authenticates us early.
  socket.write(encodeHello(workerId, secret));
  let app: App;
  try {
    app = await loadApp(appPath);
  } catch (err) {
    const failure = err instanceof StartupFailure ? err : new StartupFailure("import_error", String(err));
    socket.on("error", () => process.stderr.write(`neutrino worker ${workerId}: ${failure.message}\n${failure.traceback}`));
    socket.end(encodeStartupError(failure.kind, failure.message, failure.traceback), () => process.exit(1));
    return;
  }
  new Connection(socket, workerId, new Executor(app)).start(concurrency);
}

/** The per-run secret arrives on stdin (never argv or env, which other processes can read). */
function readSecret(): string {
  if (process.stdin.isTTY) return "";
  try {
    return readFileSync(0, "utf8").trim();
  } catch {
    return "";
  }
}

/** NEUTRINO_HEARTBEAT_INTERVAL in seconds, as milliseconds; 0 when unset or not a positive number. */
function heartbeatIntervalMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.NEUTRINO_HEARTBEAT_INTERVAL);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** The worker's end of the socket once the app is loaded: reads tasks, writes results. */
class Connection {
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

await main(process.argv.slice(2));
