/**
 * A deploy that breaks while the server runs: SIGHUP keeps the old workers. (Replacements that then
 * fail to start are retried without stopping the server: tests/faults/supervision.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { childPids, request, startServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/breakable.py:app";

describe("broken deploy", () => {
  it("SIGHUP with code that no longer imports: logged with its traceback, the old workers keep serving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-test-"));
    const breakFile = join(dir, "broken");
    const server = await startServer(APP, ["--workers", "2"], { env: { BREAK_FILE: breakFile } });
    try {
      const before = childPids(server.proc.pid!);
      writeFileSync(breakFile, "");
      server.proc.kill("SIGHUP");
      await waitFor(() => /reload failed/.test(server.stdout()));
      assert.match(server.stdout(), /reload failed; the old workers keep serving: .*this deploy is broken/);
      assert.match(server.stdout(), /Traceback/);
      assert.deepEqual((await request(`${server.url}/add?x=1&y=2`)).json, { result: 3 });
      assert.deepEqual(childPids(server.proc.pid!).sort(), before.sort());
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(await server.stop(), 0);
  });
});
