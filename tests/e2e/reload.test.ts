/** --reload: a changed source file rolls the workers; broken code keeps the last good ones serving. */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { request, startServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

it("--reload picks up an edit, and keeps the old workers when the edit does not import", async () => {
  const dir = mkdtempSync(join(tmpdir(), "neutrino-reload-"));
  const file = join(dir, "app.py");
  writeFileSync(file, readFileSync(join(repoRoot, "examples", "myapp.py"), "utf8"));
  const server = await startServer("app.py:app", ["--workers", "2", "--reload"], { cwd: dir });
  try {
    await waitFor(() => /watching/.test(server.stdout()));
    assert.deepEqual((await request(`${server.url}/add?x=1&y=2`)).json, { result: 3 });

    writeFileSync(file, readFileSync(file, "utf8").replace('{"result": x + y}', '{"result": x + y, "edited": True}'));
    await waitFor(() => /reloaded: 2 new workers serving/.test(server.stdout()));
    assert.deepEqual((await request(`${server.url}/add?x=1&y=2`)).json, { result: 3, edited: true });

    appendFileSync(file, "\n1 / 0\n");
    await waitFor(() => /reload failed; the old workers keep serving/.test(server.stdout()));
    assert.match(server.stdout(), /ZeroDivisionError/);
    assert.deepEqual((await request(`${server.url}/add?x=1&y=2`)).json, { result: 3, edited: true });
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(await server.stop(), 0);
});
