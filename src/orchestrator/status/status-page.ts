/**
 * The live status page (`--status-page`): `GET /_neutrino/` is a self-contained HTML page that
 * polls `GET /_neutrino/status.json` every second. Both are answered by the orchestrator without
 * touching a worker, and only when no app route matched (an app route on the same path wins).
 */
import type { ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import type { PoolHealth } from "../workers/pool.js";
import type { Worker } from "../workers/worker.js";
import type { OpenStreams, StreamKind } from "../streams.js";
import { PAGE_CSP, PAGE_HTML } from "./page.js";
import { HISTORY_SECONDS, RequestStats, type SecondPoint, type StatsWindow } from "./request-stats.js";

const STATUS_PREFIX = "/_neutrino";
const STATUS_PAGE_PATH = `${STATUS_PREFIX}/`;
const STATUS_JSON_PATH = `${STATUS_PREFIX}/status.json`;

/** What the status page shows for a worker: its process state and whether it takes requests. */
type WorkerState = "starting" | "idle" | "busy" | "retiring" | "stopping" | "exited";

interface WorkerStatus {
  id: string;
  pid: number;
  state: WorkerState;
  rss_bytes: number;
  /** Requests it has answered since it started. */
  served: number;
  inflight: number;
  concurrency: number;
  /** The requests it is running now, oldest first (`streaming`: a stream or WebSocket holds the slot). */
  current: { method: string; route: string; running_ms: number; streaming: boolean }[];
}

interface StatusSnapshot {
  neutrino: { version: string; app: string; runtime: string; pid: number; rss_bytes: number; uptime_s: number; draining: boolean };
  /** Unix time of the snapshot, in milliseconds. */
  time: number;
  queue: { depth: number; capacity: number };
  /** The pool's size, its serving workers, and failed starts since the last good one (with the error). */
  pool: { size: number; serving: number; start_failures_in_a_row: number; last_start_error: string | null };
  inflight: number;
  /** Streams open now, by kind (they are among the requests in flight). */
  streams: Record<StreamKind, number>;
  /** Requests answered since start-up (by a worker, or with a 5xx on its behalf), and the 5xx among them. */
  totals: { requests: number; errors: number };
  last_10s: StatsWindow;
  last_60s: StatsWindow;
  workers: WorkerStatus[];
  /** One point per second, oldest first, over the last five minutes. */
  series: { step_s: number; points: SecondPoint[] };
}

interface StatusPageOptions {
  /** The pool's workers, whatever their state (`WorkerPool.workers`). */
  readonly workers: () => readonly Worker[];
  readonly pool: () => PoolHealth;
  readonly dispatcher: Dispatcher;
  readonly streams: OpenStreams;
  readonly maxQueue: number;
  readonly app: string;
  readonly runtime: string;
  readonly version: string;
}

const PAGE = Buffer.from(PAGE_HTML);
/** `accepting`: the dispatcher gives it work. */
function workerState(w: Worker, accepting: boolean): WorkerState {
  switch (w.lifecycle) {
    case "starting":
      return "starting";
    case "ready":
      if (!w.ready) return "stopping"; // being killed
      if (!accepting) return "starting"; // started for a reload or a recycle, not swapped in yet
      return w.inflightCount > 0 ? "busy" : "idle";
    case "stopping":
      return w.draining ? "retiring" : "stopping";
    case "exited":
      return "exited";
  }
}

function poolStatus(h: PoolHealth): StatusSnapshot["pool"] {
  return { size: h.size, serving: h.serving, start_failures_in_a_row: h.startFailuresInARow, last_start_error: h.lastStartError };
}

function workerId(w: Worker): number {
  return Number(w.id.slice(1)) || 0;
}

export class StatusPage {
  /** Fed by the HTTP server, one call per answered request. */
  readonly stats = new RequestStats();
  private readonly startedAt = performance.now();

  constructor(private readonly options: StatusPageOptions) {}

  /** The paths it answers, for the start-up warning about app routes that hide them. */
  get paths(): string[] {
    return [STATUS_PAGE_PATH, STATUS_JSON_PATH];
  }

  matches(path: string): boolean {
    return path === STATUS_PREFIX || path === STATUS_PAGE_PATH || path === STATUS_JSON_PATH;
  }

  /** Answers a GET or HEAD of a path it matches (the 405 for other methods is src/orchestrator/http/built-ins.ts's). */
  answer(path: string, draining: boolean, res: ServerResponse): void {
    if (path === STATUS_PREFIX) {
      // The page fetches status.json relative to its own URL, which must end with a slash.
      res.writeHead(308, { location: STATUS_PAGE_PATH, "content-length": 0 });
      res.end();
    } else if (path === STATUS_PAGE_PATH) {
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-length": PAGE.length,
        "cache-control": "no-store",
        "content-security-policy": PAGE_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      });
      res.end(PAGE);
    } else {
      const body = Buffer.from(JSON.stringify(this.snapshot(draining)));
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": body.length,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      res.end(body);
    }
  }

  snapshot(draining: boolean): StatusSnapshot {
    const { dispatcher, maxQueue } = this.options;
    const time = Date.now();
    const now = performance.now();
    const workers = [...this.options.workers()].sort((a, b) => workerId(a) - workerId(b)).map((w) => this.describe(w, now));
    return {
      neutrino: {
        version: this.options.version,
        app: this.options.app,
        runtime: this.options.runtime,
        pid: process.pid,
        rss_bytes: process.memoryUsage.rss(),
        uptime_s: Math.round(now - this.startedAt) / 1000,
        draining,
      },
      time,
      queue: { depth: dispatcher.queued, capacity: maxQueue },
      pool: poolStatus(this.options.pool()),
      inflight: dispatcher.busy,
      streams: this.options.streams.snapshot(),
      totals: { requests: this.stats.totalRequests, errors: this.stats.totalErrors },
      last_10s: this.stats.window(10, time),
      last_60s: this.stats.window(60, time),
      workers,
      series: { step_s: 1, points: this.stats.series(HISTORY_SECONDS, time) },
    };
  }

  private describe(w: Worker, now: number): WorkerStatus {
    const current = w
      .inflightJobs()
      .map((job) => ({ method: job.method, route: job.route, running_ms: Math.round(now - (job.assignedAt || now)), streaming: job.streaming }))
      .sort((a, b) => b.running_ms - a.running_ms);
    return {
      id: w.id,
      pid: w.pid,
      state: workerState(w, this.options.dispatcher.accepts(w)),
      rss_bytes: w.rss(),
      served: w.served,
      inflight: w.inflightCount,
      concurrency: w.concurrency,
      current,
    };
  }
}
