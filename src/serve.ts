/**
 * `neutrino serve`: the start-up flow of the seed plan (discovery worker → RouteRegistry → router
 * → pool started in parallel → listen) and the graceful shutdown on SIGINT/SIGTERM.
 */
import type { AppSpec } from "./app-spec.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { Router } from "./http/router.js";
import { HttpServer } from "./http/server.js";
import type { Logger } from "./log.js";
import type { RouteInfo } from "./protocol/messages.js";
import type { WorkerRuntime } from "./runtimes/runtime.js";
import { WorkerPool } from "./workers/pool.js";
import { SocketDir } from "./workers/socket-dir.js";
import { version } from "./version.js";

export interface ServeOptions {
  readonly app: AppSpec;
  readonly runtime: WorkerRuntime;
  readonly workers: number;
  readonly host: string;
  readonly port: number;
  readonly maxQueue: number;
  readonly maxBodySize: number;
  readonly gracefulTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly log: Logger;
}

/** Time a worker gets to exit after Shutdown before it is killed. */
const WORKER_STOP_TIMEOUT_MS = 5_000;

/** Runs the server until a signal stops it; resolves with the process exit code. */
export async function serve(options: ServeOptions): Promise<number> {
  const { app, runtime, log } = options;
  const socketDir = new SocketDir();
  const dispatcher = new Dispatcher(options.maxQueue);
  const pool = new WorkerPool({
    size: options.workers,
    runtime,
    app,
    socketDir,
    dispatcher,
    log,
    startTimeoutMs: options.startTimeoutMs,
  });
  let http: HttpServer | null = null;

  // Last resort: whatever way the process leaves, no worker and no socket directory stay behind.
  process.once("exit", () => {
    pool.kill();
    socketDir.remove();
  });

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const finish = (code: number): void => {
      socketDir.remove();
      resolveExit(code);
    };

    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping || !http) {
        // A second signal, or one during start-up: stop at once.
        log.warn({ signal }, `received ${signal} again, stopping now`);
        pool.kill();
        void Promise.all(pool.workers.map((w) => w.exited)).then(() => finish(stopping ? 1 : 0));
        stopping = true;
        return;
      }
      stopping = true;
      void shutdown(signal, http);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    const shutdown = async (signal: string, server: HttpServer): Promise<void> => {
      log.info(
        { signal, inflight: dispatcher.busy, queued: dispatcher.queued },
        `received ${signal}: finishing ${dispatcher.busy + dispatcher.queued} request(s), up to ${options.gracefulTimeoutMs / 1000} s`,
      );
      server.drain();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        dispatcher.idle().then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), options.gracefulTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        log.warn({ queued: dispatcher.queued, inflight: dispatcher.busy }, "graceful timeout reached");
        dispatcher.rejectQueued(503, "the server is shutting down");
      }
      await pool.stop(WORKER_STOP_TIMEOUT_MS);
      server.closeAll();
      log.info("stopped");
      finish(0);
    };

    start().then(
      (server) => {
        http = server;
      },
      (err: Error) => {
        pool.kill();
        if (!stopping) reportStartupFailure(err);
        void Promise.all(pool.workers.map((w) => w.exited)).then(() => finish(stopping ? 0 : 1));
      },
    );
  });

  async function start(): Promise<HttpServer> {
    log.info(
      { app: app.text, workers: options.workers, runtime: runtime.name, version },
      `Neutrino ${version}: loading ${app.text} with ${runtime.description}`,
    );
    // Discovery: one worker loads the app and lists its routes. It then joins the pool as w0.
    const first = pool.createWorker(0);
    await first.start();
    const routes = await first.discoverRoutes();
    const router = new Router(routes);
    await pool.start([first]);
    const server = new HttpServer({ router, dispatcher, maxBodySize: options.maxBodySize });
    const address = await server.listen(options.host, options.port).catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        err.code === "EADDRINUSE"
          ? `port ${options.port} on ${options.host} is already in use`
          : `cannot listen on ${options.host}:${options.port}: ${err.message}`,
      );
    });
    logBanner(log, routes);
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    log.info({ url, port: address.port, workers: options.workers, socketDir: socketDir.path }, `listening on ${url} with ${options.workers} workers`);
    return server;
  }

  function reportStartupFailure(err: Error): void {
    const traceback = (err as { traceback?: string }).traceback;
    process.stderr.write(`neutrino: cannot serve ${app.text}: ${err.message}\n${traceback ? `\n${traceback}` : ""}`);
  }
}

function logBanner(log: Logger, routes: readonly RouteInfo[]): void {
  if (routes.length === 0) log.warn("the app has no routes: every request will get 404");
  const width = Math.max(0, ...routes.map((r) => r.methods.join(", ").length));
  for (const r of routes) {
    log.info({ path: r.path, methods: r.methods }, `route ${r.methods.join(", ").padEnd(width)}  ${r.path}`);
  }
}
