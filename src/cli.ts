#!/usr/bin/env node
/** The `neutrino` command line (commander). */
import { Command, InvalidArgumentError, Option } from "commander";
import { AppSpecError, parseAppSpec } from "./app-spec.js";
import { applyConfig, ConfigError, envName, readConfigFile } from "./config.js";
import { discoverRoutes, formatRouteTable } from "./discover.js";
import { addStaticMount, StaticMountError, type StaticMount } from "./http/static-files.js";
import { DEFAULT_MIN_BYTES } from "./http/compression.js";
import { normalizeOrigin, type CorsOptions } from "./http/cors.js";
import { createLogger } from "./log.js";
import { DEFAULT_CONCURRENCY } from "./node-worker/concurrency.js";
import { resolveApp, type ResolvedApp } from "./runtimes/resolve.js";
import { runtimeFor } from "./runtimes/select.js";
import { serve } from "./serve.js";
import { nameAndVersion } from "./version.js";

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number of seconds, 0 or more");
  return n;
}

/** One more `--static PREFIX=DIR` (repeatable). */
function staticMount(value: string, previous: StaticMount[] | undefined): StaticMount[] {
  try {
    return addStaticMount(value, previous);
  } catch (err) {
    if (err instanceof StaticMountError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** One more `--cors-origin` (repeatable); a value may also list origins separated by commas. */
function corsOrigins(value: string, previous: string[] | undefined): string[] {
  try {
    return [...(previous ?? []), ...value.split(",").filter((o) => o.trim() !== "").map(normalizeOrigin)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `--compress [MIN_BYTES]`: a size in bytes, or true/false (on with the default size, off). */
function compressSize(value: string): number | false {
  const text = value.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text);
  if (["true", "yes", "on"].includes(text)) return DEFAULT_MIN_BYTES;
  if (["false", "no", "off"].includes(text)) return false;
  throw new InvalidArgumentError("must be a size in bytes, or true or false");
}

function cors(origins: string[], credentials: boolean): CorsOptions | null {
  if (origins.length === 0) {
    if (credentials) usageError("--cors-credentials needs --cors-origin");
    return null;
  }
  if (credentials && origins.includes("*")) usageError("--cors-credentials cannot be used with --cors-origin '*': list the origins");
  return { origins, credentials };
}

function usageError(message: string): never {
  process.stderr.write(`neutrino: ${message}\n`);
  process.exit(2);
}

/** Parses APP and decides its language (src/runtimes/resolve.ts). */
function appSpec(text: string): ResolvedApp {
  try {
    return resolveApp(parseAppSpec(text));
  } catch (err) {
    if (err instanceof AppSpecError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Options from NEUTRINO_* and the config file (src/config.ts); returns APP from wherever it came. */
function configure(command: Command, cliApp: ResolvedApp | undefined): ResolvedApp {
  try {
    const file = readConfigFile(command.getOptionValue("config") ?? (process.env[envName("config")] || undefined));
    applyConfig(command, { file, skip: ["config"], extraKeys: ["app"] });
    if (cliApp) return cliApp;
    const fromEnv = process.env[envName("app")];
    const [where, text] = fromEnv ? [envName("app"), fromEnv] : file?.values.app !== undefined ? [`${file.label}: app`, file.values.app] : [];
    if (where === undefined) {
      throw new ConfigError("missing APP: give it on the command line, as NEUTRINO_APP, or as app in neutrino.toml");
    }
    if (typeof text !== "string") throw new ConfigError(`${where}: must be a string`);
    try {
      return appSpec(text);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`neutrino: ${err.message}\n`);
    process.exit(2); // a usage error
  }
}

const pythonOption = () =>
  new Option("--python <path>", "Python interpreter for the workers (default: the active virtualenv's, else python3)");
const startTimeoutOption = () =>
  new Option("--start-timeout <seconds>", "time a worker may take to load the app").argParser(seconds).default(60);

const program = new Command("neutrino")
  .description("A polyglot application server: one orchestrator owns HTTP, a pool of workers runs your handlers.")
  .version(nameAndVersion, "-V, --version")
  .showHelpAfterError()
  .configureHelp({ helpWidth: 120 });

program
  .command("serve")
  .description("start the orchestrator and a pool of workers serving APP")
  .argument(
    "[APP]",
    'the app to serve, "module:attribute" (e.g. myapp:app, pkg.mod:app, examples/myapp.ts:app); else NEUTRINO_APP, else app in the config file',
    appSpec,
  )
  .addOption(new Option("--config <path>", "config file (default: ./neutrino.toml, else [tool.neutrino] in ./pyproject.toml); also NEUTRINO_CONFIG"))
  .addOption(new Option("-w, --workers <n>", "number of worker processes").argParser(integer(1, 1024)).default(4))
  .addOption(new Option("-p, --port <port>", "port to listen on (0 picks a free one)").argParser(integer(0, 65535)).default(8000))
  .addOption(new Option("--host <host>", "address to bind").default("127.0.0.1"))
  .addOption(pythonOption())
  .addOption(
    new Option("--worker-concurrency <n>", `requests one worker holds at once: a Node worker, or a Python worker with async routes (default: ${DEFAULT_CONCURRENCY}; sync Python apps take 1)`).argParser(
      integer(1, 65535),
    ),
  )
  .addOption(
    new Option("--max-queue <n>", "requests that may wait for a worker before new ones get 503").argParser(integer(0)).default(1024),
  )
  .addOption(
    new Option("--max-body-size <bytes>", "largest request body accepted (413 above)").argParser(integer(0)).default(16 * 1024 * 1024),
  )
  .addOption(
    new Option("--graceful-timeout <seconds>", "on SIGTERM/SIGINT, time to finish in-flight and queued requests").argParser(seconds).default(30),
  )
  .addOption(startTimeoutOption())
  .addOption(
    new Option("--worker-timeout <seconds>", "kill and replace a worker silent this long (hung, or a handler running too long); 0: off")
      .argParser(seconds)
      .default(30),
  )
  .addOption(new Option("--timeout <seconds>", "answer 504 to a request not done in this time, and free its worker; 0: off").argParser(seconds).default(0))
  .addOption(new Option("--queue-timeout <seconds>", "answer 503 to a request that waited this long for a worker; 0: off").argParser(seconds).default(0))
  .addOption(new Option("--max-requests <n>", "recycle a worker after this many requests; 0: never").argParser(integer(0)).default(0))
  .addOption(new Option("--max-requests-jitter <n>", "add up to this many to --max-requests, per worker, so they do not all recycle at once").argParser(integer(0)).default(0))
  .addOption(new Option("--max-worker-memory <MB>", "recycle a worker whose RSS exceeds this (killed at twice it); 0: no limit").argParser(integer(0)).default(0))
  .addOption(new Option("--header-timeout <seconds>", "time a client has to send the request headers (408)").argParser(seconds).default(10))
  .addOption(new Option("--body-timeout <seconds>", "time a client has to send the whole request, body included (408)").argParser(seconds).default(60))
  .addOption(new Option("--health-path <path>", "liveness probe, answered by the orchestrator (an app route on the path wins)").default("/health"))
  .addOption(new Option("--ready-path <path>", "readiness probe: 200 while serving, 503 while draining").default("/ready"))
  .addOption(new Option("--prefetch", "let a busy Python worker hold one more request while it runs a quick one (the default)"))
  .addOption(new Option("--no-prefetch", "a request waits in the orchestrator until a worker is free"))
  .addOption(new Option("--access-log", "log one line per request: request id, route, status, queue wait and worker time"))
  .addOption(new Option("--no-access-log", "no access log (the default)"))
  .addOption(new Option("--status-page", "serve a live status page at /_neutrino/: workers, queue, request rate and latency"))
  .addOption(new Option("--no-status-page", "no status page (the default)"))
  .addOption(
    new Option("--cors-origin <origin>", "allow cross-origin requests from ORIGIN (repeatable, or comma-separated; * for any): preflights answered, Access-Control-* headers added")
      .argParser(corsOrigins)
      .default([], "none"),
  )
  .addOption(new Option("--cors-credentials", "CORS: also allow credentials (cookies, HTTP auth) from the listed origins"))
  .addOption(
    new Option("--compress [min-bytes]", "gzip or brotli the answers of a compressible type of at least MIN_BYTES, per Accept-Encoding; false: off")
      .argParser(compressSize)
      .preset(String(DEFAULT_MIN_BYTES)),
  )
  .addOption(new Option("--reload", "development: reload the app when a source file in the current directory changes"))
  .addOption(
    new Option("--static <prefix=dir>", "serve the files of DIR (relative to the current directory) under the URL PREFIX, e.g. /assets=./public; repeatable")
      .argParser(staticMount)
      .default([], "none"),
  )
  .addOption(new Option("--docs", "serve the OpenAPI document at /openapi.json and the docs page at /docs (the default)"))
  .addOption(new Option("--no-docs", "no /openapi.json and /docs"))
  .addOption(new Option("--metrics-port <port>", "serve /metrics on this port instead of the main one").argParser(integer(0, 65535)))
  .addOption(new Option("--keep-alive-timeout <seconds>", "how long an idle keep-alive connection stays open").argParser(seconds).default(5))
  .addOption(new Option("--log-level <level>", "log level").choices(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"))
  .addHelpText("after", "\nEvery option can also be set as NEUTRINO_<OPTION> (e.g. NEUTRINO_MAX_QUEUE) or as a key of the config file\n(e.g. max-queue = 512); a flag wins over the environment, which wins over the file.")
  .action(async (cliApp: ResolvedApp | undefined, _opts, command: Command) => {
    const resolved = configure(command, cliApp);
    const opts = command.opts();
    const code = await serve({
      app: resolved.app,
      runtime: runtimeFor(resolved, opts),
      workers: opts.workers,
      host: opts.host,
      port: opts.port,
      maxQueue: opts.maxQueue,
      maxBodySize: opts.maxBodySize,
      gracefulTimeoutMs: opts.gracefulTimeout * 1000,
      startTimeoutMs: opts.startTimeout * 1000,
      workerTimeoutMs: opts.workerTimeout * 1000,
      requestTimeoutMs: opts.timeout * 1000,
      queueTimeoutMs: opts.queueTimeout * 1000,
      maxRequests: opts.maxRequests,
      maxRequestsJitter: opts.maxRequestsJitter,
      maxWorkerMemoryMb: opts.maxWorkerMemory,
      probes: { health: opts.healthPath, ready: opts.readyPath },
      metricsPort: opts.metricsPort ?? null,
      reloadDir: opts.reload ? process.cwd() : null,
      accessLog: opts.accessLog === true,
      prefetch: opts.prefetch !== false,
      staticMounts: opts.static,
      docs: opts.docs !== false,
      statusPage: opts.statusPage === true,
      cors: cors(opts.corsOrigin, opts.corsCredentials === true),
      compression: typeof opts.compress === "number" ? { minBytes: opts.compress } : null,
      clientTimeouts: {
        headersMs: opts.headerTimeout * 1000,
        requestMs: opts.bodyTimeout * 1000,
        keepAliveMs: opts.keepAliveTimeout * 1000,
      },
      log: createLogger(opts.logLevel),
    });
    process.exit(code);
  });

program
  .command("routes")
  .description("load APP in one worker and print its route table")
  .argument("<APP>", 'the app, "module:attribute"', appSpec)
  .addOption(pythonOption())
  .addOption(startTimeoutOption())
  .action(async (resolved: ResolvedApp, opts) => {
    const { app } = resolved;
    try {
      const routes = await discoverRoutes(app, runtimeFor(resolved, opts), opts.startTimeout * 1000);
      process.stdout.write(`${nameAndVersion}: routes of ${app.text}\n${formatRouteTable(routes)}`);
    } catch (err) {
      const traceback = (err as { traceback?: string }).traceback;
      process.stderr.write(`neutrino: cannot load ${app.text}: ${(err as Error).message}\n${traceback ? `\n${traceback}` : ""}`);
      process.exitCode = 1;
    }
  });

await program.parseAsync();
