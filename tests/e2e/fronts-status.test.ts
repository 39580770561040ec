/**
 * `--fronts 2` through the real CLI: the status page, /ready and /metrics describe the whole
 * server whichever front gets the connection; a front killed by PID is replaced while the page
 * keeps answering, and a front killed again and again is replaced after growing delays.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { childPids, getOn, request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/pyapp:app" },
  { runtime: "typescript", app: "tests/fixtures/tsapp.ts:app" },
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function status(server: RunningServer): Promise<any> {
  const r = await getOn(`${server.url}/_neutrino/status.json`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

/** The pid each front slot listens with now (its latest "listening" line). */
function listeningPid(server: RunningServer, front: number): number | undefined {
  return server.logs().filter((r) => typeof r.url === "string" && r.front === front).at(-1)?.pid as number | undefined;
}

function listeningLines(server: RunningServer): number {
  return server.logs().filter((r) => typeof r.url === "string").length;
}

for (const { runtime, app } of apps) {
  describe(`--fronts 2 --workers 4 status page (${runtime})`, () => {
    it("lists every worker of every front with its front, sums the counts, and /ready answers for the server", async () => {
      const server = await startServer(app, ["--fronts", "2", "--workers", "4", "--status-page", "--max-queue", "100", "--worker-timeout", "1.5"]);
      try {
        await waitFor(() => listeningLines(server) >= 2, 30_000, "both fronts listening");
        for (let i = 0; i < 10; i++) assert.equal((await getOn(`${server.url}/add?x=${i}&y=1`)).status, 200);
        const fronts = childPids(server.proc.pid!);
        assert.equal(fronts.length, 2);
        await waitFor(() => fronts.every((f) => childPids(f).length === 2), 20_000, "two workers per front");
        // Every fresh connection goes to the next front: each answer must be the whole server.
        for (let round = 0; round < 4; round++) {
          const s = await status(server);
          assert.equal(s.neutrino.pid, server.proc.pid);
          assert.equal(s.workers.length, 4);
          for (const f of [0, 1]) {
            const pid = listeningPid(server, f)!;
            const mine = s.workers.filter((w: { front: number }) => w.front === f);
            assert.deepEqual(mine.map((w: { pid: number }) => w.pid).sort(), childPids(pid).sort(), `front ${f}'s workers`);
          }
          assert.deepEqual(
            s.fronts.map((f: { index: number; state: string; restarts: number }) => [f.index, f.state, f.restarts]),
            [[0, "serving", 0], [1, "serving", 0]],
          );
          assert.equal(s.pool.size, 4);
          assert.equal(s.queue.capacity, 200); // each front has its own queue of --max-queue
          assert.equal(s.totals.requests, 10);
        }
        // The per-second counts of both fronts are summed into one series.
        await waitFor(async () => (await status(server)).last_60s.requests === 10, 10_000, "the last minute's 10 requests");
        if (runtime === "typescript") {
          await waitFor(async () => (await status(server)).workers.every((w: { loop_lag_ms: unknown }) => typeof w.loop_lag_ms === "number"), 20_000, "every Node worker's loop lag");
        } else {
          assert.ok((await status(server)).workers.every((w: { loop_lag_ms: unknown }) => w.loop_lag_ms === null));
        }
        for (let i = 0; i < 4; i++) {
          const ready = await getOn(`${server.url}/ready`);
          assert.equal(ready.status, 200, ready.body);
        }
      } finally {
        await server.stop();
      }
      assert.equal(await server.stop(), 0);
    });
  });
}

describe("--fronts 2: /ready for the whole server", () => {
  it("a front without a serving worker makes /ready 503 on every front, naming it; ready again once its worker starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-fronts-ready-"));
    const breakFile = join(dir, "broken");
    const server = await startServer("tests/fixtures/breakable.py:app", ["--fronts", "2", "--workers", "2", "--status-page"], { env: { BREAK_FILE: breakFile } });
    try {
      await waitFor(() => listeningLines(server) >= 2, 30_000, "both fronts listening");
      const front0 = listeningPid(server, 0)!;
      await waitFor(() => childPids(front0).length === 1, 20_000, "front 0's worker");
      writeFileSync(breakFile, "");
      process.kill(childPids(front0)[0]!, "SIGKILL");
      // Its replacement fails to start (a broken deploy): front 0 has no serving worker, front 1 has one.
      await waitFor(async () => (await status(server)).pool.start_failures_in_a_row >= 1, 20_000, "front 0's failed start on the page");
      for (let i = 0; i < 4; i++) {
        const ready = await getOn(`${server.url}/ready`);
        assert.equal(ready.status, 503, ready.body);
        assert.deepEqual(JSON.parse(ready.body), { status: "no_worker", fronts: [0] });
      }
      const s = await status(server);
      assert.equal(s.pool.serving, 1);
      assert.match(s.pool.last_start_error, /this deploy is broken/);
      unlinkSync(breakFile);
      await waitFor(async () => (await getOn(`${server.url}/ready`)).status === 200, 30_000, "/ready 200 once front 0's worker starts");
      for (let i = 0; i < 4; i++) assert.equal((await getOn(`${server.url}/ready`)).status, 200);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(await server.stop(), 0);
  });
});

describe("--fronts 2: a front that dies", () => {
  const app = "tests/fixtures/pyapp:app";

  it("killed by PID: the status page keeps answering, the new front's workers appear, /metrics counts the restart", async () => {
    const server = await startServer(app, ["--fronts", "2", "--workers", "4", "--status-page"]);
    try {
      await waitFor(() => listeningLines(server) >= 2, 30_000, "both fronts listening");
      const victim = listeningPid(server, 0)!;
      await waitFor(() => childPids(victim).length === 2, 20_000, "the victim's workers");
      const before = (await status(server)).workers.map((w: { pid: number }) => w.pid);
      process.kill(victim, "SIGKILL");
      await waitFor(() => /front 0 exited \(SIGKILL\): starting a new one/.test(server.stdout()), 10_000, "the primary sees the exit");
      // Meanwhile the surviving front answers for the server: its own workers, and front 0 being replaced.
      const during = await status(server);
      assert.ok(["replacing", "starting", "serving"].includes(during.fronts[0].state), during.fronts[0].state);
      assert.equal(during.fronts[0].restarts, 1);
      assert.equal(during.fronts[1].state, "serving");
      assert.equal((await getOn(`${server.url}/ready`)).status, 200); // the survivor serves; the new front gets no connection until it listens
      await waitFor(() => listeningLines(server) >= 3, 30_000, "the new front listening");
      const replacement = listeningPid(server, 0)!;
      assert.notEqual(replacement, victim);
      await waitFor(
        async () => {
          const s = await status(server);
          const pids = s.workers.filter((w: { front: number; state: string }) => w.front === 0 && w.state !== "starting").map((w: { pid: number }) => w.pid);
          return s.workers.length === 4 && pids.length === 2 && pids.every((p: number) => !before.includes(p));
        },
        30_000,
        "the new front's two workers on the page",
      );
      const s = await status(server);
      assert.equal(s.fronts[0].pid, replacement);
      assert.equal(s.fronts[0].state, "serving");
      const scrape = await request(`${server.url}/metrics`);
      assert.match(scrape.text, /^neutrino_front_restarts_total\{front="0"\} 1$/m);
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });

  it("killed again and again: replaced after growing delays, each logged with its count", async () => {
    const server = await startServer(app, ["--fronts", "2", "--workers", "2"]);
    try {
      await waitFor(() => listeningLines(server) >= 2, 30_000, "both fronts listening");
      for (let kill = 1; kill <= 3; kill++) {
        const victim = listeningPid(server, 0)!;
        process.kill(victim, "SIGKILL");
        await waitFor(() => listeningLines(server) >= 2 + kill, 30_000, `front 0's replacement number ${kill} listening`);
        assert.notEqual(listeningPid(server, 0), victim);
      }
      const exits = server.logs().filter((r) => typeof r.msg === "string" && r.msg.startsWith("front 0 exited"));
      assert.deepEqual(
        exits.map((r) => [r.crashesInARow, r.delayMs]),
        [
          [1, 100],
          [2, 200],
          [3, 400],
        ],
      );
      assert.match(String(exits[2]!.msg), /^front 0 exited \(SIGKILL\): starting a new one in 400 ms \(3 in a row\)$/);
      // Front 1 was never touched, and the server answers through both.
      const front1 = server.logs().filter((r) => typeof r.msg === "string" && r.msg.startsWith("front 1 exited"));
      assert.equal(front1.length, 0, `front 1 exited: ${JSON.stringify(front1)}\n${server.stderr().slice(-2000)}`);
      const replies = await Promise.all(Array.from({ length: 4 }, (_, i) => getOn(`${server.url}/add?x=${i}&y=2`)));
      assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200]);
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });
});
