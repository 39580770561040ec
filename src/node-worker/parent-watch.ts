/**
 * A Node worker must not outlive its orchestrator, even while a handler blocks the event loop
 * forever (`while (true)`), when no timer or socket callback of the main thread can run. Linux's
 * parent-death signal needs a launcher or native code; instead a tiny worker thread, which keeps
 * running whatever the main thread does, checks the parent's PID and, once the orchestrator is gone
 * (the worker was re-parented), SIGKILLs the worker's process group: the worker and whatever its
 * handlers started. The orchestrator starts each worker as the leader of its own group.
 */
import { Worker } from "node:worker_threads";

/** How often the thread looks: one getppid() call, nothing else. */
const CHECK_INTERVAL_MS = 500;

const WATCHER = `
const { workerData } = require("node:worker_threads");
const { parent, pid, intervalMs } = workerData;
setInterval(() => {
  if (process.ppid === parent) return;
  try {
    process.kill(-pid, "SIGKILL"); // the worker's group, when it leads one
  } catch {
    process.kill(pid, "SIGKILL");
  }
}, intervalMs);
`;

/** Starts the watcher thread; it never keeps the process alive on its own. */
export function dieWithParent(): void {
  const parent = process.ppid;
  if (parent <= 1) return; // already orphaned, or started by init: nothing to watch
  const watcher = new Worker(WATCHER, {
    eval: true,
    workerData: { parent, pid: process.pid, intervalMs: CHECK_INTERVAL_MS },
    // It needs almost no memory: keep its heap small.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
    stdout: false,
    stderr: false,
  });
  watcher.unref();
}
