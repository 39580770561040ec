/** The Server's stop paths besides a plain graceful shutdown, through the real CLI and real signals. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { childPids, isAlive, request, runCli, startServer } from "../support/server.js";
import { sleep, waitFor } from "../support/wait.js";

describe("server states", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-states-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a stop signal during start-up stops at once: exit 0, no worker left", async () => {
    const marker = join(dir, "importing");
    // An app whose import says it has begun, then takes longer than the test will wait.
    writeFileSync(
      join(dir, "slow_start.py"),
      "import os, time\nopen(os.environ['NEUTRINO_TEST_MARKER'], 'w').close()\ntime.sleep(120)\nfrom neutrino import App\napp = App()\n",
    );
    const run = runCli(["serve", "slow_start.py:app", "--port", "0", "--workers", "1"], {
      cwd: dir,
      env: { NEUTRINO_TEST_MARKER: marker },
    });
    await waitFor(() => existsSync(marker), 30_000);
    const workers = childPids(run.proc.pid!);
    assert.equal(workers.length, 1, "the discovery worker is running");
    run.proc.kill("SIGTERM");
    assert.equal(await run.exited, 0, run.err());
    assert.match(run.out(), /received SIGTERM during start-up, stopping now/);
    assert.doesNotMatch(run.err(), /cannot serve/, "a stop asked for is not reported as a failed start");
    for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
  });

  it("a second stop signal while draining stops at once with exit 1", async () => {
    const server = await startServer("tests/fixtures/pyapp:app", ["--workers", "1", "--graceful-timeout", "120"]);
    const workers = childPids(server.proc.pid!);
    const inflight = request(`${server.url}/sleep?seconds=60`).then(
      (reply) => reply.status,
      () => "connection closed",
    );
    // The request has reached the worker once /metrics counts it busy.
    const deadline = Date.now() + 10_000;
    while (!/neutrino_workers\{state="busy"\} 1/.test((await request(`${server.url}/metrics`)).text)) {
      assert.ok(Date.now() < deadline, "the request never reached the worker");
      await sleep(25);
    }
    server.proc.kill("SIGTERM");
    await waitFor(() => /received SIGTERM: finishing 1 request/.test(server.stdout()));
    server.proc.kill("SIGTERM");
    assert.equal(await server.exited, 1);
    assert.match(server.stdout(), /received SIGTERM again, stopping now/);
    assert.notEqual(await inflight, 200, "the request in flight was cut short");
    for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
  });
});
