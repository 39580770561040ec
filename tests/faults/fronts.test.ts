/**
 * `--fronts 2` through the real CLI: two front processes (node:cluster) under a primary, each
 * supervising its share of the workers. Both fronts answer, /metrics sums them, a worker killed
 * with requests in flight on one front loses only the request it ran, a front killed by SIGKILL is
 * replaced while the other keeps serving, and SIGTERM drains every front and leaves no process.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { Agent } from "node:http";
import { describe, it } from "node:test";
import { childPids, getOn, isAlive, request, runCli, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/pyapp:app" },
  { runtime: "typescript", app: "tests/fixtures/tsapp.ts:app" },
];

function connection(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 });
}

function metric(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found === undefined ? NaN : Number(found.slice(line.length + 1));
}

/** The front of each access-log record so far. */
function frontsInAccessLog(server: RunningServer): Set<unknown> {
  return new Set(server.logs().filter((r) => r.log === "access").map((r) => r.front));
}

/** Every process under the primary: the fronts and their workers. */
function tree(pid: number): number[] {
  const fronts = childPids(pid);
  return [...fronts, ...fronts.flatMap((f) => childPids(f))];
}

function listeningLines(server: RunningServer): number {
  return server.logs().filter((r) => typeof r.url === "string").length;
}

/** Waits until both fronts say they listen (startServer returns at the first). */
async function bothListening(server: RunningServer): Promise<void> {
  await waitFor(() => listeningLines(server) >= 2, 30_000, "both fronts listening");
}

for (const { runtime, app } of apps) {
  describe(`--fronts 2 (${runtime})`, () => {
    it("answers through both fronts, and /metrics counts the requests of both", async () => {
      const server = await startServer(app, ["--fronts", "2", "--workers", "2", "--access-log"]);
      try {
        await bothListening(server);
        assert.match(server.stdout(), /2 fronts \(--fronts 2\)/);
        const agents = Array.from({ length: 6 }, connection);
        for (let round = 0; round < 3; round++) {
          const replies = await Promise.all(agents.map((a, i) => getOn(`${server.url}/add?x=${i}&y=${round}`, a)));
          replies.forEach((r, i) => {
            assert.equal(r.status, 200);
            assert.deepEqual(JSON.parse(r.body), { result: i + round });
          });
        }
        for (const a of agents) a.destroy();
        await waitFor(() => server.logs().filter((r) => r.log === "access").length >= 18, 10_000, "18 access-log lines");
        assert.deepEqual([...frontsInAccessLog(server)].sort(), [0, 1]);
        const scrape = await request(`${server.url}/metrics`);
        assert.equal(scrape.status, 200);
        assert.equal(metric(scrape.text, 'neutrino_requests_total{route="/add",method="GET",status="200"}'), 18);
        assert.equal(metric(scrape.text, 'neutrino_request_duration_seconds_count{route="/add"}'), 18);
        assert.equal(metric(scrape.text, 'neutrino_request_duration_seconds_bucket{le="+Inf",route="/add"}'), 18);
        // Gauges are summed too: both fronts' workers.
        assert.equal(metric(scrape.text, 'neutrino_workers{state="busy"}') + metric(scrape.text, 'neutrino_workers{state="idle"}'), 2);
      } finally {
        await server.stop();
      }
      assert.equal(await server.stop(), 0);
    });
  });
}

describe("--fronts 2: failures", () => {
  const app = "tests/fixtures/pyapp:app";

  it("a worker killed with requests in flight on one front: every request answered, a replacement serves", async () => {
    const server = await startServer(app, ["--fronts", "2", "--workers", "4", "--status-page"]);
    try {
      await bothListening(server);
      await waitFor(() => tree(server.proc.pid!).length === 6, 10_000, "two fronts of two workers each");
      const before = new Set(tree(server.proc.pid!));
      const agents = Array.from({ length: 8 }, connection);
      const inflight = agents.map((a) => getOn(`${server.url}/sleep?seconds=1`, a));
      // A worker with a request in flight, on whichever front the kernel gave connections to (it
      // may give all eight to one).
      let victim = 0;
      await waitFor(
        async () => {
          const busy = (await request(`${server.url}/_neutrino/status.json`)).json.workers.find((w: { state: string }) => w.state === "busy");
          victim = busy?.pid ?? 0;
          return victim !== 0;
        },
        20_000,
        "a busy worker",
      );
      const front = tree(server.proc.pid!).find((pid) => childPids(pid).includes(victim))!;
      process.kill(victim, "SIGKILL");
      const replies = await Promise.all(inflight);
      for (const a of agents) a.destroy();
      const statuses = replies.map((r) => r.status);
      // The request the victim ran: 502 (docs/reliability.md); every other one: 200.
      assert.ok(statuses.filter((s) => s === 502).length <= 1, `statuses ${statuses}`);
      assert.equal(statuses.filter((s) => s === 200).length + statuses.filter((s) => s === 502).length, 8, `statuses ${statuses}`);
      await waitFor(() => childPids(front).some((p) => !before.has(p)), 20_000, "a replacement worker");
      const fresh = childPids(front).find((p) => !before.has(p))!;
      // Four slow requests at once on fresh connections: two per front, so each of its workers takes one.
      await waitFor(
        async () => {
          const replies = await Promise.all(Array.from({ length: 4 }, () => getOn(`${server.url}/sleep?seconds=0.3`, connection())));
          return replies.some((r) => r.status === 200 && JSON.parse(r.body).pid === fresh);
        },
        30_000,
        "the replacement answering",
      );
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });

  it("a front killed by SIGKILL is replaced, its workers and socket directory go, and the server keeps answering", async () => {
    const server = await startServer(app, ["--fronts", "2", "--workers", "2"]);
    try {
      await bothListening(server);
      const fronts = childPids(server.proc.pid!);
      assert.equal(fronts.length, 2);
      const [victim, survivor] = fronts as [number, number];
      await waitFor(() => childPids(victim).length === 1, 10_000, "the victim's worker");
      const orphan = childPids(victim)[0]!;
      const socketDir = server.logs().find((r) => r.pid === victim && typeof r.socketDir === "string")!.socketDir as string;
      process.kill(victim, "SIGKILL");
      // A connection the primary hands to a front in the instant it dies is lost with it (node:cluster
      // does not hand it to another front: docs/fronts.md), so new connections wait for the primary to see the exit.
      await waitFor(() => /front \d exited \(SIGKILL\)/.test(server.stdout()), 10_000, "the primary sees the front's exit");
      for (let i = 0; i < 4; i++) assert.equal((await request(`${server.url}/add?x=${i}&y=1`)).status, 200);
      await waitFor(() => listeningLines(server) >= 3, 30_000, "the new front listening");
      const now = childPids(server.proc.pid!);
      assert.equal(now.length, 2);
      assert.ok(now.includes(survivor));
      assert.ok(!now.includes(victim));
      await waitFor(() => !isAlive(orphan), 10_000, "the dead front's worker gone");
      assert.ok(!existsSync(socketDir), "the dead front's socket directory is removed");
      assert.match(server.stdout(), /front \d exited \(SIGKILL\): starting a new one/);
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => getOn(`${server.url}/add?x=${i}&y=2`, connection())));
      assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });

  it("SIGHUP reloads the fronts one after the other, and they keep answering", async () => {
    const server = await startServer(app, ["--fronts", "2", "--workers", "2"]);
    try {
      await bothListening(server);
      server.proc.kill("SIGHUP");
      const reloadLog = (): Record<string, unknown>[] => server.logs().filter((r) => /^reload(ing|ed)/.test(String(r.msg)));
      await waitFor(() => reloadLog().filter((r) => String(r.msg).startsWith("reloaded")).length === 2, 30_000, "both fronts reloaded");
      // One front rolls its workers while the other keeps its own: reloading 0, reloaded 0, then front 1.
      const order = reloadLog().map((r) => `${String(r.msg).split(" ")[0]} ${r.front}`);
      assert.equal(order[0]!.split(" ")[1], order[1]!.split(" ")[1], `order ${order}`);
      assert.match(order[1]!, /^reloaded:/, `order ${order}`);
      assert.notEqual(order[0]!.split(" ")[1], order[2]!.split(" ")[1], `order ${order}`);
      for (let i = 0; i < 4; i++) assert.equal((await getOn(`${server.url}/add?x=${i}&y=1`, connection())).status, 200);
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });

  it("a front killed before it listens (the OOM killer at start) is replaced like a crash; the server does not stop", async () => {
    // Before: any front that died before its "ready" reached the primary stopped the whole server
    // (exit 1), as for an app that does not load; a test that killed a front the instant it logged
    // "listening" hit it on a loaded machine.
    const run = runCli(["serve", app, "--port", "0", "--fronts", "2", "--workers", "2"]);
    try {
      await waitFor(() => childPids(run.proc.pid!).length === 2, 20_000, "both fronts forked");
      assert.doesNotMatch(run.out(), /"url":/, "killed while still starting");
      const [victim] = childPids(run.proc.pid!);
      process.kill(victim!, "SIGKILL");
      await waitFor(() => /front \d exited \(SIGKILL\): starting a new one in 100 ms \(1 in a row\)/.test(run.out()), 10_000, "the primary replacing it");
      await waitFor(() => (run.out().match(/"url":/g) ?? []).length >= 2, 30_000, "both fronts listening");
      assert.doesNotMatch(run.out(), /failed to start/);
      const port = JSON.parse(run.out().split("\n").find((l) => l.includes('"url":'))!).port as number;
      assert.equal((await request(`http://127.0.0.1:${port}/add?x=1&y=2`)).status, 200);
    } finally {
      run.proc.kill("SIGTERM");
      await run.exited;
    }
    assert.equal(await run.exited, 0);
  });

  it("SIGTERM drains every front: requests in flight answered, exit 0, no process left", async () => {
    const server = await startServer(app, ["--fronts", "2", "--workers", "2"]);
    await bothListening(server);
    const all = tree(server.proc.pid!);
    assert.equal(all.length, 4); // two fronts, one worker each
    const agents = [connection(), connection()];
    const inflight = agents.map((a) => getOn(`${server.url}/sleep?seconds=1`, a));
    // Both running, or (the kernel may give both connections to one front) one running and one
    // queued behind it: the drain answers either.
    await waitFor(
      async () => {
        const text = (await request(`${server.url}/metrics`)).text;
        return metric(text, 'neutrino_workers{state="busy"}') + metric(text, "neutrino_queue_depth") === 2;
      },
      20_000,
      "both requests running or queued",
    );
    const code = server.stop("SIGTERM");
    const replies = await Promise.all(inflight);
    assert.deepEqual(replies.map((r) => r.status), [200, 200]);
    assert.equal(await code, 0);
    for (const pid of all) await waitFor(() => !isAlive(pid), 10_000, `process ${pid} gone`);
  });
});
