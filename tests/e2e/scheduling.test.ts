/** How the dispatcher shares the workers between quick and slow routes, through the real CLI. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { childPids, request, startServer, type Reply, type RunningServer } from "../support/server.js";
import { waitForLoad, waitForStatus, type LiveStatus } from "../support/status.js";

/** The routes each worker is running, from the status page. */
const running = (s: LiveStatus): string[][] =>
  (s.workers as unknown as { current: { route: string }[] }[]).map((w) => w.current.map((c) => c.route));

describe("quick and slow routes share the workers (python)", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "2", "--status-page"]);
  });
  after(async () => {
    await server.stop();
  });

  it("slow requests leave one worker free until they back up, then get both; quick ones are all answered, none starves", async () => {
    // Teach the dispatcher that /sleep is slow (about 60 ms) and /add quick.
    for (let i = 0; i < 5; i++) assert.equal((await request(`${server.url}/sleep?seconds=0.06`)).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await request(`${server.url}/add?x=1&y=2`)).status, 200);

    let slowDone = 0;
    const slow = [1, 2, 3, 4].map(() => request(`${server.url}/sleep?seconds=1`).then((r) => (slowDone++, r)));
    // A client sending quick requests one after another for as long as slow ones are unanswered.
    let quickBeforeLastSlow = 0;
    let stop = false;
    const quick = (async () => {
      const statuses: number[] = [];
      for (let i = 0; !stop; i++) {
        const r = await request(`${server.url}/add?x=${i}&y=1`);
        statuses.push(r.status);
        assert.deepEqual(r.json, { result: i + 1 });
        if (slowDone < 4) quickBeforeLastSlow++;
      }
      return statuses;
    })();

    // The slow requests wait for each other, then take both workers although quick ones keep coming.
    await waitForStatus(server, (s) => running(s).every((routes) => routes.includes("/sleep")), "both workers running /sleep");
    const answers = await Promise.all(slow);
    stop = true;
    const statuses = await quick;
    for (const r of answers) assert.equal(r.status, 200, "every slow request is answered");
    assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), `quick answers: ${statuses.join(",")}`);
    // A worker that frees up takes a waiting quick request before the next slow one.
    assert.ok(quickBeforeLastSlow >= 1, "quick requests were answered while slow ones ran");
  });
});

describe("requests held inside a worker that dies are served in the order they arrived (python)", () => {
  let dir: string;
  let server: RunningServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-order-"));
    // No --queue-timeout: on a loaded machine a request may wait queued longer than its 5 s.
    server = await startServer("tests/fixtures/order_app.py:app", ["--workers", "1", "--status-page", "--queue-timeout", "0"]);
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("those prefetched behind the running one, then those queued after them, run on the replacement in the order they arrived", async () => {
    // Timed quick, /wait may have up to four requests wait behind it inside the worker (fewer
    // when this machine is so loaded that four of its timings add up to 5 ms or more).
    for (let i = 0; i < 30; i++) assert.equal((await request(`${server.url}/wait`)).status, 200);
    const [victim] = childPids(server.proc.pid!);
    // It never ends: the file it waits for is never made.
    const running = request(`${server.url}/wait?${new URLSearchParams({ tag: "running", until: join(dir, "never") })}`);
    await waitForLoad(server, 1);
    // One at a time, so that the order they arrived in is known: each is held by the worker or
    // queued before the next is sent.
    const later: Promise<Reply>[] = [];
    let prefetched = 0;
    for (let i = 1; i <= 5; i++) {
      later.push(request(`${server.url}/wait?tag=${i}`));
      const s = await waitForStatus(server, (s) => s.inflight + s.queue.depth === 1 + i, `${1 + i} requests held or queued`);
      prefetched = s.inflight - 1;
    }
    assert.ok(prefetched >= 1 && prefetched <= 4, `${prefetched} prefetched`);
    process.kill(victim!, "SIGKILL");
    assert.equal((await running).status, 502);
    const replies = await Promise.all(later);
    for (const r of replies) {
      assert.equal(r.status, 200);
      assert.notEqual(r.json.pid, victim, "served by the new worker");
    }
    const byRun = [...replies].sort((a, b) => (a.json.ran as number) - (b.json.ran as number)).map((r) => r.json.tag);
    assert.deepEqual(byRun, ["1", "2", "3", "4", "5"]);
  });
});
