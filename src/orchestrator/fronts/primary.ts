/**
 * `--fronts N` above 1: the primary process. It forks N fronts (node:cluster: the fronts share the
 * listening sockets, the primary accepts and hands each connection to a front in turn), each a
 * whole Server supervising its share of --workers. The primary serves no request: it replaces a
 * front that dies, relays signals (SIGTERM/SIGINT drain every front at once, SIGHUP reloads the
 * fronts one after the other), and sums /metrics over the fronts. Design: docs/fronts.md.
 */
import cluster, { type Worker as ClusterWorker } from "node:cluster";
import { rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { AggregatorRegistry, Counter, Registry } from "prom-client";
import type { Logger } from "../log.js";
import { respawnDelayMs } from "../workers/pool.js";
import { FRONT_ENV, isMessage, type FrontMessage, type FrontReport, type PrimaryMessage, type SignalMessage, type Topic } from "./messages.js";

/** How long the primary waits for each front's report (a front that stays silent is reported as such, never waited on). */
const GATHER_TIMEOUT_MS = 800;
/** A front that served this long before it died starts a new series of crashes (its replacement is not delayed). */
const STABLE_AFTER_MS = 60_000;

export interface PrimaryOptions {
  readonly fronts: number;
  readonly workers: number;
  readonly log: Logger;
}

/** The workers front `index` of `count` supervises: --workers split as evenly as it goes. */
export function shareOf(workers: number, count: number, index: number): number {
  return Math.floor(workers / count) + (index < workers % count ? 1 : 0);
}

interface Front {
  readonly index: number;
  readonly process: ClusterWorker;
  ready: boolean;
  /** performance.now() when it said it listens. */
  readyAt: number;
  socketDir: string | null;
  /** Resolves when this front says its SIGHUP reload is done, or when it exits. */
  reloaded: (() => void) | null;
}

type State = "running" | "stopping";

export class Primary {
  private state: State = "running";
  private readonly fronts = new Map<number, Front>();
  private readonly aggregator = new AggregatorRegistry();
  private reloading: Promise<void> | null = null;
  /** Per front slot: crashes in a row (each after a short life), and replacements since start-up. */
  private readonly crashes: number[];
  private readonly restarts: number[];
  private readonly respawns = new Set<NodeJS.Timeout>();
  private readonly registry = new Registry();
  private readonly restartCounter = new Counter({
    name: "neutrino_front_restarts_total",
    help: "Fronts replaced after they died, by front slot (--fronts N).",
    labelNames: ["front"],
    registers: [this.registry],
  });
  private nextGather = 0;
  private readonly gathers = new Map<number, { answers: Map<number, unknown>; pending: Set<number>; finish: () => void }>();
  private ttin = 0;
  private exitCode = 0;
  private resolveExit!: (code: number) => void;
  private readonly exit = new Promise<number>((resolve) => (this.resolveExit = resolve));
  private readonly signalHandlers: Record<string, () => void> = {
    SIGTERM: () => this.stop("SIGTERM"),
    SIGINT: () => this.stop("SIGINT"),
    SIGHUP: () => void this.reload(),
    SIGTTIN: () => this.toOne("SIGTTIN"),
    SIGTTOU: () => this.toOne("SIGTTOU"),
  };
  /** A bug of the primary's: logged, then every front drains as on SIGTERM and the primary exits 1. */
  private readonly crashHandlers = {
    uncaughtException: (err: unknown) => this.crash(err, "uncaughtException"),
    unhandledRejection: (reason: unknown) => this.crash(reason, "unhandledRejection"),
  };

  constructor(private readonly options: PrimaryOptions) {
    this.crashes = new Array<number>(options.fronts).fill(0);
    this.restarts = new Array<number>(options.fronts).fill(0);
  }

  async run(): Promise<number> {
    const { fronts, workers, log } = this.options;
    log.info(
      { fronts, workers },
      `primary ${process.pid}: ${fronts} fronts (--fronts ${fronts}), each serving HTTP on its own core and supervising ${shareOf(workers, fronts, fronts - 1)}–${shareOf(workers, fronts, 0)} of ${workers} workers`,
    );
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.on(signal, handler);
    for (const [event, handler] of Object.entries(this.crashHandlers)) process.on(event, handler);
    // Last resort: a primary that leaves takes its fronts with it (each front's own exit hook takes its workers).
    process.once("exit", () => {
      for (const f of this.fronts.values()) f.process.process.kill("SIGKILL");
    });
    for (let i = 0; i < fronts; i++) this.fork(i);
    const code = await this.exit;
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.off(signal, handler);
    for (const [event, handler] of Object.entries(this.crashHandlers)) process.off(event, handler);
    return code;
  }

  private fork(index: number): void {
    const child = cluster.fork({ [FRONT_ENV]: `${index}/${this.options.fronts}` });
    const front: Front = { index, process: child, ready: false, readyAt: 0, socketDir: null, reloaded: null };
    this.fronts.set(index, front);
    child.on("message", (m: unknown) => {
      if (isMessage<FrontMessage>(m)) void this.onMessage(front, m);
    });
    child.on("exit", (code, signal) => this.onExit(front, code, signal));
  }

  private async onMessage(front: Front, m: FrontMessage): Promise<void> {
    switch (m.neutrino) {
      case "ready":
        front.ready = true;
        front.readyAt = performance.now();
        front.socketDir = m.socketDir;
        return;
      case "reloaded":
        front.reloaded?.();
        return;
      case "scrape": {
        // prom-client asks every front for its registry and sums them (gauges too: busy workers, queue depth).
        let answer: PrimaryMessage;
        try {
          // The fronts' sum, then the primary's own counters.
          const fronts = await this.aggregator.clusterMetrics();
          answer = { neutrino: "scraped", id: m.id, body: `${fronts}${fronts.endsWith("\n") ? "" : "\n"}${await this.registry.metrics()}` };
        } catch (err) {
          answer = { neutrino: "scraped", id: m.id, error: (err as Error).message };
        }
        if (front.process.isConnected()) front.process.send(answer);
        return;
      }
      case "ask": {
        const fronts = await this.gather(m.topic);
        const primary = { pid: process.pid, rss_bytes: process.memoryUsage.rss(), uptime_s: Math.round(performance.now()) / 1000 };
        if (front.process.isConnected()) front.process.send({ neutrino: "answered", id: m.id, primary, fronts } satisfies PrimaryMessage);
        return;
      }
      case "reported": {
        const g = this.gathers.get(m.id);
        if (!g || !g.pending.delete(front.index)) return;
        g.answers.set(front.index, m.body);
        if (g.pending.size === 0) g.finish();
        return;
      }
    }
  }

  /** Every front's report on `topic`, by slot; a front that is not listening, or silent past GATHER_TIMEOUT_MS, has a null body. */
  private async gather(topic: Topic): Promise<FrontReport[]> {
    const id = this.nextGather++;
    const asked = [...this.fronts.values()].filter((f) => f.ready && f.process.isConnected());
    const answers = new Map<number, unknown>();
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.gathers.delete(id);
        resolve();
      };
      const timer = setTimeout(finish, GATHER_TIMEOUT_MS);
      this.gathers.set(id, { answers, pending: new Set(asked.map((f) => f.index)), finish });
      for (const f of asked) f.process.send({ neutrino: "report", id, topic } satisfies PrimaryMessage);
      if (asked.length === 0) finish();
    });
    return this.crashes.map((_, index) => {
      const f = this.fronts.get(index);
      return { index, pid: f?.process.process.pid ?? 0, listening: f?.ready ?? false, restarts: this.restarts[index]!, body: answers.get(index) ?? null };
    });
  }

  private onExit(front: Front, code: number | null, signal: string | null): void {
    const { log } = this.options;
    this.fronts.delete(front.index);
    front.reloaded?.();
    for (const g of this.gathers.values()) if (g.pending.delete(front.index) && g.pending.size === 0) g.finish();
    // A front killed outright leaves its socket directory; its workers leave when their socket closes.
    if (front.socketDir) rmSync(front.socketDir, { recursive: true, force: true });
    const how = signal ?? `code ${code}`;
    if (this.state === "stopping") {
      if (code !== 0) this.exitCode = 1;
      log.info({ front: front.index, frontPid: front.process.process.pid, exit: how }, `front ${front.index} exited (${how})`);
      if (this.fronts.size === 0) this.resolveExit(this.exitCode);
      return;
    }
    if (!front.ready && signal === null) {
      // It never served and exited on its own: the app does not start (its own error is on
      // stderr); retrying would loop. One killed by a signal (the OOM killer, an operator, or a
      // kill just after it listened, before its "ready" message arrived here) is replaced below.
      log.error({ front: front.index, exit: how }, `front ${front.index} failed to start (${how}): stopping`);
      this.exitCode = typeof code === "number" && code !== 0 ? code : 1;
      this.stop("a front that failed to start");
      if (this.fronts.size === 0) this.resolveExit(this.exitCode);
      return;
    }
    // The workers' backoff: a front that dies soon after it started again waits longer each time, so a crash loop cannot spin the CPU.
    const lived = front.ready ? performance.now() - front.readyAt : 0;
    const inARow = lived >= STABLE_AFTER_MS ? 1 : ++this.crashes[front.index]!;
    this.crashes[front.index] = inARow;
    this.restarts[front.index]!++;
    this.restartCounter.inc({ front: String(front.index) });
    const delay = respawnDelayMs(inARow);
    log.warn(
      { front: front.index, frontPid: front.process.process.pid, exit: how, crashesInARow: inARow, delayMs: delay },
      `front ${front.index} exited (${how}): starting a new one in ${delay} ms (${inARow} in a row)`,
    );
    const timer = setTimeout(() => {
      this.respawns.delete(timer);
      if (this.state === "running") this.fork(front.index);
    }, delay);
    this.respawns.add(timer);
  }

  /**
   * Node's default would kill the primary at once, and its exit hook every front with their
   * requests in flight; instead the fronts drain as on SIGTERM (as a front does on its own crash,
   * serve.ts) and the primary exits 1 for its supervisor to restart the server.
   */
  private crash(err: unknown, origin: string): void {
    this.exitCode = 1;
    const message = err instanceof Error ? err.message : String(err);
    this.options.log.fatal({ err, origin }, `${origin} in the primary: ${message}`);
    if (this.state !== "stopping") this.stop(origin); // already draining: it goes on, and exits 1
  }

  /** Every front drains at once; the primary exits when the last one has (0 if all drained cleanly). */
  private stop(signal: string): void {
    const again = this.state === "stopping";
    this.state = "stopping";
    for (const t of this.respawns) clearTimeout(t);
    this.respawns.clear();
    this.options.log.info({ signal }, `${again ? "again: " : ""}${signal}: stopping ${this.fronts.size} front(s)`);
    const relay: SignalMessage["signal"] = signal === "SIGINT" ? "SIGINT" : "SIGTERM";
    for (const f of this.fronts.values()) this.send(f, relay);
    if (this.fronts.size === 0) this.resolveExit(this.exitCode);
  }

  /** One front after the other, so that the others keep their full pool while one rolls its workers. */
  private reload(): Promise<void> {
    if (this.reloading || this.state !== "running") return this.reloading ?? Promise.resolve();
    this.reloading = (async () => {
      for (const index of [...this.fronts.keys()].sort()) {
        const front = this.fronts.get(index);
        if (!front?.ready || this.state !== "running") continue;
        await new Promise<void>((resolve) => {
          front.reloaded = resolve;
          this.send(front, "SIGHUP");
        });
        front.reloaded = null;
      }
    })().finally(() => (this.reloading = null));
    return this.reloading;
  }

  /** SIGTTIN/SIGTTOU: one worker more or fewer, on the fronts in turn. */
  private toOne(signal: "SIGTTIN" | "SIGTTOU"): void {
    const ready = [...this.fronts.values()].filter((f) => f.ready).sort((a, b) => a.index - b.index);
    if (this.state !== "running" || ready.length === 0) return;
    this.send(ready[this.ttin++ % ready.length]!, signal);
  }

  private send(front: Front, signal: SignalMessage["signal"]): void {
    if (front.process.isConnected()) front.process.send({ neutrino: "signal", signal } satisfies SignalMessage);
  }
}
