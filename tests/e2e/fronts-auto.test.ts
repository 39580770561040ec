/**
 * `--fronts auto` through the real CLI: the count is resolved from the machine's cores and the
 * workers, logged once, and the server answers; a count that is neither a number nor `auto` is
 * a usage error (exit 2) naming the option.
 */
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { describe, it } from "node:test";
import { autoFronts } from "../../src/orchestrator/fronts/count.js";
import { request, runCli, startServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

describe("--fronts auto", () => {
  it("starts the number of fronts the machine's cores and --workers give, says so, and serves", async () => {
    const expected = autoFronts(4, availableParallelism());
    const server = await startServer("tests/fixtures/pyapp:app", ["--fronts", "auto", "--workers", "4"]);
    try {
      const said = server.logs().find((r) => typeof r.msg === "string" && r.msg.startsWith("--fronts auto:"));
      assert.ok(said, "the chosen count is logged");
      assert.equal(said.fronts, expected);
      assert.match(String(said.msg), new RegExp(`^--fronts auto: ${expected} front\\(s\\) for 4 workers on ${availableParallelism()} cores$`));
      await waitFor(() => server.logs().filter((r) => typeof r.url === "string").length >= expected, 30_000, "every front listening");
      const r = await request(`${server.url}/add?x=2&y=3`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(JSON.parse(r.text), { result: 5 });
    } finally {
      await server.stop();
    }
  });

  it("refuses a count that is neither a number nor auto: exit 2, naming the option", async () => {
    const run = runCli(["serve", "tests/fixtures/pyapp:app", "--fronts", "many"]);
    assert.equal(await run.exited, 2);
    assert.match(run.err(), /option '--fronts <n>' argument 'many' is invalid/);
  });
});
