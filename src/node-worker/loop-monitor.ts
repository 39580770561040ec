/**
 * What the worker tells the orchestrator about its event loop, in each Heartbeat
 * (docs/protocol.md, Heartbeat): the longest the loop was delayed since the last one, and per
 * route how long the handlers of the tasks that ended held the loop synchronously. A Node worker
 * runs many tasks at once on one thread, so a handler that spins the CPU stalls every other task
 * it holds: the orchestrator uses these figures to give such a route's tasks a worker of their
 * own (docs/typescript.md, CPU-bound handlers).
 *
 * The synchronous time is measured around the handler call itself (executor.ts, fetch-app.ts):
 * it counts the handler's code up to its first `await`, not the continuations after it, nor
 * middleware. The loop delay (perf_hooks' event-loop delay histogram) catches those too, but
 * for the worker as a whole, not per route.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import type { RouteSync } from "../protocol/messages.js";

/**
 * A task whose handler held the loop at least this long is reported at once, not with the next
 * periodic Heartbeat: the orchestrator then learns of a blocking route within a request or two.
 * A route whose handlers take this long on average blocks the loop (see blocksLoop); the same
 * line as the orchestrator's (src/orchestrator/workers/blocking-routes.ts).
 */
const BLOCKING_MS = 5;
/** Weight of the newest task in a route's moving average of synchronous time. */
const WEIGHT = 0.2;
/** The loop-delay timer's period: the delays it sees are accurate to about this. */
const DELAY_RESOLUTION_MS = 20;

let routes: Map<string, [tasks: number, ms: number]> = new Map();
/** Moving average of each route's synchronous milliseconds per task (the app's routes: bounded). */
const averages = new Map<string, number>();
/** The longest synchronous run since the last report: the delay histogram only sees it once its timer fires next. */
let longestMs = 0;
let delay: ReturnType<typeof monitorEventLoopDelay> | null = null;
let onBlocking: (() => void) | null = null;

/** Starts measuring the loop delay; `blocking` is called when a task held the loop long enough to report at once. */
export function startLoopMonitor(blocking: () => void): void {
  delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  onBlocking = blocking;
}

/** Runs `call` (a handler) and counts how long it held the loop toward `route`. */
export function timeSync<T>(route: string, call: () => T): T {
  const start = performance.now();
  try {
    return call();
  } finally {
    const ms = performance.now() - start;
    if (ms > longestMs) longestMs = ms;
    const entry = routes.get(route);
    if (entry) {
      entry[0]++;
      entry[1] += ms;
    } else {
      routes.set(route, [1, ms]);
    }
    const average = averages.get(route);
    averages.set(route, average === undefined ? ms : average + WEIGHT * (ms - average));
    if (ms >= BLOCKING_MS) onBlocking?.();
  }
}

/** Whether `route`'s handlers hold the loop BLOCKING_MS or more on average, as far as this worker has seen. */
export function blocksLoop(route: string): boolean {
  return (averages.get(route) ?? 0) >= BLOCKING_MS;
}

/**
 * The figures since the last call, then starts afresh: the loop's longest delay (whole
 * milliseconds: the histogram's, or the longest handler run if longer) and the synchronous time per route.
 */
export function takeLoopReport(): { loopLagMs: number; routeSyncMs: RouteSync } {
  const routeSyncMs: RouteSync = {};
  for (const [route, [tasks, ms]] of routes) routeSyncMs[route] = [tasks, Math.round(ms)];
  routes = new Map();
  // The histogram's max is in nanoseconds and includes the timer's own period.
  const delayedMs = delay && delay.count > 0 ? delay.max / 1e6 - DELAY_RESOLUTION_MS : 0;
  const loopLagMs = Math.round(Math.max(0, delayedMs, longestMs));
  delay?.reset();
  longestMs = 0;
  return { loopLagMs, routeSyncMs };
}
