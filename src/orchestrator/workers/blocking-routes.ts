/**
 * Which routes block their worker's event loop, from the synchronous handler time Node workers
 * report in their Heartbeats (docs/protocol.md). A Node worker runs many tasks on one thread, so
 * a route whose handler spins the CPU for milliseconds stalls every other task on its worker:
 * the dispatcher gives such a route's tasks a worker's single sync slot and keeps quick requests
 * off a worker running one, as it does for `"sync": true` routes (docs/typescript.md).
 */
import type { RouteSync } from "../../protocol/messages.js";

/** A route whose handlers hold the loop this long on average (milliseconds per task) blocks it. */
export const BLOCKING_MS = 5;
/** It stops counting as blocking only under half that, so a route near the line does not flap. */
const QUICK_AGAIN_MS = BLOCKING_MS / 2;
/** Weight of each task in a route's moving average. */
const WEIGHT = 0.2;
/** Routes tracked at most (workers only report routes of their registry; this bounds a broken one). */
const MAX_ROUTES = 10_000;

export class BlockingRoutes {
  /** Moving average of each route's synchronous milliseconds per task. */
  private readonly averages = new Map<string, number>();
  private readonly blocking = new Set<string>();

  constructor(private readonly onChange: (route: string, blocking: boolean) => void) {}

  /** One Heartbeat's figures: per route, [tasks, milliseconds of synchronous handler time]. */
  report(routeSyncMs: RouteSync): void {
    for (const route of Object.keys(routeSyncMs)) {
      const [tasks, ms] = routeSyncMs[route]!;
      if (tasks === 0) continue;
      const previous = this.averages.get(route);
      if (previous === undefined && this.averages.size >= MAX_ROUTES) continue;
      const perTask = ms / tasks;
      // `tasks` samples of perTask at once: the weight they would have had one by one.
      const average = previous === undefined ? perTask : previous + (1 - (1 - WEIGHT) ** tasks) * (perTask - previous);
      this.averages.set(route, average);
      if (!this.blocking.has(route) && average >= BLOCKING_MS) {
        this.blocking.add(route);
        this.onChange(route, true);
      } else if (this.blocking.has(route) && average < QUICK_AGAIN_MS) {
        this.blocking.delete(route);
        this.onChange(route, false);
      }
    }
  }

  isBlocking(route: string): boolean {
    return this.blocking.has(route);
  }
}
