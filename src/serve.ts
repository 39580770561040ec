/**
 * `neutrino serve`: the start-up flow of the seed plan (discovery worker → RouteRegistry → router
 * → pool started in parallel → listen) and the signals: SIGTERM/SIGINT drain and exit, SIGHUP
 * reloads the app, SIGTTIN/SIGTTOU add and remove a worker.
 */
import type { AppSpec } from "./app-spec.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { Router } from "./http/router.js";
import type { ProbePaths } from "./http/probes.js";
import { StaticFiles, warnStaticClashes, type StaticMount } from "./http/static-files.js";
import { ApiDocs, DOCS_PATH, OPENAPI_PATH } from "./openapi/docs-page.js";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HttpServer, serveMetrics, type ClientTimeouts } from "./http/server.js";
import type { CompressionOptions } from "./http/compression.js";
import type { CorsOptions } from "./http/cors.js";
import type { FSWatcher } from "chokidar";
import { Metrics } from "./metrics.js";
import { watchForReload } from "./reload.js";
import type { Logger } from "./log.js";
import type { RouteInfo } from "./protocol/messages.js";
import type { WorkerRuntime } from "./runtimes/runtime.js";
import { StatusPage } from "./status/status-page.js";
import { nameAndVersion, version } from "./version.js";
import { WorkerPool } from "./workers/pool.js";
import { createRunSecret } from "./workers/secret.js";
import { SocketDir } from "./workers/socket-dir.js";
import { Watchdog } from "./workers/watchdog.js";

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
  /** 0 turns each of these off. */
  readonly workerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly queueTimeoutMs: number;
  readonly maxRequests: number;
  readonly maxRequestsJitter: number;
  readonly maxWorkerMemoryMb: number;
  readonly clientTimeouts: ClientTimeouts;
  readonly probes: ProbePaths;
  /** Serve /metrics on this port instead of the main one (null: on the main port). */
  readonly metricsPort: number | null;
  /** Watch this directory and reload the app when a source file changes (null: off). */
  readonly reloadDir: string | null;
  readonly accessLog: boolean;
  /** Hand a busy one-at-a-time worker one more task while it runs a quick route (Dispatcher). */
  readonly prefetch: boolean;
  /** `--static PREFIX=DIR` mounts. */
  readonly staticMounts: readonly StaticMount[];
  /** Serve /openapi.json and /docs. */
  readonly docs: boolean;
  /** Serve the live status page at /_neutrino/. */
  readonly statusPage: boolean;
  /** --cors-origin / --cors-credentials (null or absent: no CORS). */
  readonly cors?: CorsOptions | null;
  /** --compress (null or absent: off). */
  readonly compression?: CompressionOptions | null;
  readonly log: Logger;
}

/** Time a worker gets to exit after Shutdown once nothing is left for it to do. */
const WORKER_EXIT_TIMEOUT_MS = 5_000;
/** Idle workers say they are alive this often: well inside the worker timeout. */
const MAX_HEARTBEAT_INTERVAL_MS = 5_000;

/** Runs the server until a signal stops it; resolves with the process exit code. */
export async function serve(options: ServeOptions): Promise<number> {
  const { app, runtime, log } = options;
  const socketDir = new SocketDir();
  const metrics = new Metrics();
  const dispatcher = new Dispatcher(options.maxQueue, (ms) => metrics.waited(ms / 1000), options.prefetch);
  let http: HttpServer | null = null;
  let fatal: (err: Error) => void = () => {};
  const staticFiles = options.staticMounts.length > 0 ? new StaticFiles(options.staticMounts) : null;
  const apiDocs = options.docs ? new ApiDocs({ title: app.text, version: "0.0.0" }, (message) => log.warn(message)) : null;
  const builtIns = [options.probes.health, options.probes.ready, "/metrics", ...(apiDocs ? [OPENAPI_PATH, DOCS_PATH] : [])];
  const pool = new WorkerPool({
    size: options.workers,
    runtime,
    app,
    socketDir,
    dispatcher,
    log,
    startTimeoutMs: options.startTimeoutMs,
    secret: createRunSecret(),
    heartbeatIntervalMs: options.workerTimeoutMs > 0 ? Math.min(MAX_HEARTBEAT_INTERVAL_MS, options.workerTimeoutMs / 3) : 0,
    maxRequests: options.maxRequests,
    maxRequestsJitter: options.maxRequestsJitter,
    drainTimeoutMs: options.gracefulTimeoutMs,
    onFatal: (err) => fatal(err),
    onRestart: (cause) => metrics.workerRestarted(cause),
    onRoutes: (routes) => {
      if (!http) return;
      http.router = new Router(routes);
      apiDocs?.update(routes);
      logRoutes(log, routes);
      warnStaticClashes(log, options.staticMounts, routes);
    },
  });
  metrics.watch(dispatcher, () => pool);
  const statusPage = options.statusPage
    ? new StatusPage({ workers: () => pool.workers, dispatcher, maxQueue: options.maxQueue, app: app.text, runtime: runtime.name, version })
    : null;
  if (statusPage) builtIns.push(...statusPage.paths);
  let metricsServer: Server | null = null;
  let watcher: FSWatcher | null = null;
  const watchdog = new Watchdog({
    pool,
    dispatcher,
    log,
    requestTimeoutMs: options.requestTimeoutMs,
    queueTimeoutMs: options.queueTimeoutMs,
    workerTimeoutMs: options.workerTimeoutMs,
    maxWorkerMemoryBytes: options.maxWorkerMemoryMb * 1024 * 1024,
  });

  // Last resort: whatever way the process leaves, no worker and no socket directory stay behind.
  process.once("exit", () => {
    pool.kill();
    socketDir.remove();
  });

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const finish = (code: number): void => {
      watchdog.stop();
      void watcher?.close();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      socketDir.remove();
      resolveExit(code);
    };
    const killAll = (code: number): void => {
      stopping = true;
      pool.kill();
      http?.drain();
      http?.closeAll();
      void Promise.all(pool.workers.map((w) => w.exited)).then(() => finish(code));
    };
    fatal = (err) => {
      if (stopping) return;
      process.stderr.write(`neutrino: stopping: ${err.message}\n`);
      killAll(1);
    };

    const onStopSignal = (signal: NodeJS.Signals): void => {
      if (stopping || !http) {
        // A second signal, or one during start-up: stop at once.
        log.warn({ signal }, `received ${signal}${stopping ? " again" : " during start-up"}, stopping now`);
        killAll(stopping ? 1 : 0);
        return;
      }
      stopping = true;
      void shutdown(signal, http);
    };
    const signals: [NodeJS.Signals, () => void][] = [
      ["SIGINT", () => onStopSignal("SIGINT")],
      ["SIGTERM", () => onStopSignal("SIGTERM")],
      ["SIGHUP", () => http && !stopping && void pool.reload()],
      ["SIGTTIN", () => http && !stopping && pool.grow()],
      ["SIGTTOU", () => http && !stopping && pool.shrink()],
    ];
    for (const [signal, handler] of signals) process.on(signal, handler);

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
        log.warn({ queued: dispatcher.queued, inflight: dispatcher.busy }, "graceful timeout reached: answering the rest with 503");
        dispatcher.rejectQueued(503, "the server is shutting down");
        pool.failInflight(503, "the server is shutting down");
        pool.kill();
      }
      await pool.stop(WORKER_EXIT_TIMEOUT_MS);
      server.closeAll();
      log.info("stopped");
      finish(0);
    };

    start().then(
      (server) => {
        http = server;
        watchdog.start();
        if (options.reloadDir !== null) {
          watcher = watchForReload(options.reloadDir, log, () => !stopping && void pool.reload());
          log.info({ dir: options.reloadDir }, `watching ${options.reloadDir} for changes`);
        }
      },
      (err: Error) => {
        if (!stopping) reportStartupFailure(err);
        killAll(stopping ? 0 : 1);
      },
    );
  });

  async function start(): Promise<HttpServer> {
    log.info(
      { app: app.text, workers: options.workers, runtime: runtime.name, version },
      `${nameAndVersion}: loading ${app.text} with ${runtime.description}`,
    );
    // Discovery: one worker loads the app and lists its routes, then joins the pool.
    const { routes } = await pool.discover();
    const router = new Router(routes);
    apiDocs?.update(routes);
    await pool.start();
    const server = new HttpServer({
      router,
      dispatcher,
      maxBodySize: options.maxBodySize,
      timeouts: options.clientTimeouts,
      probes: options.probes,
      metrics,
      metricsPath: options.metricsPort === null ? "/metrics" : null,
      accessLog: options.accessLog ? log.child({ log: "access" }) : null,
      staticFiles,
      apiDocs,
      statusPage,
      cors: options.cors ?? null,
      compression: options.compression ?? null,
    });
    const address = await server.listen(options.host, options.port).catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        err.code === "EADDRINUSE"
          ? `port ${options.port} on ${options.host} is already in use`
          : `cannot listen on ${options.host}:${options.port}: ${err.message}`,
      );
    });
    logRoutes(log, routes);
    if (options.metricsPort !== null) {
      metricsServer = createServer((_req, res) => void serveMetrics(metrics, res));
      await new Promise<void>((resolve, reject) => {
        metricsServer!.once("error", reject).listen(options.metricsPort!, options.host, () => resolve());
      });
      const port = (metricsServer.address() as AddressInfo).port;
      log.info({ metricsPort: port }, `metrics on http://${options.host}:${port}/metrics`);
    }
    for (const path of builtIns) {
      if (routes.some((r) => r.path === path)) log.warn({ path }, `the app's own route ${path} hides the built-in endpoint on that path`);
    }
    for (const m of options.staticMounts) log.info({ prefix: m.prefix, dir: m.root }, `static files: ${m.prefix}/ from ${m.root}`);
    warnStaticClashes(log, options.staticMounts, routes, builtIns);
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    if (statusPage) log.info({ statusPage: `${url}/_neutrino/` }, `status page on ${url}/_neutrino/`);
    log.info(
      { url, port: address.port, workers: options.workers, socketDir: socketDir.path },
      `listening on ${url} with ${options.workers} workers`,
    );
    return server;
  }

  function reportStartupFailure(err: Error): void {
    const traceback = (err as { traceback?: string }).traceback;
    process.stderr.write(`neutrino: cannot serve ${app.text}: ${err.message}\n${traceback ? `\n${traceback}` : ""}`);
  }
}

function logRoutes(log: Logger, routes: readonly RouteInfo[]): void {
  if (routes.length === 0) log.warn("the app has no routes: every request will get 404");
  const width = Math.max(0, ...routes.map((r) => r.methods.join(", ").length));
  for (const r of routes) {
    log.info({ path: r.path, methods: r.methods }, `route ${r.methods.join(", ").padEnd(width)}  ${r.path}`);
  }
}
