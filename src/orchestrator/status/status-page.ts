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
import type { Gathered } from "../fronts/front.js";
import { sendError } from "../http/errors.js";
import { PAGE_CSP, PAGE_HTML } from "./page.js";
import { HISTORY_SECONDS, RequestStats, type SecondPoint, type StatsDump, type StatsWindow } from "./request-stats.js";

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
  /** The longest event-loop delay it reported lately (Node workers; null: none reported). */
  loop_lag_ms: number | null;
  /** Its front (--fronts N above 1): worker ids are per front. */
  front?: number;
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
  /** --fronts N above 1: each front (the rest of the snapshot is summed over them; `neutrino` is the primary's). */
  fronts?: FrontStatus[];
}

/** `replacing`: dead, its replacement waits out the backoff; `silent`: listening but did not answer in time. */
type FrontState = "replacing" | "starting" | "serving" | "silent";

interface FrontStatus {
  index: number;
  pid: number;
  state: FrontState;
  /** Replacements of this front since start-up. */
  restarts: number;
  rss_bytes: number | null;
  uptime_s: number | null;
}

/** What a front sends the primary for the status page of the whole server. */
interface FrontReportBody {
  snapshot: StatusSnapshot;
  stats: StatsDump;
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
  /** Several fronts: every front's report, gathered by the primary (FrontLink.ask). */
  readonly gather?: () => Promise<Gathered>;
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
    } else if (this.options.gather) {
      this.options.gather().then(
        (g) => sendJson(res, this.merged(g, draining)),
        () => sendError(res, 503, "the other fronts' status is not available: the primary did not answer"),
      );
    } else sendJson(res, this.snapshot(draining));
  }

  /** This front's part of the whole server's page (several fronts). */
  report(draining: boolean): FrontReportBody {
    return { snapshot: this.snapshot(draining, false), stats: this.stats.dump() };
  }

  /** The whole server: every front's workers, labelled by front; counts summed; percentiles from the summed histograms. */
  private merged(g: Gathered, draining: boolean): StatusSnapshot {
    const time = Date.now();
    const stats = new RequestStats();
    const bodies = g.fronts.map((f) => f.body as FrontReportBody | null);
    const snaps = bodies.filter((b): b is FrontReportBody => b !== null).map((b) => b.snapshot);
    for (const b of bodies) if (b) stats.add(b.stats);
    const sum = (of: (s: StatusSnapshot) => number): number => snaps.reduce((total, s) => total + of(s), 0);
    const streams = { ...this.options.streams.snapshot() };
    for (const kind of Object.keys(streams) as StreamKind[]) streams[kind] = sum((s) => s.streams[kind] ?? 0);
    return {
      neutrino: {
        version: this.options.version,
        app: this.options.app,
        runtime: this.options.runtime,
        pid: g.primary.pid,
        rss_bytes: g.primary.rss_bytes + sum((s) => s.neutrino.rss_bytes),
        uptime_s: g.primary.uptime_s,
        draining: draining || snaps.some((s) => s.neutrino.draining),
      },
      time,
      queue: { depth: sum((s) => s.queue.depth), capacity: sum((s) => s.queue.capacity) },
      pool: {
        size: sum((s) => s.pool.size),
        serving: sum((s) => s.pool.serving),
        start_failures_in_a_row: Math.max(0, ...snaps.map((s) => s.pool.start_failures_in_a_row)),
        last_start_error: snaps.find((s) => s.pool.last_start_error !== null)?.pool.last_start_error ?? null,
      },
      inflight: sum((s) => s.inflight),
      streams,
      totals: { requests: stats.totalRequests, errors: stats.totalErrors },
      last_10s: stats.window(10, time),
      last_60s: stats.window(60, time),
      workers: g.fronts.flatMap((f, i) => bodies[i]?.snapshot.workers.map((w) => ({ ...w, front: f.index })) ?? []),
      series: { step_s: 1, points: stats.series(HISTORY_SECONDS, time) },
      fronts: g.fronts.map((f, i) => {
        const own = bodies[i]?.snapshot.neutrino;
        const state: FrontState = f.pid === 0 ? "replacing" : !f.listening ? "starting" : own ? "serving" : "silent";
        return { index: f.index, pid: f.pid, state, restarts: f.restarts, rss_bytes: own?.rss_bytes ?? null, uptime_s: own?.uptime_s ?? null };
      }),
    };
  }

  /** `withStats` false: windows and series left empty (the merging front computes them from the dumps). */
  snapshot(draining: boolean, withStats = true): StatusSnapshot {
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
      last_10s: withStats ? this.stats.window(10, time) : this.stats.window(0, time),
      last_60s: withStats ? this.stats.window(60, time) : this.stats.window(0, time),
      workers,
      series: { step_s: 1, points: withStats ? this.stats.series(HISTORY_SECONDS, time) : [] },
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
      loop_lag_ms: w.loopLagMs ?? null,
      current,
    };
  }
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": body.length,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(body);
}
