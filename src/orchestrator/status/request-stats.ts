/**
 * Rolling request statistics for the status page: for each of the last few minutes' seconds, the
 * number of requests, how many failed (5xx), and a fixed-size latency histogram on a log scale.
 *
 * Recording a request costs a clock read, a log2 and three array increments: no allocation, no
 * array of every latency. Each second has a slot in a ring, reused (zeroed) when its second comes
 * round again; a slot whose second is not the one looked for is read as empty, so nothing has to
 * tick while no request arrives. Percentiles are read from the histograms when the page asks.
 */

/** Seconds of history kept (five minutes). */
export const HISTORY_SECONDS = 300;

/** Lower edge of the histogram: latencies at or below it share the first bucket. */
const MIN_MS = 0.05;
/** Buckets per doubling of the latency: each bucket is 2^(1/4) ≈ 19 % wider than the previous one. */
const PER_DOUBLING = 4;
/** 0.05 ms · 2^(84/4) ≈ 105 s: anything slower shares the last bucket. */
export const LATENCY_BUCKETS = 84;

/** Lower edge of histogram bucket `i`, in milliseconds. */
function bucketLowMs(i: number): number {
  return MIN_MS * 2 ** (i / PER_DOUBLING);
}

export function latencyBucket(ms: number): number {
  if (!(ms > MIN_MS)) return 0; // also NaN
  const i = Math.floor(Math.log2(ms / MIN_MS) * PER_DOUBLING);
  return i < LATENCY_BUCKETS ? i : LATENCY_BUCKETS - 1;
}

interface Percentiles {
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
}

/** One second of traffic, as status.json gives it. */
export interface SecondPoint extends Percentiles {
  /** The second, in Unix time. */
  t: number;
  requests: number;
  errors: number;
}

export interface StatsWindow extends Percentiles {
  /** Length of the window in seconds (shorter while the server is younger than the window). */
  seconds: number;
  requests: number;
  errors: number;
  rps: number;
}

/** RequestStats.dump(): each recorded second as [Unix second, requests, 5xx, [bucket, count][]]. */
export interface StatsDump {
  readonly started: number;
  readonly totalRequests: number;
  readonly totalErrors: number;
  readonly seconds: readonly (readonly [number, number, number, readonly (readonly [number, number])[]])[];
}

export class RequestStats {
  /** The Unix second each slot holds; a slot is valid only for that second. */
  private readonly slotSecond = new Float64Array(HISTORY_SECONDS).fill(-1);
  private readonly counts = new Uint32Array(HISTORY_SECONDS);
  private readonly errors = new Uint32Array(HISTORY_SECONDS);
  private readonly histograms = new Uint32Array(HISTORY_SECONDS * LATENCY_BUCKETS);
  private startedSecond: number;
  /** Since the server started. */
  totalRequests = 0;
  totalErrors = 0;

  /** `clock` returns milliseconds of Unix time (tests pass their own). */
  constructor(private readonly clock: () => number = Date.now) {
    this.startedSecond = Math.floor(clock() / 1000);
  }

  /** Counts one answered request: its status and its time from arrival to answer. */
  record(status: number, seconds: number): void {
    const second = Math.floor(this.clock() / 1000);
    const slot = second % HISTORY_SECONDS;
    if (this.slotSecond[slot] !== second) {
      this.slotSecond[slot] = second;
      this.counts[slot] = 0;
      this.errors[slot] = 0;
      this.histograms.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
    }
    this.counts[slot]!++;
    this.totalRequests++;
    if (status >= 500) {
      this.errors[slot]!++;
      this.totalErrors++;
    }
    this.histograms[slot * LATENCY_BUCKETS + latencyBucket(seconds * 1000)]!++;
  }

  /**
   * One point per whole second over the last `seconds` seconds, oldest first, ending with the
   * last complete second (the current one is still filling).
   */
  series(seconds = HISTORY_SECONDS, nowMs = this.clock()): SecondPoint[] {
    const last = Math.floor(nowMs / 1000) - 1;
    const n = Math.min(seconds, HISTORY_SECONDS - 1);
    const points: SecondPoint[] = [];
    const hist = new Uint32Array(LATENCY_BUCKETS);
    for (let t = last - n + 1; t <= last; t++) {
      const slot = this.slotOf(t);
      if (slot < 0) {
        points.push({ t, requests: 0, errors: 0, p50_ms: null, p90_ms: null, p99_ms: null });
        continue;
      }
      hist.set(this.histograms.subarray(slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS));
      points.push({ t, requests: this.counts[slot]!, errors: this.errors[slot]!, ...percentiles(hist, this.counts[slot]!) });
    }
    return points;
  }

  /** Totals, request rate and percentiles over the last `seconds` complete seconds. */
  window(seconds: number, nowMs = this.clock()): StatsWindow {
    const last = Math.floor(nowMs / 1000) - 1;
    // A server younger than the window: divide by the time it has been up, not by the window.
    const span = Math.max(1, Math.min(seconds, HISTORY_SECONDS - 1, last - this.startedSecond + 1));
    const hist = new Uint32Array(LATENCY_BUCKETS);
    let requests = 0;
    let errors = 0;
    for (let t = last - span + 1; t <= last; t++) {
      const slot = this.slotOf(t);
      if (slot < 0) continue;
      requests += this.counts[slot]!;
      errors += this.errors[slot]!;
      const base = slot * LATENCY_BUCKETS;
      for (let i = 0; i < LATENCY_BUCKETS; i++) hist[i]! += this.histograms[base + i]!;
    }
    return { seconds: span, requests, errors, rps: requests / span, ...percentiles(hist, requests) };
  }

  /** Its recorded seconds, for another process to add to its own (several fronts: status-page.ts); histograms as [bucket, count] pairs. */
  dump(): StatsDump {
    const seconds: [number, number, number, [number, number][]][] = [];
    for (let slot = 0; slot < HISTORY_SECONDS; slot++) {
      const t = this.slotSecond[slot]!;
      if (t < 0) continue;
      const hist: [number, number][] = [];
      for (let i = 0; i < LATENCY_BUCKETS; i++) {
        const n = this.histograms[slot * LATENCY_BUCKETS + i]!;
        if (n > 0) hist.push([i, n]);
      }
      seconds.push([t, this.counts[slot]!, this.errors[slot]!, hist]);
    }
    return { started: this.startedSecond, totalRequests: this.totalRequests, totalErrors: this.totalErrors, seconds };
  }

  /** Adds a dump's requests to its own, second by second (its start-up becomes the earlier of both). */
  add(d: StatsDump): void {
    this.startedSecond = Math.min(this.startedSecond, d.started);
    this.totalRequests += d.totalRequests;
    this.totalErrors += d.totalErrors;
    for (const [t, count, errors, hist] of d.seconds) {
      const slot = t % HISTORY_SECONDS;
      if (this.slotSecond[slot]! > t) continue; // older than what the slot holds
      if (this.slotSecond[slot] !== t) {
        this.slotSecond[slot] = t;
        this.counts[slot] = 0;
        this.errors[slot] = 0;
        this.histograms.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
      }
      this.counts[slot]! += count;
      this.errors[slot]! += errors;
      for (const [i, n] of hist) this.histograms[slot * LATENCY_BUCKETS + i]! += n;
    }
  }

  /** The slot holding second `t`, or -1 when it holds another second (nothing was recorded in `t`). */
  private slotOf(t: number): number {
    if (t < 0) return -1;
    const slot = t % HISTORY_SECONDS;
    return this.slotSecond[slot] === t ? slot : -1;
  }
}

/**
 * p50, p90 and p99 of a histogram of `count` latencies, in milliseconds (rounded to 0.01 ms), or
 * null when it is empty. Within a bucket the rank is interpolated on the log scale.
 */
export function percentiles(hist: Uint32Array, count: number): Percentiles {
  if (count === 0) return { p50_ms: null, p90_ms: null, p99_ms: null };
  return { p50_ms: quantile(hist, count, 0.5), p90_ms: quantile(hist, count, 0.9), p99_ms: quantile(hist, count, 0.99) };
}

function quantile(hist: Uint32Array, count: number, q: number): number {
  const rank = q * count;
  let below = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const inBucket = hist[i]!;
    if (inBucket > 0 && below + inBucket >= rank) {
      const fraction = Math.min(1, Math.max(0, (rank - below) / inBucket));
      const ms = bucketLowMs(i + fraction);
      return Math.round(ms * 100) / 100;
    }
    below += inBucket;
  }
  return Math.round(bucketLowMs(LATENCY_BUCKETS) * 100) / 100;
}
