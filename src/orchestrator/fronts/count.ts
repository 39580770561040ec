/**
 * `--fronts auto`: how many HTTP fronts a machine gets. One front is one core of HTTP at most
 * (about 30k trivial req/s); on a 16-core machine at W=16 one front served 16–19k req/s and
 * eight served 172–194k (docs/benchmarks.md, "Many cores"). A front per two workers keeps
 * per-request dispatch to an idle worker inside each front, and at most one per two cores leaves
 * the other half of the machine to the workers, so a 2-core machine keeps a single process.
 */
import { availableParallelism } from "node:os";

/** The value `--fronts auto` parses to (a count is 1 or more). */
export const AUTO_FRONTS = 0;

/** Fronts for `workers` workers on `cores` cores; 1 where the listener cannot be shared. */
export function autoFronts(workers: number, cores = availableParallelism(), shareable = true): number {
  if (!shareable) return 1;
  return Math.max(1, Math.min(Math.floor(workers / 2), Math.floor(cores / 2)));
}
