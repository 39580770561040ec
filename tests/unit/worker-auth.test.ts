/** The worker socket refuses connections without the run's secret, and keeps waiting for the real worker. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { parseAppSpec } from "../../src/shared/app-spec.js";
import { createRunSecret } from "../../src/workers/secret.js";
import { SocketDir } from "../../src/workers/socket-dir.js";
import { Worker } from "../../src/workers/worker.js";
import { repoRoot } from "../support/paths.js";

it("drops a connection with a wrong secret or no Hello, then accepts the real worker and removes the socket file", async () => {
  const socketDir = new SocketDir();
  const lines: string[] = [];
  const worker = new Worker({
    id: "w0",
    app: parseAppSpec("unused:app"),
    socketDir,
    startTimeoutMs: 10_000,
    secret: createRunSecret(),
    heartbeatIntervalMs: 0,
    runtime: {
      name: "impostor-test",
      description: "node",
      command: (socketPath, workerId) => ({
        file: process.execPath,
        args: [join(repoRoot, "tests", "fixtures", "impostor.mjs"), socketPath, workerId],
        env: process.env,
      }),
    },
    listener: { taskDone() {}, exited() {}, output: (_w, _s, line) => void lines.push(line) },
  });
  try {
    await worker.start();
    assert.deepEqual(lines, ["wrong secret: closed", "garbage: closed"]);
    assert.equal(existsSync(socketDir.socketPath("w0")), false, "the socket file is gone once the worker is in");
  } finally {
    await worker.stop(2_000);
    socketDir.remove();
  }
});
