/**
 * `neutrino serve`: the Server owns one run of the orchestrator. `start()` brings it up (discovery
 * worker → route table → the rest of the pool → listen → metrics port); signals move it through
 * its states; `shutdown()` drains it. SIGTERM/SIGINT drain and exit, SIGHUP reloads the app,
 * SIGTTIN/SIGTTOU add and remove a worker: one `handle*` method each.
 *
 *   starting ──start() done──▶ running ──SIGTERM/SIGINT──▶ draining ──idle or timeout──▶ stopped
 *   starting, running or draining ──a second stop signal, a fatal error, a failed start──▶ stopped
 */
import { createServer, type Server as NodeServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { FSWatcher } from "chokidar";
import type { AppSpec } from "../shared/app-spec.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import type { FrontLink } from "./fronts/front.js";
import { BuiltIns, builtInsOf, type BuiltIn } from "./http/built-ins.js";
import type { ProbePaths } from "./http/probes.js";
import { CONNECT_REFUSED, expectationRefused, sendError, sendRawError, versionRefused } from "./http/errors.js";
import { metricsBuiltIn } from "./http/metrics-endpoint.js";
import { listenSpecs, loadTls, removeSocketFile, type Bound, type ListenSpec } from "./http/listeners.js";
import { compileTrust } from "./http/proxy-headers.js";
import { HttpServer, type TlsServerOptions } from "./http/server.js";
import { methodsLabel, Router } from "./http/router.js";
import { StaticFiles, warnStaticClashes } from "./http/static-files.js";
import type { Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import { ApiDocs } from "./openapi/docs-page.js";
import type { ServeSettings } from "./options.js";
import type { RouteInfo } from "../protocol/messages.js";
import { watchForReload } from "./reload.js";
import type { WorkerCommand, WorkerRuntime } from "./runtimes/runtime.js";
import { StatusPage } from "./status/status-page.js";
import { tolerateLostStdio } from "./stdio.js";
import { nameAndVersion, version } from "../shared/version.js";
import { WorkerPool } from "./workers/pool.js";
import { createRunSecret } from "./workers/secret.js";
import { SocketDir } from "./workers/socket-dir.js";
import { Watchdog } from "./workers/watchdog.js";

/** What a Server runs on: the settings of the option table, plus what the CLI built from them. */
export interface ServerOptions extends ServeSettings {
  readonly app: AppSpec;
  readonly runtime: WorkerRuntime;
  readonly log: Logger;
  /** Set in one front of several (--fronts): the link to the primary that relays signals and sums /metrics. */
  readonly front?: FrontLink;
}

export type ServerState = "starting" | "running" | "draining" | "stopped";

/** Time a worker gets to exit after Shutdown once nothing is left for it to do. */
const WORKER_EXIT_TIMEOUT_MS = 5_000;
/** Idle workers say they are alive this often: well inside the worker timeout. */
const MAX_HEARTBEAT_INTERVAL_MS = 5_000;
const SHUTTING_DOWN = "the server is shutting down";

export class Server {
  state: ServerState = "starting";
  private readonly log: Logger;
  private readonly socketDir = new SocketDir();
  private readonly metrics = new Metrics();
  private readonly dispatcher: Dispatcher;
  private readonly pool: WorkerPool;
  private readonly watchdog: Watchdog;
  private readonly staticFiles: StaticFiles | null;
  private readonly apiDocs: ApiDocs | null;
  private readonly statusPage: StatusPage | null;
  private http: HttpServer | null = null;
  /** --uds socket files this run created, removed at exit. */
  private readonly socketFiles: { path: string; ino: number }[] = [];
  /** --metrics-port and --admin-port: ports that serve built-ins alone. */
  private readonly sidePorts: NodeServer[] = [];
  private watcher: FSWatcher | null = null;
  /** Resolves run() with the exit code; set once. */
  private resolveExit!: (code: number) => void;
  private readonly exit = new Promise<number>((resolve) => (this.resolveExit = resolve));
  private readonly signalHandlers: Record<string, () => void> = {
    SIGTERM: () => this.handleTerm(),
    SIGINT: () => this.handleInt(),
    SIGHUP: () => this.handleHup(),
    SIGTTIN: () => this.handleTtin(),
    SIGTTOU: () => this.handleTtou(),
  };
  /** Set by an uncaught exception or unhandled rejection: the process exits 1 once drained. */
  private crashed = false;
  private readonly crashHandlers = {
    uncaughtException: (err: unknown) => this.handleCrash(err, "uncaughtException"),
    unhandledRejection: (reason: unknown) => this.handleCrash(reason, "unhandledRejection"),
  };

  constructor(private readonly options: ServerOptions) {
    const { app, runtime, log } = options;
    this.log = log;
    const metrics = this.metrics;
    this.dispatcher = new Dispatcher(options.maxQueue, (ms) => metrics.waited(ms / 1000), options.prefetch, options.queueTimeout * 1000);
    this.staticFiles = options.static.length > 0 ? new StaticFiles(options.static, options.staticCacheControl) : null;
    this.apiDocs = options.docs ? new ApiDocs({ title: app.text, version: "0.0.0" }, (message) => log.warn(message)) : null;
    const workerTimeoutMs = options.workerTimeout * 1000;
    this.pool = new WorkerPool({
      size: options.workers,
      runtime,
      app,
      socketDir: this.socketDir,
      dispatcher: this.dispatcher,
      log,
      startTimeoutMs: options.startTimeout * 1000,
      secret: createRunSecret(),
      heartbeatIntervalMs: workerTimeoutMs > 0 ? Math.min(MAX_HEARTBEAT_INTERVAL_MS, workerTimeoutMs / 3) : 0,
      maxRequests: options.maxRequests,
      maxRequestsJitter: options.maxRequestsJitter,
      drainTimeoutMs: options.gracefulTimeout * 1000,
      onFatal: (err) => this.handleFatal(err),
      onRestart: (cause) => metrics.workerRestarted(cause),
      onStartFailed: () => metrics.workerStartFailed(),
      onRoutes: (routes) => this.routesChanged(routes),
    });
    metrics.watch(this.dispatcher, () => this.pool);
    const front = options.front;
    this.statusPage = options.statusPage
      ? new StatusPage({
          workers: () => this.pool.workers,
          pool: () => this.pool.health,
          dispatcher: this.dispatcher,
          streams: this.metrics.streams,
          maxQueue: options.maxQueue,
          app: app.text,
          runtime: runtime.name,
          version,
          ...(front ? { gather: () => front.ask("status") } : {}),
        })
      : null;
    if (front) {
      metrics.scrape = () => front.scrape();
      front.attach(this, metrics, {
        status: () => this.statusPage?.report(this.state === "draining") ?? null,
        ready: () => ({ serving: this.dispatcher.workerCount > 0 }),
      });
    }
    this.watchdog = new Watchdog({
      pool: this.pool,
      dispatcher: this.dispatcher,
      log,
      requestTimeoutMs: options.timeout * 1000,
      workerTimeoutMs,
      maxWorkerMemoryBytes: options.maxWorkerMemory * 1024 * 1024,
    });
  }

  /** Starts, serves until a signal (or a fatal error) stops the server, and resolves with the exit code. */
  async run(): Promise<number> {
    tolerateLostStdio();
    // Last resort: whatever way the process leaves, no worker and no socket directory stay behind.
    process.once("exit", () => {
      this.pool.kill();
      this.socketDir.remove();
      for (const file of this.socketFiles) removeSocketFile(file);
    });
    for (const [signal, handler] of Object.entries(this.signalHandlers)) {
      if (!(this.options.front && signal === "SIGINT")) process.on(signal, handler); // a front's SIGINT comes from the primary
    }
    for (const [event, handler] of Object.entries(this.crashHandlers)) process.on(event, handler);
    this.start().catch((err: Error) => {
      if (this.state !== "starting") return; // a signal or a fatal error is already stopping it
      this.reportStartupFailure(err);
      this.stopNow(1);
    });
    const code = await this.exit;
    for (const [signal, handler] of Object.entries(this.signalHandlers)) process.off(signal, handler);
    for (const [event, handler] of Object.entries(this.crashHandlers)) process.off(event, handler);
    return code;
  }

  /** Discovery → route table → the rest of the pool → listen → metrics port; then the server runs. */
  async start(): Promise<void> {
    const { options, log } = this;
    log.info(
      { app: options.app.text, workers: options.workers, runtime: options.runtime.name, version },
      `${nameAndVersion}: loading ${options.app.text} with ${options.runtime.description}`,
    );
    // Certificates and addresses first: a typo there fails before any worker starts.
    const tls = this.tlsOptions();
    const specs = listenSpecs(options);
    // Discovery: one worker loads the app and lists its routes, then joins the pool.
    const { routes } = await this.pool.discover();
    this.apiDocs?.update(routes);
    await this.pool.start();
    const http = this.createHttpServer(new Router(routes), tls);
    const bound: Bound[] = [];
    for (const spec of specs) {
      const one = await http.listenOn(spec, { backlog: options.backlog, udsMode: options.udsMode });
      if (one.socketFile) this.socketFiles.push(one.socketFile);
      bound.push(one);
    }
    if (this.state !== "starting") {
      // Stopped while starting: this listener is not wanted any more.
      http.drain();
      http.closeAll();
      return;
    }
    this.http = http;
    logRoutes(log, routes, options.app.text, options.front);
    await this.listenSidePorts(http, specs);
    this.logStartup(routes, bound);
    this.state = "running";
    this.options.front?.listening(this.socketDir.path);
    this.watchdog.start();
    if (options.reload) {
      const watch = { dirs: options.reloadDir, include: options.reloadInclude, exclude: options.reloadExclude };
      this.watcher = watchForReload(watch, log, () => this.state === "running" && void this.pool.reload());
    }
  }

  /** Graceful stop: no new connections, in-flight and queued requests finish (up to --graceful-timeout), then the workers exit. */
  async shutdown(signal: string): Promise<void> {
    const { dispatcher, pool, log } = this;
    const http = this.http!;
    this.state = "draining";
    const graceMs = this.options.gracefulTimeout * 1000;
    log.info(
      { signal, inflight: dispatcher.busy, queued: dispatcher.queued },
      `received ${signal}: finishing ${dispatcher.busy + dispatcher.queued} request(s), up to ${graceMs / 1000} s`,
    );
    http.drain();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      dispatcher.idle().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (this.state !== "draining") return; // a second signal stopped it meanwhile
    if (timedOut) {
      log.warn({ queued: dispatcher.queued, inflight: dispatcher.busy }, "graceful timeout reached: answering the rest with 503");
      dispatcher.rejectQueued(503, SHUTTING_DOWN);
      pool.failInflight(503, SHUTTING_DOWN);
      pool.kill();
    }
    await pool.stop(WORKER_EXIT_TIMEOUT_MS);
    http.closeAll();
    log.info("stopped");
    this.finish(this.crashed ? 1 : 0);
  }

  handleTerm(): void {
    this.stopSignal("SIGTERM");
  }

  handleInt(): void {
    this.stopSignal("SIGINT");
  }

  /** Reload the app (a rolling restart of every worker) and re-read the TLS certificate. */
  handleHup(): void {
    void this.reload();
  }

  /** SIGHUP's work; resolves when every worker has been replaced (or the reload failed). */
  reload(): Promise<void> {
    if (this.state !== "running") return Promise.resolve();
    this.reloadCertificate();
    return this.pool.reload();
  }

  /** Acts on `signal` as if this process had received it (a front gets its signals from the primary). */
  signal(signal: string): void {
    this.signalHandlers[signal]?.();
  }

  /** New connections get the certificate now in the files; one that does not load leaves the old one serving. */
  private reloadCertificate(): void {
    if (this.options.sslCertfile === undefined) return;
    try {
      this.http?.setSecureContext(loadTls(this.options)!);
      this.log.info({ certfile: this.options.sslCertfile }, `reloaded the TLS certificate ${this.options.sslCertfile}`);
    } catch (err) {
      this.log.error({ certfile: this.options.sslCertfile }, `TLS certificate not reloaded, the previous one stays in use: ${(err as Error).message}`);
    }
  }

  /** The --ssl-* files, read and checked, or null for plain HTTP. */
  private tlsOptions(): TlsServerOptions | null {
    const context = loadTls(this.options);
    if (context === null) return null;
    const reqs = this.options.sslCertReqs;
    return { ...context, requestCert: reqs > 0, rejectUnauthorized: reqs === 2 };
  }

  /** One worker more. */
  handleTtin(): void {
    if (this.state === "running") this.pool.grow();
  }

  /** One worker fewer. */
  handleTtou(): void {
    if (this.state === "running") this.pool.shrink();
  }

  /** The first stop signal drains; one during start-up, or a second one, stops at once. */
  private stopSignal(signal: NodeJS.Signals): void {
    if (this.state === "running") {
      void this.shutdown(signal);
      return;
    }
    if (this.state === "stopped") return;
    const again = this.state === "draining";
    this.log.warn({ signal }, `received ${signal}${again ? " again" : " during start-up"}, stopping now`);
    this.stopNow(again ? 1 : 0);
  }

  /**
   * A bug surfaced as an uncaught exception or an unhandled rejection. Node's default, dying at
   * once, would drop every request in flight; instead it is logged with its stack (to the
   * operator, never to a client) and the server drains as on SIGTERM: no new connections (with
   * --fronts, the other fronts take them), requests in flight and queued get --graceful-timeout,
   * then the process exits 1 so that its supervisor (the primary, systemd, Kubernetes) starts a
   * fresh one. One during start-up stops at once.
   */
  private handleCrash(err: unknown, origin: string): void {
    const first = !this.crashed;
    this.crashed = true;
    const message = err instanceof Error ? err.message : String(err);
    this.log.fatal({ err, origin }, `${origin}: ${message}${first ? "; draining, then exiting with 1" : ""}`);
    if (!first) return;
    if (this.state === "running") void this.shutdown(origin);
    else if (this.state === "starting") this.stopNow(1);
  }

  /** The pool cannot go on (e.g. every worker fails to start after a reload). */
  private handleFatal(err: Error): void {
    if (this.state === "draining" || this.state === "stopped") return;
    process.stderr.write(`neutrino: stopping: ${err.message}\n`);
    this.stopNow(1);
  }

  /** Kills every worker, drops every connection, and exits with `code` once the workers are gone. */
  private stopNow(code: number): void {
    this.state = "stopped";
    this.pool.kill();
    this.http?.drain();
    this.http?.closeAll();
    void Promise.all(this.pool.workers.map((w) => w.exited)).then(() => this.finish(code));
  }

  private finish(code: number): void {
    this.state = "stopped";
    this.watchdog.stop();
    void this.watcher?.close();
    for (const side of this.sidePorts) {
      side.close();
      side.closeAllConnections();
    }
    this.socketDir.remove();
    this.resolveExit(code);
  }

  /** A reload brought a new route table. */
  private routesChanged(routes: RouteInfo[]): void {
    if (!this.http) return;
    this.http.router = new Router(routes);
    this.apiDocs?.update(routes);
    logRoutes(this.log, routes, this.options.app.text, this.options.front);
    warnStaticClashes(this.log, this.options.static, routes);
  }

  private createHttpServer(router: Router, tls: TlsServerOptions | null): HttpServer {
    const { options, log } = this;
    return new HttpServer({
      router,
      dispatcher: this.dispatcher,
      maxBodySize: options.maxBodySize,
      maxHeaderSize: options.maxHeaderSize,
      maxConnections: options.maxConnections,
      timeouts: {
        headersMs: options.headerTimeout * 1000,
        requestMs: options.bodyTimeout * 1000,
        keepAliveMs: options.keepAliveTimeout * 1000,
      },
      probes: this.probePaths(),
      metrics: this.metrics,
      metricsPath: this.metricsHere ? "/metrics" : null,
      accessLog: options.accessLog ? log.child({ log: "access" }) : null,
      log,
      staticFiles: this.staticFiles,
      apiDocs: options.adminPort === undefined ? this.apiDocs : null,
      statusPage: this.statusPage,
      statusPageHere: options.adminPort === undefined,
      cors: options.corsOrigin.length > 0 ? { origins: options.corsOrigin, credentials: options.corsCredentials } : null,
      compression: typeof options.compress === "number" ? { minBytes: options.compress } : null,
      tls,
      proxyTrust: options.proxyHeaders ? compileTrust(options.forwardedAllowIps) : null,
      websocket: {
        maxPayload: options.wsMaxSize,
        pingIntervalMs: options.wsPingInterval * 1000,
        pingTimeoutMs: options.wsPingTimeout * 1000,
        perMessageDeflate: options.wsPerMessageDeflate,
      },
    });
  }

  /** /health and /ready; with several fronts, /ready answers for the whole server (FrontLink.ready). */
  private probePaths(): ProbePaths {
    const { options } = this;
    const front = options.front;
    return {
      health: options.healthPath,
      ready: options.readyPath,
      serving: () => this.dispatcher.workerCount > 0,
      ...(front ? { serverReady: () => front.ready() } : {}),
    };
  }

  /** Whether the main port serves /metrics: neither --metrics-port nor --admin-port took it. */
  private get metricsHere(): boolean {
    return this.options.metricsPort === undefined && this.options.adminPort === undefined;
  }

  /** --metrics-port (/metrics alone) and --admin-port (metrics, docs, status page, probes). */
  private async listenSidePorts(http: HttpServer, specs: readonly ListenSpec[]): Promise<void> {
    const { options, log } = this;
    const listen = async (port: number, only: BuiltIn[]): Promise<number> => {
      const side = await listenBuiltIns(options.host, port, new BuiltIns(only), () => http.draining);
      this.sidePorts.push(side);
      return (side.address() as AddressInfo).port;
    };
    if (options.metricsPort !== undefined) {
      const port = await listen(options.metricsPort, [metricsBuiltIn(this.metrics)]);
      log.info({ metricsPort: port }, `metrics on http://${options.host}:${port}/metrics`);
    }
    if (options.adminPort !== undefined) {
      const only = builtInsOf(
        {
          staticFiles: null,
          probes: this.probePaths(),
          metrics: this.metrics,
          metricsPath: options.metricsPort === undefined ? "/metrics" : null,
          apiDocs: this.apiDocs,
          statusPage: this.statusPage,
        },
        true,
      );
      const port = await listen(options.adminPort, only);
      log.info({ adminPort: port }, `admin port http://${options.host}:${port}: ${only.flatMap((b) => b.paths).join(", ")}`);
    } else if (specs.some(reachableFromOutside) && (this.metricsHere || this.apiDocs?.serving || this.statusPage)) {
      log.warn(
        { host: options.host },
        `/metrics${this.apiDocs?.serving ? ", /openapi.json, /docs" : ""}${this.statusPage ? ", the status page" : ""} answer on the public port: in production, move them with --admin-port <port> (docs/deploy.md)`,
      );
    }
  }

  /**
   * Paths the orchestrator answers itself on the main port (an app route on one of them wins, with
   * a warning); --admin-port moves all but the probes to its own port.
   */
  private builtInPaths(): string[] {
    const { options } = this;
    const adminHere = options.adminPort === undefined;
    return [
      options.healthPath,
      options.readyPath,
      ...(this.metricsHere ? ["/metrics"] : []),
      ...(adminHere ? (this.apiDocs?.paths ?? []) : []),
      ...(adminHere ? (this.statusPage?.paths ?? []) : []),
    ];
  }

  private logStartup(routes: readonly RouteInfo[], bound: readonly Bound[]): void {
    const { options, log } = this;
    const builtIns = this.builtInPaths();
    for (const path of builtIns) {
      if (routes.some((r) => r.path === path)) log.warn({ path }, `the app's own route ${path} hides the built-in endpoint on that path`);
    }
    for (const m of options.static) log.info({ prefix: m.prefix, dir: m.root }, `static files: ${m.prefix}/ from ${m.root}`);
    warnStaticClashes(log, options.static, routes, builtIns);
    const urls = bound.map((b) => b.url);
    const url = urls[0]!;
    if (this.statusPage && options.adminPort === undefined) log.info({ statusPage: `${url}/_neutrino/` }, `status page on ${url}/_neutrino/`);
    const tls = options.sslCertfile !== undefined ? " (TLS: HTTP/2 and HTTP/1.1)" : "";
    log.info(
      { url, urls, port: bound.find((b) => b.port !== undefined)?.port, workers: options.workers, socketDir: this.socketDir.path },
      `listening on ${urls.join(", ")}${tls} with ${options.workers} workers`,
    );
  }

  private reportStartupFailure(err: Error): void {
    const traceback = (err as { traceback?: string }).traceback;
    const hint = this.options.runtime.startupHint?.(err);
    process.stderr.write(`neutrino: cannot serve ${this.options.app.text}: ${err.message}\n${hint ? `${hint}\n` : ""}${traceback ? `\n${traceback}` : ""}`);
  }
}

/** Routes listed one per line at start-up and reload; a larger table (a Django project's) is summed up. */
const ROUTES_LISTED = 50;

function logRoutes(log: Logger, routes: readonly RouteInfo[], app: string, front?: FrontLink): void {
  if (front !== undefined && front.index > 0) return; // with --fronts, the first front lists them for all
  if (routes.length === 0) log.warn("the app has no routes: every request will get 404");
  const listed = routes.slice(0, ROUTES_LISTED);
  const width = Math.max(0, ...listed.map((r) => methodsLabel(r).length));
  for (const r of listed) {
    log.info({ path: r.path, methods: r.methods }, `route ${methodsLabel(r).padEnd(width)}  ${r.path}`);
  }
  const more = routes.length - listed.length;
  if (more > 0) log.info({ routes: routes.length }, `...and ${more} more routes (${routes.length} in all): \`neutrino routes ${app}\` lists them`);
}

/** A port that serves built-ins alone (--metrics-port, --admin-port): anything else is a 404. */
function listenBuiltIns(host: string, port: number, builtIns: BuiltIns, draining: () => boolean): Promise<NodeServer> {
  const server = createServer((req, res) => {
    if (req.httpVersionMajor !== 1) {
      // As on the main port: Node's parser takes `HTTP/2.0` and `HTTP/0.9` request lines.
      sendError(res, 505, versionRefused(req.httpVersion), { connection: "close" });
      return;
    }
    const url = req.url ?? "/";
    const method = req.method ?? "GET";
    if (url === "*" && method === "OPTIONS") {
      // HAProxy's `option httpchk OPTIONS *`, pointed at the probes' port: as on the main port.
      res.writeHead(200, { allow: "GET, HEAD, OPTIONS", "content-length": 0 }).end();
      return;
    }
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (!builtIns.answerAlone({ req, res, method, path, url, draining: draining() })) sendError(res, 404, `no such path here: ${path}`);
  });
  // As on the main port: unheard, Node would close a CONNECT's connection without a word, and
  // answer an Expect it does not know with a bare 417.
  server.on("connect", (_req, socket: Socket) => sendRawError(socket, 501, CONNECT_REFUSED));
  server.on("checkExpectation", (req, res) => sendError(res, 417, expectationRefused(req.headers.expect), { connection: "close" }));
  return new Promise((resolve, reject) => {
    server.once("error", reject).listen(port, host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

/** Whether a listener may take connections from other machines (an inherited socket: unknown, so yes). */
function reachableFromOutside(spec: ListenSpec): boolean {
  return spec.kind === "fd" || (spec.kind === "tcp" && !isLoopback(spec.host));
}

/** Whether \`host\` only accepts connections from this machine. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
