/**
 * A Node worker runs many requests on one event loop: a handler that spins the CPU stalls the
 * others. The worker reports how long its handlers hold the loop (Heartbeat), the orchestrator
 * then keeps such a route's requests apart from quick ones, exports the loop lag, and names a
 * blocked loop when it kills a worker for it. Node only: a Python worker's sync handlers run
 * one at a time or in threads already.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request, startServer, type Reply, type RunningServer } from "../support/server.js";
import { waitForStatus } from "../support/status.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/blocking_app.ts:app";
const pid = (r: Reply): number => (r.json as { pid: number }).pid;

/** The largest neutrino_worker_event_loop_lag_seconds sample of a scrape, or undefined without one. */
function loopLag(metrics: string): number | undefined {
  const values = [...metrics.matchAll(/^neutrino_worker_event_loop_lag_seconds\{worker="w\d+"\} (\S+)$/gm)].map((m) => Number(m[1]));
  return values.length ? Math.max(...values) : undefined;
}

describe("blocking JS routes", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "neutrino-blocking-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string): string => join(dir, name);
  const q = (params: Record<string, string>): string => new URLSearchParams(params).toString();

  it("a route known to block the loop gets a worker of its own: a quick request does not wait behind it", async () => {
    const server = await startServer(APP, ["--workers", "2", "--worker-concurrency", "8"]);
    try {
      // Before any blocking request the workers report no lag at all (Node workers send the figure).
      // A few short spins make the route known: the heartbeat that says so also carries the lag.
      await makeSpinKnown(server);

      // One worker spins until told to stop; the other holds an async request, so both have one
      // request of 8 in flight. Without the blocking mark, the quick request would go to the first
      // of two equally loaded workers: the one whose loop is held.
      const spin = request(`${server.url}/spin?${q({ started: file("spin-started"), until: file("spin-stop") })}`);
      await waitFor(() => existsSync(file("spin-started")), 10_000, "the blocking request to start");
      const hold = request(`${server.url}/hold?${q({ started: file("hold-started"), until: file("hold-stop") })}`);
      await waitFor(() => existsSync(file("hold-started")), 10_000, "the async request to start");

      // The deadline only turns a quick request stuck behind the spin into a failure.
      const quick = await request(`${server.url}/quick`, { signal: AbortSignal.timeout(15_000) });
      assert.equal(quick.status, 200);
      assert.equal(existsSync(file("spin-stop")), false, "the quick request was answered while the blocking one still ran");

      writeFileSync(file("spin-stop"), "");
      writeFileSync(file("hold-stop"), "");
      const [spun, held] = await Promise.all([spin, hold]);
      assert.equal(spun.status, 200);
      assert.equal(held.status, 200);
      assert.notEqual(pid(quick), pid(spun), "the quick request ran on the worker whose loop was free");
      assert.equal(pid(quick), pid(held));
    } finally {
      writeFileSync(file("spin-stop"), "");
      writeFileSync(file("hold-stop"), "");
      await server.stop();
    }
  });

  it("with every worker's loop held, a quick request waits for the first worker that frees up, ahead of an older blocking one", async () => {
    const server = await startServer(APP, ["--workers", "2", "--worker-concurrency", "8", "--status-page"]);
    const arrived = (n: number): Promise<unknown> =>
      waitForStatus(server, (s) => s.inflight + s.queue.depth === n, `${n} requests in flight or queued`);
    const stop = (name: string): void => writeFileSync(file(`stop-${name}`), "");
    const spin = (name: string): Promise<Reply> =>
      request(`${server.url}/spin?${q({ started: file(`started-${name}`), until: file(`stop-${name}`) })}`);
    try {
      await makeSpinKnown(server);

      // Both workers spin, and a third blocking request waits for one of them.
      const a = spin("a");
      await waitFor(() => existsSync(file("started-a")), 10_000, "the first blocking request to start");
      const b = spin("b");
      await waitFor(() => existsSync(file("started-b")), 10_000, "the second blocking request to start");
      const c = spin("c");
      await arrived(3);
      // The quick request arrives last. Handed to a worker mid-spin (the first, as both are equally
      // loaded), it would wait for that spin, which only ends after it is answered.
      const quick = request(`${server.url}/quick`, { signal: AbortSignal.timeout(15_000) });
      await arrived(4);
      // The freed worker takes it before the blocking request that arrived earlier: that one spins
      // until told to stop, so a quick request behind it would not be answered either.
      stop("b");
      const [quickReply, bReply] = await Promise.all([quick, b]);
      assert.equal(quickReply.status, 200);
      assert.equal(pid(quickReply), pid(bReply), "the worker that freed up answered it");
      stop("a");
      stop("c");
      const [aReply, cReply] = await Promise.all([a, c]);
      assert.deepEqual([aReply.status, cReply.status], [200, 200]);
      assert.notEqual(pid(quickReply), pid(aReply));
    } finally {
      for (const name of ["a", "b", "c"]) stop(name);
      await server.stop();
    }
  });

  it("a worker stuck in a synchronous loop is killed after --worker-timeout, the log names the blocked loop, a fresh worker serves", async () => {
    const server = await startServer(APP, ["--workers", "1", "--worker-concurrency", "8", "--worker-timeout", "1"]);
    try {
      const before = JSON.parse((await request(`${server.url}/quick`)).text) as { pid: number };
      const stuck = await request(`${server.url}/forever`);
      assert.equal(stuck.status, 504);
      assert.match(stuck.text, /stopped responding/);
      await waitFor(() => /event loop blocked for \d+\.\d s \(no heartbeat; worker timeout 1\.0 s\) while handling GET \/forever/.test(server.stdout()), 10_000, "the log line naming the blocked loop");
      const after = await request(`${server.url}/quick`);
      assert.equal(after.status, 200);
      assert.notEqual((JSON.parse(after.text) as { pid: number }).pid, before.pid);
      const metrics = (await request(`${server.url}/metrics`)).text;
      assert.match(metrics, /^neutrino_worker_restarts_total\{cause="hung"\} 1$/m);
    } finally {
      await server.stop();
    }
  });
});

/**
 * A few short spins make /spin known as blocking: the heartbeat that says so also carries the
 * loop lag, so the lag in /metrics shows the orchestrator has heard it.
 */
async function makeSpinKnown(server: RunningServer): Promise<void> {
  for (let i = 0; i < 3; i++) assert.equal((await request(`${server.url}/spin?ms=20`)).status, 200);
  let metrics = "";
  await waitFor(
    async () => (loopLag((metrics = (await request(`${server.url}/metrics`)).text)) ?? 0) >= 0.015,
    10_000,
    () => `an event-loop lag of at least 15 ms in /metrics:\n${metrics.split("\n").filter((l) => l.includes("loop_lag")).join("\n")}`,
  );
}
