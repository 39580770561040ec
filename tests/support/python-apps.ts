/**
 * For the tests of foreign Python apps (FastAPI, Flask, Django): the interpreter of .venv-test/,
 * where tests/requirements.txt installs the frameworks, and the request counts of /metrics.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./paths.js";
import { request } from "./server.js";

export const testPython = join(repoRoot, ".venv-test", "bin", "python");

/** Creates or updates .venv-test/ (a no-op when it is up to date). */
export function ensureTestPython(): void {
  execFileSync("bash", [join(repoRoot, "tests", "support", "python-test-env.sh")], { stdio: "inherit" });
}

/** The `neutrino_requests_total` samples of a /metrics scrape, as "route method status" → count. */
export async function requestCounts(url: string): Promise<Map<string, number>> {
  const text = (await request(`${url}/metrics`)).text;
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^neutrino_requests_total\{route="([^"]*)",method="([^"]*)",status="([^"]*)"\} (\d+)/gm)) {
    counts.set(`${m[1]} ${m[2]} ${m[3]}`, Number(m[4]));
  }
  return counts;
}
