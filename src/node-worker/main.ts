/**
 * The Node worker process the orchestrator starts, one per socket (docs/protocol.md, "Connection"):
 *
 *     node dist/src/node-worker/main.js <socket_path> <worker_id> <app_path>
 *
 * Unlike the synchronous Python worker it runs many tasks at once (NEUTRINO_WORKER_CONCURRENCY,
 * announced in WorkerReady) and answers each as soon as its handler settles, in any order.
 * Exit status: 0 after Shutdown or when the orchestrator goes away, 1 when the app cannot be
 * loaded (after sending StartupError) or the socket cannot be reached, 2 on a protocol error.
 */
import { readFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { encodeHello, encodeStartupError } from "../protocol/codec.js";
import { App } from "../sdk/app.js";
import { concurrencyFrom } from "../shared/concurrency.js";
import { StartupFailure } from "../shared/startup-failure.js";
import { loadApp } from "./app-loader.js";
import { Connection } from "./connection.js";
import { Executor } from "./executor.js";
import { dieWithParent } from "./parent-watch.js";

const USAGE = "usage: node dist/src/node-worker/main.js <socket_path> <worker_id> <app_path>\n";

async function main(args: string[]): Promise<void> {
  if (args.length !== 3) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const [socketPath, workerId, appPath] = args as [string, string, string];
  // Ctrl-C in a terminal reaches the whole process group; the orchestrator drains the workers
  // and then sends Shutdown, so the worker must not die on SIGINT first.
  process.on("SIGINT", () => {});
  dieWithParent();
  // A promise nobody awaits cannot have left the worker's own state half-done: report it and go
  // on serving, as a Python worker goes on when a background thread fails.
  process.on("unhandledRejection", (reason) => {
    const text = reason instanceof Error ? (reason.stack ?? String(reason)) : String(reason);
    process.stderr.write(`neutrino worker ${workerId}: unhandled promise rejection (the worker keeps serving):\n${text}\n`);
  });

  const concurrency = concurrencyFrom(process.env);
  const secret = readSecret();
  const socket = await connect(socketPath).catch((err: Error) => {
    process.stderr.write(`neutrino worker ${workerId}: cannot connect to ${socketPath}: ${err.message}\n`);
    process.exit(1);
  });
  // Hello first, before the app loads (which may take a while): the orchestrator authenticates us early.
  socket.write(encodeHello(workerId, secret));
  let app: Awaited<ReturnType<typeof loadApp>>;
  try {
    app = await loadApp(appPath);
  } catch (err) {
    const failure = err instanceof StartupFailure ? err : new StartupFailure("import_error", String(err));
    socket.on("error", () => process.stderr.write(`neutrino worker ${workerId}: ${failure.message}\n${failure.traceback}`));
    socket.end(encodeStartupError(failure.kind, failure.message, failure.traceback), () => process.exit(1));
    return;
  }
  // A neutrino App runs through the SDK's Executor; a fetch app is its own runner.
  new Connection(socket, workerId, App.isApp(app) ? new Executor(app) : app).start(concurrency);
}

/** The per-run secret arrives on stdin (never argv or env, which other processes can read). */
function readSecret(): string {
  if (process.stdin.isTTY) return "";
  try {
    return readFileSync(0, "utf8").trim();
  } catch {
    return "";
  }
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

await main(process.argv.slice(2));
