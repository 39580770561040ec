/** Polling helpers for tests that wait on a real process. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once `check` holds (it may be async, e.g. a request to the server); rejects after
 * `timeoutMs`, naming `what` it waited for. The deadline only turns a hang into a failure: no test
 * asserts how long anything took.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what: string | (() => string) = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${typeof what === "string" ? what : what()} not met in time`);
    await sleep(25);
  }
}
