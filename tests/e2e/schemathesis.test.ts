/**
 * /openapi.json tells the truth: Schemathesis (its default checks) runs against the real server
 * on the example apps and the request-model fixtures, in both runtimes, and finds nothing.
 * Schemathesis comes from .venv-test/ (tests/requirements.txt), which
 * tests/support/python-test-env.sh creates when missing or outdated.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { startServer } from "../support/server.js";

const schemathesis = join(repoRoot, ".venv-test", "bin", "schemathesis");
const config = join(repoRoot, "tests", "schemathesis.toml");

interface Run {
  code: number | null;
  output: string;
}

function runSchemathesis(url: string, cwd: string, maxExamples: number): Promise<Run> {
  const args = ["--config-file", config, "run", `${url}/openapi.json`, "--max-examples", String(maxExamples), "--generation-deterministic"];
  return new Promise((resolve) => {
    execFile(schemathesis, args, { cwd, env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

// Two apps at a time: most of a run is spent waiting on the network round trips.
describe("Schemathesis finds nothing wrong with /openapi.json", { concurrency: 2 }, () => {
  let scratch: string;

  before(() => {
    execFileSync("bash", [join(repoRoot, "tests", "support", "python-test-env.sh")], { stdio: "inherit" });
    scratch = mkdtempSync(join(tmpdir(), "neutrino-schemathesis-")); // its .schemathesis/ lands here
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  const apps: [string, number][] = [
    ["examples/myapp.py:app", 25],
    ["tests/fixtures/model_app.py:app", 15],
    ["examples/myapp.ts:app", 25],
    ["tests/fixtures/model_app.ts:app", 15],
  ];
  for (const [app, maxExamples] of apps) {
    it(app, async () => {
      const server = await startServer(app, ["--workers", "1"]);
      try {
        const run = await runSchemathesis(server.url, scratch, maxExamples);
        assert.equal(run.code, 0, `schemathesis failed on ${app}:\n${run.output.slice(-8000)}`);
        assert.match(run.output, /\d+ passed/);
      } finally {
        await server.stop();
      }
    });
  }
});
