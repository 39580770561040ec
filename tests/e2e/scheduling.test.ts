/** How the dispatcher shares the workers between quick and slow routes, through the real CLI. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitForStatus, type LiveStatus } from "../support/status.js";

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
