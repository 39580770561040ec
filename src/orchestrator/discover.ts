/** `neutrino routes`: runs the discovery worker alone and returns the app's routes. */
import type { AppSpec } from "../shared/app-spec.js";
import type { RouteInfo } from "../protocol/messages.js";
import { methodsLabel } from "./http/router.js";
import type { WorkerRuntime } from "./runtimes/runtime.js";
import { createRunSecret } from "./workers/secret.js";
import { SocketDir } from "./workers/socket-dir.js";
import { Worker } from "./workers/worker.js";

export async function discoverRoutes(app: AppSpec, runtime: WorkerRuntime, startTimeoutMs: number): Promise<RouteInfo[]> {
  const socketDir = new SocketDir();
  const worker = new Worker({
    id: "discovery",
    runtime,
    app,
    socketDir,
    startTimeoutMs,
    secret: createRunSecret(),
    heartbeatIntervalMs: 0,
    listener: {
      taskDone() {},
      exited() {},
      output: (_w, stream, line) => (stream === "stderr" ? process.stderr : process.stdout).write(`[discovery] ${line}\n`),
    },
  });
  try {
    await worker.start();
    const routes = await worker.discoverRoutes();
    await worker.stop(5_000);
    return routes;
  } finally {
    worker.kill();
    socketDir.remove();
  }
}

export function formatRouteTable(routes: readonly RouteInfo[]): string {
  const rows = routes.map((r) => [methodsLabel(r), r.path] as const);
  const width = Math.max("METHODS".length, ...rows.map(([m]) => m.length));
  return [`${"METHODS".padEnd(width)}  PATH`, ...rows.map(([m, p]) => `${m.padEnd(width)}  ${p}`)].join("\n") + "\n";
}
