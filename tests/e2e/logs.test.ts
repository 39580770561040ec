/** The access log (opt-in) and worker output tagged with the worker id, through the real CLI. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request, startServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

describe("logs", () => {
  it("--access-log writes one JSON record per request with its id, route, status and timings", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "1", "--access-log"]);
    try {
      const replies = [await request(`${server.url}/add?x=1&y=2`), await request(`${server.url}/boom`)];
      await waitFor(() => server.logs().filter((r) => r.log === "access").length === 2);
      const [ok, boom] = server.logs().filter((r) => r.log === "access");
      assert.equal(ok!.route, "/add");
      assert.equal(ok!.path, "/add");
      assert.equal(ok!.status, 200);
      assert.equal(boom!.status, 500);
      for (const [i, r] of [ok!, boom!].entries()) {
        // The id the client got back in X-Request-Id.
        assert.equal(r.requestId, replies[i]!.headers.get("x-request-id"));
        for (const field of ["durationMs", "queueMs", "workerMs"]) assert.equal(typeof r[field], "number", field);
        assert.ok((r.workerMs as number) <= (r.durationMs as number));
      }
      // The handler's traceback reaches the operator, each line tagged with the worker that printed it.
      await waitFor(() => /^\[w0\] ValueError: kaboom$/m.test(server.stderr()));
      assert.match(server.stderr(), /^\[w0\] Traceback \(most recent call last\):$/m);
    } finally {
      await server.stop();
    }
  });

  it("without --access-log, nothing is logged per request", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "1"]);
    try {
      assert.equal((await request(`${server.url}/add?x=1&y=2`)).status, 200);
      // Once the server has exited, everything it would have logged is in.
      assert.equal(await server.stop(), 0);
      assert.equal(server.logs().filter((r) => r.log === "access").length, 0);
    } finally {
      await server.stop();
    }
  });
});
