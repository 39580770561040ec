/** The twin test apps the end-to-end suites run against, one per SDK language. */
export const testApps = [{ language: "python", app: "tests/fixtures/pyapp:app" }] as const;
