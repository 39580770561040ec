/**
 * Frames batched on the worker's socket: the orchestrator writes the tasks of one event-loop turn
 * together and a sequential worker holds several quick tasks, so many requests share each write
 * and receive. Each must still get its own answer. (A worker dying with several held:
 * tests/e2e/workers.test.ts, "prefetch".)
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { testApps } from "../support/apps.js";
import { request, startServer, type RunningServer } from "../support/server.js";

for (const { language, app } of testApps) {
  describe(`a burst of quick requests to one worker (${language})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1"]);
    });
    after(async () => {
      await server.stop();
    });

    it("every request, GET and POST mixed, gets its own answer", async () => {
      // Timed quick first, so that the burst is prefetched into the worker several at a time.
      for (let i = 0; i < 20; i++) assert.equal((await request(`${server.url}/add?x=${i}&y=1`)).status, 200);
      const n = 200;
      const replies = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          i % 2 === 0
            ? request(`${server.url}/add?x=${i}&y=1000`)
            : request(`${server.url}/echo`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ value: `v${i}-${"x".repeat(i * 37)}` }),
              }),
        ),
      );
      replies.forEach((r, i) => {
        assert.equal(r.status, 200, `request ${i}: ${r.text}`);
        assert.deepEqual(r.json, i % 2 === 0 ? { result: i + 1000 } : { value: `v${i}-${"x".repeat(i * 37)}` });
      });
    });
  });
}
