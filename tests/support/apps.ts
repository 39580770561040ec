/** The twin test apps the end-to-end suites run against, one per SDK language. */
export const testApps = [
  { language: "python", app: "tests/fixtures/pyapp:app" },
  { language: "typescript", app: "tests/fixtures/tsapp.ts:app" },
] as const;

/**
 * Gives each worker one request at a time. A Node worker holds many by default; the tests of a
 * worker blocked or dying mid-request, and of a full queue, are about workers that hold one, as a
 * Python worker always does (for Python the flag changes nothing).
 */
export const ONE_REQUEST_PER_WORKER = ["--worker-concurrency", "1"] as const;
