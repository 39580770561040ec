/** The worker socket refuses connections without the run's secret, and keeps waiting for the real worker. */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { it } from "node:test";
import { parseAppSpec } from "../../src/shared/app-spec.js";
import { createRunSecret } from "../../src/orchestrator/workers/secret.js";
import { SocketDir } from "../../src/orchestrator/workers/socket-dir.js";
import { Worker } from "../../src/orchestrator/workers/worker.js";
import { repoRoot } from "../support/paths.js";
import { waitFor } from "../support/wait.js";

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

it("keeps exactly one connection: a client that connected before the worker is closed once the worker is in, and none connects after", async () => {
  const socketDir = new SocketDir();
  const gate = join(socketDir.path, "gate");
  const worker = new Worker({
    id: "w1",
    app: parseAppSpec("unused:app"),
    socketDir,
    // Long enough that only the worker's arrival can close the early client within the test.
    startTimeoutMs: 120_000,
    handshakeTimeoutMs: 120_000,
    secret: createRunSecret(),
    heartbeatIntervalMs: 0,
    runtime: {
      name: "late-test",
      description: "node",
      command: (socketPath, workerId) => ({
        file: process.execPath,
        args: [join(repoRoot, "tests", "fixtures", "late_worker.mjs"), socketPath, workerId],
        env: { ...process.env, LATE_WORKER_GATE: gate },
      }),
    },
    listener: { taskDone() {}, exited() {}, output() {} },
  });
  const started = worker.start();
  try {
    const socketPath = socketDir.socketPath("w1");
    await waitFor(() => existsSync(socketPath));
    const early = connect(socketPath);
    let closed = false;
    early.on("error", () => {});
    early.on("close", () => (closed = true));
    await new Promise((resolve) => early.once("connect", resolve));
    writeFileSync(gate, "");
    await started;
    await waitFor(() => closed);
    const late = await new Promise<string>((resolve) => {
      const sock = connect(socketPath, () => resolve("connected"));
      sock.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    assert.equal(late, "ENOENT", "nothing listens on the worker's socket once the worker is in");
  } finally {
    await worker.stop(2_000);
    socketDir.remove();
  }
});
