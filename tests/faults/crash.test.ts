/**
 * An uncaught exception in the orchestrator (a bug of ours, injected by a preloaded test module)
 * does not drop the requests in flight: it is logged with its stack, the server drains as on
 * SIGTERM, and the process exits 1 with no worker left behind; in the primary of `--fronts`, every
 * front drains the same way.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../support/paths.js";
import { childPids, isAlive, request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const INJECT = `--import=${pathToFileURL(join(repoRoot, "tests", "fixtures", "throw_on_sigusr2.mjs")).href}`;

/** A server whose orchestrator throws on SIGUSR2 (the module above, preloaded). */
function startInjected(flags: string[]): Promise<RunningServer> {
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${INJECT}`.trim() };
  return startServer("tests/fixtures/pyapp:app", [...flags, "--graceful-timeout", "20"], { env });
}

/**
 * Throws in `server`'s main process while a 1.5 s request runs; checks that request gets its 200
 * and the process exits 1; returns the fatal record.
 */
async function crashWithARequestInFlight(server: RunningServer): Promise<Record<string, unknown>> {
  const inFlight = request(`${server.url}/sleep?seconds=1.5`);
  await waitFor(async () => (await request(`${server.url}/metrics`)).text.includes('neutrino_workers{state="busy"} 1'), 10_000, "the sleep running");
  server.proc.kill("SIGUSR2");
  const reply = await inFlight;
  assert.equal(reply.status, 200, reply.text);
  assert.equal(await server.exited, 1);
  const fatal = server.logs().find((r) => r.level === 60);
  assert.ok(fatal, "a fatal record");
  assert.equal(fatal.origin, "uncaughtException");
  return fatal;
}

describe("an uncaught exception in the orchestrator", () => {
  it("is logged, the request in flight is answered, then the server exits 1 and its workers with it", async () => {
    const server = await startInjected(["--workers", "1"]);
    const workers = childPids(server.proc.pid!);
    assert.equal(workers.length, 1);
    const fatal = await crashWithARequestInFlight(server);
    assert.match(String(fatal.msg), /^uncaughtException: injected by the test; draining, then exiting with 1$/);
    assert.match(String((fatal.err as { stack?: string }).stack), /throw_on_sigusr2\.mjs/);
    assert.ok(server.logs().some((r) => r.msg === "stopped"), "drained as on SIGTERM");
    for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
  });

  it("in the primary of --fronts 2: logged, every front drains (the request in flight answered), exit 1, nothing left", async () => {
    const server = await startInjected(["--workers", "2", "--fronts", "2"]);
    await waitFor(() => server.logs().filter((r) => typeof r.url === "string").length >= 2, 30_000, "both fronts listening");
    const fronts = childPids(server.proc.pid!);
    const workers = fronts.flatMap((pid) => childPids(pid));
    assert.deepEqual([fronts.length, workers.length], [2, 2]);
    const fatal = await crashWithARequestInFlight(server);
    assert.equal(fatal.msg, "uncaughtException in the primary: injected by the test");
    for (const pid of [...fronts, ...workers]) assert.equal(isAlive(pid), false, `${pid} is gone`);
  });
});
