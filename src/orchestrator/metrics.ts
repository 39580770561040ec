/**
 * Prometheus metrics, aggregated in the orchestrator (prom-client): one scrape sees the whole
 * server, not one random worker. Counters and histograms are updated per request; the gauges
 * (queue depth, busy/idle workers, worker RSS) are read only when scraped.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from "prom-client";
import type { Dispatcher } from "./dispatch/dispatcher.js";
import { knownMethod } from "./http/router.js";
import type { WorkerPool } from "./workers/pool.js";
import { OpenStreams, STREAM_KINDS } from "./streams.js";

/** How often the orchestrator's event-loop delay is sampled, in ms (`nodejs_eventloop_lag_*`). */
const EVENT_LOOP_SAMPLE_MS = 100;

/** Label for requests that matched no route, so unknown paths cannot blow up the label set. */
export const NO_ROUTE = "(none)";

/** Method label of requests Node could not parse (there is none to read). */
export const NO_METHOD = "(none)";

/** One value of a metric as prom-client's registries read it (its typings say less than it reads). */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
}

/** One labelled series of a PlainHistogram: a count per bucket (the last: above every bound), their sum. */
interface HistogramSeries {
  readonly labels: Record<string, string>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram kept as plain numbers, turned into prom-client's values only when
 * scraped. prom-client's own `observe` hashes the label object on every call, even on a series
 * got from `labels()`: about 1 µs a request on the front's hot path, against some 30 ns for
 * `observe` here. Registered as any prom-client metric (its `get()` is what a registry reads), so
 * the exposition, and the sum over several fronts, are prom-client's.
 */
class PlainHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly all = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    /** The one label its series have (none: one series). */
    private readonly label?: string,
  ) {}

  /** The series of this label value (made once; hold on to it). */
  series(value = ""): HistogramSeries {
    let series = this.all.get(value);
    if (series === undefined) {
      const labels: Record<string, string> = this.label === undefined ? {} : { [this.label]: value };
      series = { labels, buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.all.set(value, series);
    }
    return series;
  }

  /** One observation: in the first bucket whose bound it does not exceed (Prometheus' `le`). */
  observe(series: HistogramSeries, value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.buckets[i]!++;
    series.sum += value;
    series.count++;
  }

  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const bucket = `${this.name}_bucket`;
    const values: MetricValue[] = [];
    for (const { labels, buckets, sum, count } of this.all.values()) {
      let below = 0;
      this.bounds.forEach((le, i) => values.push({ labels: { le, ...labels }, value: (below += buckets[i]!), metricName: bucket }));
      values.push(
        { labels: { le: "+Inf", ...labels }, value: count, metricName: bucket },
        { labels, value: sum, metricName: `${this.name}_sum` },
        { labels, value: count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Zeroes every series in place: the callers hold on to theirs (series()). */
  reset(): void {
    for (const series of this.all.values()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

/** One route, method and status: its requests answered since the last scrape, and its route's durations. */
interface RequestSeries {
  readonly labels: { route: string; method: string; status: number };
  pending: number;
  readonly duration: HistogramSeries;
}

export class Metrics {
  readonly registry = new Registry();
  /** The text a scrape answers: this registry, or (in one front of several) the sum over every front. */
  scrape: () => Promise<string> = () => this.registry.metrics();
  /** Streams open now, by kind: the HTTP server and the WebSocket relay count theirs here. */
  readonly streams = new OpenStreams();
  /** Each route, method and status seen, found by one string key per request (see requestDone). */
  private readonly series = new Map<string, RequestSeries>();
  private readonly requests = new Counter({
    name: "neutrino_requests_total",
    help: "HTTP requests answered, by route, method and status",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
    // Counted as plain numbers per request, added here once per series and scrape (see PlainHistogram).
    collect: () => {
      for (const s of this.series.values()) {
        if (s.pending === 0) continue;
        this.requests.inc(s.labels, s.pending);
        s.pending = 0;
      }
    },
  });
  private readonly durations = new PlainHistogram(
    "neutrino_request_duration_seconds",
    "Time from the request's arrival to its answer, by route",
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    "route",
  );
  private readonly queueWait = new PlainHistogram(
    "neutrino_queue_wait_seconds",
    "Time requests waited in the queue for a free worker (only those that waited)",
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
  );
  private readonly queueWaits = this.queueWait.series();
  private readonly startFailures = new Counter({
    name: "neutrino_worker_start_failures_total",
    help: "Worker starts that failed after start-up (the pool retries them with backoff)",
    registers: [this.registry],
  });
  private readonly restarts = new Counter({
    name: "neutrino_worker_restarts_total",
    help: "Workers replaced, by cause",
    labelNames: ["cause"] as const,
    registers: [this.registry],
  });

  constructor() {
    // The event-loop delay histogram samples on a timer: prom-client's default, every 10 ms, wakes
    // an idle or lightly loaded front about 200 times a second for that alone. Stalls of the front
    // worth alerting on are longer than a sample; the workers report their own loop lag.
    collectDefaultMetrics({ register: this.registry, prefix: "neutrino_orchestrator_", eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    for (const histogram of [this.durations, this.queueWait]) this.registry.registerMetric(histogram as unknown as Metric);
    const streams = this.streams;
    new Gauge({
      name: "neutrino_streams_open",
      help: "Streams open now, by kind: response (streamed response body), request (streamed request body), websocket",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      collect() {
        for (const kind of STREAM_KINDS) this.set({ kind }, streams.count(kind));
      },
    });
  }

  /** Registers the gauges read at scrape time. */
  watch(dispatcher: Dispatcher, pool: () => WorkerPool): void {
    new Gauge({
      name: "neutrino_queue_depth",
      help: "Requests waiting for a free worker",
      registers: [this.registry],
      collect() {
        this.set(dispatcher.queued);
      },
    });
    new Gauge({
      name: "neutrino_workers",
      help: "Serving workers, by state (busy: at least one request in flight)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        let busy = 0;
        let idle = 0;
        for (const w of pool().serving) if (w.ready) w.inflightCount > 0 ? busy++ : idle++;
        this.set({ state: "busy" }, busy);
        this.set({ state: "idle" }, idle);
      },
    });
    new Gauge({
      name: "neutrino_worker_start_failures_in_a_row",
      help: "Worker starts that failed since the last one that succeeded (0: healthy)",
      registers: [this.registry],
      collect() {
        this.set(pool().health.startFailuresInARow);
      },
    });
    new Gauge({
      name: "neutrino_worker_rss_bytes",
      help: "Resident memory of each worker process",
      labelNames: ["worker"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const w of pool().workers) if (w.pid) this.set({ worker: w.id }, w.rss());
      },
    });
    new Gauge({
      name: "neutrino_worker_event_loop_lag_seconds",
      help: "Longest event-loop delay each Node worker reported in its recent heartbeats (a handler holding the loop)",
      labelNames: ["worker"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const w of pool().workers) if (w.loopLagMs !== undefined) this.set({ worker: w.id }, w.loopLagMs / 1000);
      },
    });
  }

  requestDone(route: string, anyMethod: string, status: number, seconds: number): void {
    // An HTTP/2 client may send any token as its method: one series each would grow without bound.
    const method = knownMethod(anyMethod) || anyMethod === NO_METHOD ? anyMethod : "other";
    const key = `${status} ${method} ${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { route, method, status }, pending: 0, duration: this.durations.series(route) };
      this.series.set(key, s);
    }
    s.pending++;
    this.durations.observe(s.duration, seconds);
  }

  waited(seconds: number): void {
    this.queueWait.observe(this.queueWaits, seconds);
  }

  workerStartFailed(): void {
    this.startFailures.inc();
  }

  workerRestarted(cause: string): void {
    this.restarts.inc({ cause });
  }
}
