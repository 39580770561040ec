/**
 * `--fronts N` above 1: the primary process. It forks N fronts (node:cluster: the fronts share the
 * listening sockets, the primary accepts and hands each connection to a front in turn), each a
 * whole Server supervising its share of --workers. The primary serves no request: it replaces a
 * front that dies, relays signals (SIGTERM/SIGINT drain every front at once, SIGHUP reloads the
 * fronts one after the other), and sums /metrics over the fronts. Design: docs/fronts.md.
 */
import cluster, { type Worker as ClusterWorker } from "node:cluster";
import { rmSync } from "node:fs";
import { AggregatorRegistry } from "prom-client";
import type { Logger } from "../log.js";
import { FRONT_ENV, isMessage, type FrontMessage, type PrimaryMessage, type SignalMessage } from "./messages.js";

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

  constructor(private readonly options: PrimaryOptions) {}

  async run(): Promise<number> {
    const { fronts, workers, log } = this.options;
    log.info(
      { fronts, workers },
      `primary ${process.pid}: ${fronts} fronts (--fronts ${fronts}), each serving HTTP on its own core and supervising ${shareOf(workers, fronts, fronts - 1)}–${shareOf(workers, fronts, 0)} of ${workers} workers`,
    );
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.on(signal, handler);
    // Last resort: a primary that leaves takes its fronts with it (each front's own exit hook takes its workers).
    process.once("exit", () => {
      for (const f of this.fronts.values()) f.process.process.kill("SIGKILL");
    });
    for (let i = 0; i < fronts; i++) this.fork(i);
    const code = await this.exit;
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.off(signal, handler);
    return code;
  }

  private fork(index: number): void {
    const child = cluster.fork({ [FRONT_ENV]: `${index}/${this.options.fronts}` });
    const front: Front = { index, process: child, ready: false, socketDir: null, reloaded: null };
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
        front.socketDir = m.socketDir;
        return;
      case "reloaded":
        front.reloaded?.();
        return;
      case "scrape": {
        // prom-client asks every front for its registry and sums them (gauges too: busy workers, queue depth).
        let answer: PrimaryMessage;
        try {
          answer = { neutrino: "scraped", id: m.id, body: await this.aggregator.clusterMetrics() };
        } catch (err) {
          answer = { neutrino: "scraped", id: m.id, error: (err as Error).message };
        }
        if (front.process.isConnected()) front.process.send(answer);
        return;
      }
    }
  }

  private onExit(front: Front, code: number | null, signal: string | null): void {
    const { log } = this.options;
    this.fronts.delete(front.index);
    front.reloaded?.();
    // A front killed outright leaves its socket directory; its workers leave when their socket closes.
    if (front.socketDir) rmSync(front.socketDir, { recursive: true, force: true });
    const how = signal ?? `code ${code}`;
    if (this.state === "stopping") {
      if (code !== 0) this.exitCode = 1;
      log.info({ front: front.index, frontPid: front.process.process.pid, exit: how }, `front ${front.index} exited (${how})`);
      if (this.fronts.size === 0) this.resolveExit(this.exitCode);
      return;
    }
    if (!front.ready) {
      // It never served: the app does not start (its own error is on stderr); retrying would loop.
      log.error({ front: front.index, exit: how }, `front ${front.index} failed to start (${how}): stopping`);
      this.exitCode = typeof code === "number" && code !== 0 ? code : 1;
      this.stop("a front that failed to start");
      if (this.fronts.size === 0) this.resolveExit(this.exitCode);
      return;
    }
    log.warn({ front: front.index, frontPid: front.process.process.pid, exit: how }, `front ${front.index} exited (${how}): starting a new one`);
    this.fork(front.index);
  }

  /** Every front drains at once; the primary exits when the last one has (0 if all drained cleanly). */
  private stop(signal: string): void {
    const again = this.state === "stopping";
    this.state = "stopping";
    this.options.log.info({ signal }, `${again ? "again: " : ""}${signal}: stopping ${this.fronts.size} front(s)`);
    const relay: SignalMessage["signal"] = signal === "SIGINT" ? "SIGINT" : "SIGTERM";
    for (const f of this.fronts.values()) this.send(f, relay);
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
