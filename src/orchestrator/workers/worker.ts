/**
 * One worker process and its socket: start-up handshake, task assignment, results, shutdown.
 * What to do when a worker dies (answer its jobs, replace it) is the pool's business: the worker
 * only reports it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { AppSpec } from "../../shared/app-spec.js";
import type { Job } from "../dispatch/job.js";
import { encodeCancelTask, encodeDiscoverRoutes, encodeShutdown, ProtocolError } from "../../protocol/codec.js";
import { FrameDecoder } from "../../protocol/frame-decoder.js";
import type { Message, RouteInfo, RouteSync, StreamFrame } from "../../protocol/messages.js";
import type { WorkerRuntime } from "../runtimes/runtime.js";
import { StartupFailure } from "../../shared/startup-failure.js";
import { InflightTasks } from "./inflight.js";
import { forEachLine, SPLIT_MARK } from "./output-lines.js";
import type { SocketDir } from "./socket-dir.js";

export { StartupFailure };


export interface WorkerListener {
  /** A task finished, so the worker has a free slot; `serviceMs` is how long the worker ran it. */
  taskDone(worker: Worker, job: Job, serviceMs: number): void;
  /**
   * The worker process is gone after having been ready. `lostJobs` were running on it;
   * `unstartedJobs` were waiting in it behind a running task (see Worker.running) and can be
   * given to another worker.
   */
  exited(worker: Worker, lostJobs: Job[], cause: string, unstartedJobs: Job[]): void;
  /** A line the worker printed on stdout or stderr. */
  output(worker: Worker, stream: "stdout" | "stderr", line: string): void;
  /** Its Heartbeat said how long its handlers held its event loop, per route (Heartbeat.route_sync_ms). */
  routeSync?(worker: Worker, routeSyncMs: RouteSync): void;
}

export interface WorkerOptions {
  readonly id: string;
  readonly runtime: WorkerRuntime;
  readonly app: AppSpec;
  readonly socketDir: SocketDir;
  readonly listener: WorkerListener;
  /** How long the process may take to load the app and send WorkerReady. */
  readonly startTimeoutMs: number;
  /** The per-run secret the worker must present in its Hello. */
  readonly secret: string;
  /** How often an idle worker must send a Heartbeat (0: never). */
  readonly heartbeatIntervalMs: number;
  /** Time a connection to the socket gets to present its Hello (default HANDSHAKE_TIMEOUT_MS). */
  readonly handshakeTimeoutMs?: number;
}

export type WorkerLifecycle = "starting" | "ready" | "stopping" | "exited";

/**
 * A reported loop lag stays the worker's figure this long unless a larger one comes: a scrape
 * every 15 s sees a block that a later, quiet Heartbeat would otherwise hide.
 */
const LOOP_LAG_WINDOW_MS = 15_000;

/** Time between SIGTERM and SIGKILL when a worker is terminated. */
const TERMINATE_GRACE_MS = 2_000;

/** A Hello is tiny: anything bigger on an unauthenticated connection is refused. */
const HELLO_MAX_FRAME = 4096;

/**
 * Time a connection to a worker's socket gets to present its Hello. Workers send it as soon as
 * they connect, before loading the app, so a few seconds is ample; a silent connection is closed.
 */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

/** Frames queued in one turn up to this size are joined into one buffer; larger ones go by writev. */
const COALESCE_COPY_MAX = 16 * 1024;

/** Connections waiting for their Hello at once; more are refused until some are settled. */
const MAX_PENDING_CONNECTIONS = 8;

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Kept while starting, so a worker that dies before its handshake can say why. */
const STARTUP_OUTPUT_LINES = 30;

export class Worker {
  readonly id: string;
  pid = 0;
  concurrency = 1;
  /** performance.now() of the last byte received: a hung worker is one that stays silent. */
  lastHeard = 0;
  /**
   * performance.now() of the last stream frame sent to it (data, a window): a worker blocked on a
   * stream may be silent since then, waiting for it, without being hung.
   */
  lastSent = 0;
  /** Tasks completed, for --max-requests. */
  served = 0;
  /** The language it runs ("python", "node"), from its WorkerReady. */
  runtime = "";
  /**
   * The longest event-loop delay it reported (Heartbeat.loop_lag_ms) in about the last
   * LOOP_LAG_WINDOW_MS, for the metrics; undefined for a worker that does not report one.
   */
  loopLagMs: number | undefined;
  private loopLagAt = 0;
  private state: WorkerLifecycle = "starting";
  private child: ChildProcess | null = null;
  private socket: Socket | null = null;
  // In assignment order: a worker with concurrency 1 runs them in that order, so the first is
  // running and any other waits behind it.
  private readonly inflight = new InflightTasks();
  /**
   * Runs its tasks one after another in the order received, reading the next only once it has
   * answered the last: a Python worker with concurrency 1. (A Node worker starts each task as it
   * arrives, whatever its concurrency.) Such a worker may be sent a task while busy: it waits.
   */
  sequential = false;
  /**
   * Says TaskStarted before it runs a task (a Python worker of concurrency above 1): a task it
   * did not say so for was never started.
   */
  private acksStart = false;
  /** Tasks in flight it said TaskStarted for (only when acksStart). */
  private readonly started = new Set<number>();
  /** performance.now() when the running task of a sequential worker started. */
  private runningSince = 0;
  /**
   * The highest task id given to this worker: a stream frame for a lower id not in flight is for
   * a task that has ended (the two crossed on the wire), not a protocol error.
   */
  private highestTaskId = 0;
  private readonly decoder = new FrameDecoder();
  /**
   * Frames written during this event-loop turn, sent together when it ends (see write): one
   * syscall, and at most one wakeup of the worker, however many tasks the turn gave it.
   */
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  private readonly flushOutbox = (): void => this.flush();
  private readonly startupOutput: string[] = [];
  private pendingRoutes: { resolve(r: RouteInfo[]): void; reject(e: Error): void } | null = null;
  private readonly exitedPromise: Promise<void>;
  private markExited!: () => void;
  private exitCause = "";
  /** Killed or terminated on purpose, waiting for the exit. */
  private dying = false;

  constructor(private readonly options: WorkerOptions) {
    this.id = options.id;
    this.exitedPromise = new Promise((resolve) => (this.markExited = resolve));
  }

  /** Serving: started, not told to stop, not being killed. */
  get ready(): boolean {
    return this.state === "ready" && !this.dying;
  }

  /** Told to stop, finishing its in-flight tasks. */
  get draining(): boolean {
    return this.state === "stopping" && !this.dying;
  }

  /** Where the process is in its life (the status page shows it). */
  get lifecycle(): WorkerLifecycle {
    return this.state;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * The task a sequential worker is running now (the others in flight wait behind it), or
   * undefined when it has none or is not sequential.
   */
  get running(): Job | undefined {
    return this.sequential ? this.inflight.first : undefined;
  }

  /** The jobs this worker is running now (for logs and status). */
  inflightJobs(): Job[] {
    return [...this.inflight.values()];
  }

  /** The same jobs, not copied, for a check made on every dispatch: read at once, never kept. */
  get heldJobs(): readonly Job[] {
    return this.inflight.live;
  }

  /**
   * The jobs given to this worker that it has certainly not started: those a sequential worker
   * holds behind its running one, and those a worker that acknowledges starts did not acknowledge.
   * If the worker dies they can go to another one.
   */
  unstartedJobs(): Job[] {
    const jobs = [...this.inflight.values()];
    if (this.sequential) return jobs.slice(1);
    if (this.acksStart) return jobs.filter((j) => !this.started.has(j.taskId));
    return [];
  }

  /** Starts the process and resolves once it sent WorkerReady. Rejects with a StartupFailure. */
  start(): Promise<void> {
    const { runtime, app, socketDir, startTimeoutMs } = this.options;
    const socketPath = socketDir.socketPath(this.id);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (failure: StartupFailure): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        server.close();
        for (const socket of this.unauthenticated) socket.destroy();
        this.kill();
        reject(failure);
      };
      const timer = setTimeout(
        () => fail(new StartupFailure("timeout", `worker ${this.id} did not become ready within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      this.onReady = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      this.onStartupError = fail;

      const server: Server = createServer();
      server.maxConnections = MAX_PENDING_CONNECTIONS;
      server.on("connection", (socket) => this.authenticate(socket, server));
      server.once("error", (err) => fail(new StartupFailure("socket", `cannot listen on ${socketPath}: ${err.message}`)));
      server.listen(socketPath, () => {
        const cmd = runtime.command(socketPath, this.id, app);
        const { heartbeatIntervalMs } = this.options;
        const env =
          heartbeatIntervalMs > 0 ? { ...cmd.env, NEUTRINO_HEARTBEAT_INTERVAL: String(heartbeatIntervalMs / 1000) } : cmd.env;
        // Its own process group (detached), so that killing the worker also kills whatever its
        // handlers started: see killGroup.
        const child = spawn(cmd.file, cmd.args, { env, stdio: ["pipe", "pipe", "pipe"], detached: true });
        this.child = child;
        // The secret travels on stdin: unlike argv and the environment, other processes cannot read it.
        child.stdin!.on("error", () => {}); // a worker that dies at once closes the pipe; its exit is reported
        child.stdin!.end(`${this.options.secret}\n`);
        child.once("error", (err: NodeJS.ErrnoException) => {
          const why = err.code === "ENOENT" ? "not found" : err.message;
          fail(new StartupFailure("spawn", `cannot start ${runtime.name} worker with "${cmd.file}": ${why}`));
        });
        child.once("spawn", () => (this.pid = child.pid ?? 0));
        this.pipeOutput(child, "stdout");
        this.pipeOutput(child, "stderr");
        child.once("exit", (code, signal) => {
          // The worker is gone; processes its handlers started must not outlive it.
          this.killGroup();
          const how = signal ? `killed by ${signal}` : `exit code ${code}`;
          this.exitCause = this.exitCause ? `${this.exitCause}; ${how}` : how;
          // stdout/stderr may still hold the last lines; let them drain before reporting.
          setImmediate(() => {
            if (!settled) {
              const output = this.startupOutput.join("\n");
              fail(
                new StartupFailure(
                  "exited",
                  `worker ${this.id} exited before it was ready (${this.exitCause})` + (output ? `:\n${output}` : ""),
                  "",
                  signal,
                ),
              );
            }
            this.handleExit();
          });
        });
      });
    });
  }

  /** Asks the worker for its routes (the discovery step of start-up). */
  discoverRoutes(): Promise<RouteInfo[]> {
    return new Promise((resolve, reject) => {
      this.pendingRoutes = { resolve, reject };
      this.write(encodeDiscoverRoutes());
    });
  }

  /** Hands a job to this worker; the dispatcher checked that it has a free slot. */
  assign(job: Job): void {
    if (this.inflight.size === 0) this.runningSince = job.assignedAt;
    this.inflight.set(job.taskId, job);
    if (job.taskId > this.highestTaskId) this.highestTaskId = job.taskId;
    this.write(job.frame);
    job.assigned?.(this);
  }

  /** Whether the task is in flight here (not ended on the worker's side). */
  has(taskId: number): boolean {
    return this.inflight.has(taskId);
  }

  /** Writes frames of a task in flight (stream data, window updates) to the worker's socket. */
  send(frames: Buffer | readonly Buffer[]): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    this.lastSent = performance.now();
    if (Buffer.isBuffer(frames)) this.write(frames);
    else for (const frame of frames) this.write(frame);
  }

  /**
   * Queues a frame for the worker; the queue goes out in one write once this turn's callbacks
   * have run (setImmediate: after every socket event of the poll phase, so requests read from
   * several clients in one turn share it). Every frame takes this path, so their order on the
   * wire is the order of the calls. Bounded by one turn's work; streams keep their own windows.
   */
  private write(frame: Buffer): void {
    if (this.outbox.length === 0) setImmediate(this.flushOutbox);
    this.outbox.push(frame);
    this.outboxBytes += frame.length;
  }

  private flush(): void {
    const frames = this.outbox;
    const bytes = this.outboxBytes;
    this.outbox = [];
    this.outboxBytes = 0;
    const socket = this.socket;
    if (!socket || socket.destroyed || frames.length === 0) return;
    if (frames.length === 1) socket.write(frames[0]!);
    // Small frames are cheaper copied into one buffer than handed to writev one by one.
    else if (bytes <= COALESCE_COPY_MAX) socket.write(Buffer.concat(frames, bytes));
    else {
      socket.cork();
      for (const frame of frames) socket.write(frame);
      socket.uncork();
    }
  }

  /**
   * Stops the worker: Shutdown now, SIGKILL after `timeoutMs`. The dispatcher must already have
   * stopped giving it work. Resolves when the process is gone.
   */
  stop(timeoutMs: number): Promise<void> {
    if (this.state === "exited") return this.exitedPromise;
    this.state = "stopping";
    if (this.socket && !this.socket.destroyed) this.write(encodeShutdown(true));
    else this.kill();
    const timer = setTimeout(() => this.kill(), timeoutMs);
    return this.exitedPromise.finally(() => clearTimeout(timer));
  }

  /**
   * Asks the worker to abandon a task: an async worker's timed-out task, or a stream of any
   * worker (docs/protocol.md, Ending early). Its slot frees when the worker ends the task.
   * `flags` CANCEL_CLIENT_GONE: the client left, and the worker may let the handler run on.
   */
  cancel(taskId: number, flags = 0): void {
    if (this.inflight.has(taskId) && this.socket && !this.socket.destroyed) this.write(encodeCancelTask(taskId, flags));
  }

  /**
   * Kills the process at once (SIGKILL); `cause` says why in the log line of its exit.
   * Its exit is reported as usual.
   */
  kill(cause?: string): void {
    this.dying = true;
    if (cause && !this.exitCause) this.exitCause = cause;
    if (this.alive) this.killGroup();
  }

  /**
   * SIGKILL to the worker's process group: the worker and any process a handler started (and did
   * not move to a group of its own). Also sent once the worker has exited, for those left behind;
   * the group id cannot have been reused while any member lives.
   */
  private killGroup(): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // ESRCH: nothing left in the group
    }
  }

  /** SIGTERM, then SIGKILL if the process is still there after a grace period. */
  terminate(cause: string): void {
    this.dying = true;
    if (!this.exitCause) this.exitCause = cause;
    if (!this.alive) return;
    this.child!.kill("SIGTERM");
    const timer = setTimeout(() => this.kill(), TERMINATE_GRACE_MS);
    void this.exitedPromise.then(() => clearTimeout(timer));
  }

  private get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resident memory in bytes, from /proc (0 if unknown). */
  rss(): number {
    if (!this.pid) return 0;
    try {
      const match = /VmRSS:\s*(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, "latin1"));
      return match ? Number(match[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  get exited(): Promise<void> {
    return this.exitedPromise;
  }

  private onReady: () => void = () => {};
  private onStartupError: (f: StartupFailure) => void = () => {};

  /** Connections to the socket that have not presented their Hello yet. */
  private readonly unauthenticated = new Set<Socket>();

  /**
   * The first frame on a connection must be a Hello with this run's secret, within
   * HANDSHAKE_TIMEOUT_MS; anything else is dropped and the socket keeps waiting for the real
   * worker. Once it is in, every other connection is closed: a worker has exactly one.
   */
  private authenticate(socket: Socket, server: Server): void {
    const decoder = new FrameDecoder(HELLO_MAX_FRAME);
    this.unauthenticated.add(socket);
    const refuse = (): void => {
      socket.destroy();
    };
    const timer = setTimeout(refuse, Math.min(this.options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, this.options.startTimeoutMs));
    socket.on("error", refuse);
    const onData = (chunk: Buffer): void => {
      let messages: Message[];
      try {
        messages = decoder.push(chunk);
      } catch {
        refuse();
        return;
      }
      if (messages.length === 0) return;
      const hello = messages[0]!;
      if (hello.type !== "Hello" || hello.workerId !== this.id || !sameSecret(hello.secret, this.options.secret) || this.socket) {
        refuse();
        return;
      }
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", refuse);
      this.unauthenticated.delete(socket);
      // The worker is in: stop listening, which removes the socket file, so nobody else can
      // connect, and drop whoever connected meanwhile.
      server.close();
      for (const other of this.unauthenticated) other.destroy();
      this.unauthenticated.clear();
      this.attach(socket);
      for (const m of messages.slice(1)) this.handle(m);
    };
    socket.on("data", onData);
    socket.once("close", () => {
      clearTimeout(timer);
      this.unauthenticated.delete(socket);
    });
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    this.lastHeard = performance.now();
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.lastHeard = performance.now();
      let messages: Message[];
      try {
        messages = this.decoder.push(chunk);
      } catch (err) {
        // Nothing after a refused frame can be read as frames: stop reading, report it once.
        socket.removeAllListeners("data");
        socket.pause();
        this.protocolViolation((err as ProtocolError).message);
        return;
      }
      for (const m of messages) this.handle(m);
    });
    socket.on("error", () => {}); // 'close' follows; the exit handler reports what matters
    socket.on("close", () => {
      // A worker that drops its socket cannot be used any more, whatever it is doing.
      if (this.state !== "exited") this.kill();
    });
  }

  private handle(m: Message): void {
    switch (m.type) {
      case "TaskResult": {
        const job = this.inflight.get(m.taskId);
        if (!job) {
          // Never trust a result for a task this worker was not given.
          this.protocolViolation(`result for unknown task ${m.taskId}`);
          return;
        }
        const serviceMs = this.endTask(job);
        job.complete(m);
        this.options.listener.taskDone(this, job, serviceMs);
        return;
      }
      case "ResponseHead":
      case "BodyChunk":
      case "BodyEnd":
      case "WindowUpdate":
      case "WebSocketAccept":
      case "WebSocketMessage":
      case "WebSocketClose":
        return this.streamFrame(m);
      case "TaskStarted":
        if (!this.inflight.has(m.taskId)) return this.protocolViolation(`TaskStarted for unknown task ${m.taskId}`);
        this.started.add(m.taskId);
        return;
      case "WorkerReady":
        if (this.state !== "starting") return this.protocolViolation("WorkerReady sent twice");
        this.pid = m.pid;
        this.runtime = m.runtime;
        this.concurrency = Math.max(1, m.concurrency);
        this.sequential = m.runtime === "python" && this.concurrency === 1;
        this.acksStart = m.runtime === "python" && this.concurrency > 1;
        this.state = "ready";
        this.onReady();
        return;
      case "StartupError":
        this.onStartupError(StartupFailure.fromMessage(m));
        return;
      case "RouteRegistry":
        if (!this.pendingRoutes) return this.protocolViolation("RouteRegistry without DiscoverRoutes");
        this.pendingRoutes.resolve(m.routes);
        this.pendingRoutes = null;
        return;
      case "Heartbeat":
        // lastHeard is updated for every byte received; a Node worker's also reports on its event loop.
        if (m.loopLagMs !== undefined) this.noteLoopLag(m.loopLagMs);
        if (m.routeSyncMs !== undefined) this.options.listener.routeSync?.(this, m.routeSyncMs);
        return;
      default:
        this.protocolViolation(`unexpected ${m.type} from a worker`);
    }
  }

  /** Keeps the largest lag reported within LOOP_LAG_WINDOW_MS (see loopLagMs). */
  private noteLoopLag(ms: number): void {
    const now = performance.now();
    if (this.loopLagMs === undefined || ms >= this.loopLagMs || now - this.loopLagAt > LOOP_LAG_WINDOW_MS) {
      this.loopLagMs = ms;
      this.loopLagAt = now;
    }
  }

  /** Takes a finished task out of flight; returns how long the worker ran it (milliseconds). */
  private endTask(job: Job): number {
    this.inflight.delete(job.taskId);
    this.started.delete(job.taskId);
    this.served++;
    const now = performance.now();
    if (!this.sequential) return now - job.assignedAt;
    // The next task in flight, if any, starts now: its wait behind this one is not service.
    const serviceMs = now - this.runningSince;
    this.runningSince = now;
    return serviceMs;
  }

  /** A frame of a streaming task goes to its job; a BodyEnd or WebSocketClose ends the task. */
  private streamFrame(m: StreamFrame): void {
    const job = this.inflight.get(m.taskId);
    if (!job) {
      if (m.taskId <= this.highestTaskId) return; // the task ended while this frame was on its way
      return this.protocolViolation(`${m.type} for unknown task ${m.taskId}`);
    }
    if (!job.onStreamFrame) return this.protocolViolation(`${m.type} for task ${m.taskId}, which cannot stream`);
    if (m.type !== "BodyEnd" && m.type !== "WebSocketClose") {
      const error = job.onStreamFrame(m, this);
      if (error) this.protocolViolation(`${error} (task ${m.taskId})`);
      return;
    }
    const serviceMs = this.endTask(job);
    const error = job.onStreamFrame(m, this);
    if (error) {
      // The task is out of flight already, so the worker's exit will not answer it: do it here.
      job.fail(502, "the worker handling this request broke the wire protocol");
      this.protocolViolation(`${error} (task ${m.taskId})`);
    }
    this.options.listener.taskDone(this, job, serviceMs);
  }

  private protocolViolation(why: string): void {
    this.exitCause ||= `protocol error: ${why}`;
    this.options.listener.output(this, "stderr", `neutrino: killing worker ${this.id}: protocol error: ${why}`);
    this.kill();
  }

  private handleExit(): void {
    const wasReady = this.state === "ready" || this.state === "stopping";
    const stopping = this.state === "stopping";
    this.state = "exited";
    this.socket?.destroy();
    this.pendingRoutes?.reject(new StartupFailure("exited", `worker ${this.id} exited during route discovery (${this.exitCause})`));
    this.pendingRoutes = null;
    const unstarted = this.unstartedJobs();
    const lost = [...this.inflight.values()].filter((j) => !unstarted.includes(j));
    this.inflight.clear();
    this.started.clear();
    this.markExited();
    if (wasReady && !(stopping && lost.length === 0 && unstarted.length === 0)) {
      this.options.listener.exited(this, lost, this.exitCause, unstarted);
    }
  }

  private pipeOutput(child: ChildProcess, stream: "stdout" | "stderr"): void {
    forEachLine(child[stream]!, (piece, split) => {
      const line = split ? piece + SPLIT_MARK : piece;
      if (this.state === "starting") {
        this.startupOutput.push(line);
        if (this.startupOutput.length > STARTUP_OUTPUT_LINES) this.startupOutput.shift();
      }
      this.options.listener.output(this, stream, line);
    });
  }
}
