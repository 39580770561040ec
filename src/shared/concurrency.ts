/**
 * How many requests one Node worker holds at once, announced in WorkerReady. The orchestrator
 * passes `--worker-concurrency` in an environment variable, so every runtime starts with the same
 * three arguments.
 */

export const CONCURRENCY_ENV = "NEUTRINO_WORKER_CONCURRENCY";

/**
 * Handlers are mostly asynchronous I/O (databases, HTTP calls): 64 in flight keeps those busy
 * without one worker hoarding a burst, and the dispatcher still gives each request to the least
 * busy worker, so a pool of N workers shares load evenly long before any worker reaches 64.
 */
export const DEFAULT_CONCURRENCY = 64;

export function concurrencyFrom(env: NodeJS.ProcessEnv): number {
  const text = env[CONCURRENCY_ENV];
  if (text === undefined || text === "") return DEFAULT_CONCURRENCY;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${CONCURRENCY_ENV} must be a whole number of 1 or more, got "${text}"`);
  return n;
}
