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

  it("a large route table: 50 routes listed, then the rest summed up; with --fronts 2, by one front only", async () => {
    const server = await startServer("tests/fixtures/many_routes.py:app", ["--workers", "2", "--fronts", "2"]);
    try {
      assert.equal((await request(`${server.url}/r59`)).json.route, 59);
      await waitFor(() => server.logs().filter((r) => typeof r.url === "string").length === 2, 30_000, "both fronts listening");
      const listed = server.logs().filter((r) => /^route /.test(String(r.msg)));
      assert.equal(listed.length, 50, listed.map((r) => r.msg).join("\n"));
      const summed = server.logs().filter((r) => String(r.msg).startsWith("...and 10 more routes"));
      assert.equal(summed.length, 1);
      assert.equal(summed[0]!.msg, "...and 10 more routes (60 in all): `neutrino routes tests/fixtures/many_routes.py:app` lists them");
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
