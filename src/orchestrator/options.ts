/**
 * Every `neutrino serve` option, declared once. Each entry drives the commander option (`--help`
 * included), the `NEUTRINO_*` variable and the config-file key (src/orchestrator/config.ts derives both from the
 * long flag), the typed settings the Server runs on (ServeSettings, derived from this table), and
 * the options table of docs/configuration.md (`npm run docs:options`).
 *
 * Adding an option is one entry here: the key must be commander's attribute name for the long flag
 * (`--max-queue` → `maxQueue`, checked at start-up); then read `settings.<key>` where it is used.
 */
import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_MIN_BYTES } from "./http/compression.js";
import { normalizeOrigin } from "./http/cors.js";
import { addStaticMount, StaticMountError, type StaticMount } from "./http/static-files.js";
import { DEFAULT_CONCURRENCY } from "../shared/concurrency.js";
import { INTERFACES, type Interface } from "../shared/interface.js";

export interface OptionSpec<T> {
  /** Commander's flags: short and long name and the value's placeholder (`-w, --workers <n>`). */
  readonly flags: string;
  /** One line for `neutrino serve --help`. */
  readonly help: string;
  /** The description in docs/configuration.md, where it says more than `help`. */
  readonly doc?: string;
  /**
   * Text (from a flag, a variable or the file) to value; throws InvalidArgumentError saying what is
   * wrong. A repeatable option's parser adds one value to the list so far. None: the text as is,
   * or, for an option without a `<value>`, on/off.
   */
  readonly parse?: (text: string, previous: T | undefined) => T;
  readonly default: T;
  /** The default as `--help` and the docs say it, where the value alone does not say it well. */
  readonly defaultText?: string;
  /** An on/off option that is on by default, or worth saying off: the help of its `--no-` twin. */
  readonly negate?: string;
  /** The value of an optional `[value]` given without one. */
  readonly preset?: string;
  readonly choices?: readonly string[];
  /** Repeatable: a comma-separated list in the environment, a list in the file. */
  readonly list?: boolean;
  /** Not a config-file key (the file cannot name itself). */
  readonly notInFile?: boolean;
}

/** Typing help only: lets TypeScript infer T from an entry's parser and default. */
function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

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

/** One more `--static PREFIX=DIR`. */
function staticMount(value: string, previous: StaticMount[] | undefined): StaticMount[] {
  try {
    return addStaticMount(value, previous);
  } catch (err) {
    if (err instanceof StaticMountError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** `--root-path`: "" or a path that starts with "/" and does not end with one. */
function rootPath(value: string): string {
  const path = value.trim();
  if (path === "" || path === "/") return "";
  if (!path.startsWith("/") || path.endsWith("/") || /[?#\s]/.test(path)) {
    throw new InvalidArgumentError('must be a path such as "/api": a leading "/", no trailing "/", no query');
  }
  return path;
}

/** One more `--cors-origin`; a value may also list origins separated by commas. */
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

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The APP argument, which the docs list beside the options. */
export const APP_ARGUMENT = {
  help: 'the app to serve, "module:attribute" (e.g. myapp:app, pkg.mod:app, examples/myapp.ts:app); else NEUTRINO_APP, else app in the config file',
  doc: "the app to serve (`module:attribute`)",
} as const;

/** `neutrino serve`'s options, in `--help` order. */
export const SERVE_OPTIONS = {
  config: option({
    flags: "--config <path>",
    help: "config file; also NEUTRINO_CONFIG",
    doc: "config file to read",
    default: undefined as string | undefined,
    defaultText: "./neutrino.toml, else [tool.neutrino] in ./pyproject.toml",
    notInFile: true,
  }),
  workers: option({ flags: "-w, --workers <n>", help: "number of worker processes", parse: integer(1, 1024), default: 4 }),
  port: option({ flags: "-p, --port <port>", help: "port to listen on (0 picks a free one)", parse: integer(0, 65535), default: 8000 }),
  host: option({ flags: "--host <host>", help: "address to bind", default: "127.0.0.1" }),
  python: option({
    flags: "--python <path>",
    help: "Python interpreter for the workers",
    default: undefined as string | undefined,
    defaultText: "the active virtualenv's, else python3",
  }),
  interface: option({
    flags: "--interface <kind>",
    help: "what APP is: auto (detect it), neutrino (an App), asgi or wsgi (a Python app), fetch (a Node fetch handler)",
    doc: "what APP is: `neutrino` (a Neutrino `App`), `asgi` (an ASGI 3 app: FastAPI, Starlette, Django's ASGI handler…), `wsgi` (a WSGI app: Flask, Django, Bottle…) or `fetch` (a JavaScript or TypeScript `fetch(request)` handler: Hono…); `auto` detects it in that order",
    default: "auto" as Interface,
    choices: INTERFACES,
  }),
  rootPath: option({
    flags: "--root-path <path>",
    help: "the path an ASGI or WSGI app is mounted at behind a proxy that strips it (/api)",
    doc: "the path prefix an ASGI or WSGI app is mounted at, behind a proxy that strips it before forwarding (`/api`): the app gets it as `root_path` (ASGI, whose `path` then starts with it, as uvicorn's `--root-path` does) or `SCRIPT_NAME` (WSGI), so the URLs it builds carry it",
    parse: rootPath,
    default: "",
    defaultText: "none",
  }),
  workerConcurrency: option({
    flags: "--worker-concurrency <n>",
    help: "requests one worker holds at once: a Node worker, or a Python worker with async routes",
    doc: "requests one worker holds at once: a Node worker, or a Python worker of an app with `async def` routes (a Python app without them runs one at a time)",
    parse: integer(1, 65535),
    default: DEFAULT_CONCURRENCY,
    defaultText: `${DEFAULT_CONCURRENCY}; sync Python apps take 1`,
  }),
  maxQueue: option({
    flags: "--max-queue <n>",
    help: "requests that may wait for a worker before new ones get 503",
    parse: integer(0),
    default: 1024,
  }),
  maxBodySize: option({
    flags: "--max-body-size <bytes>",
    help: "largest request body accepted (413 above)",
    parse: integer(0),
    default: 16 * 1024 * 1024,
  }),
  maxHeaderSize: option({
    flags: "--max-header-size <bytes>",
    help: "largest request head (request line and headers) accepted (431 above)",
    parse: integer(1024, 1024 * 1024),
    default: 16 * 1024,
  }),
  gracefulTimeout: option({
    flags: "--graceful-timeout <seconds>",
    help: "on SIGTERM/SIGINT, time to finish in-flight and queued requests",
    parse: seconds,
    default: 30,
  }),
  startTimeout: option({ flags: "--start-timeout <seconds>", help: "time a worker may take to load the app", parse: seconds, default: 60 }),
  workerTimeout: option({
    flags: "--worker-timeout <seconds>",
    help: "kill and replace a worker silent this long (hung, or a handler running too long); 0: off",
    parse: seconds,
    default: 30,
  }),
  timeout: option({
    flags: "--timeout <seconds>",
    help: "answer 504 to a request not done in this time (a stream: one that makes no progress for this long), and free its worker; 0: off",
    parse: seconds,
    default: 0,
  }),
  queueTimeout: option({
    flags: "--queue-timeout <seconds>",
    help: "answer 503 to a request that cannot start within this long (at once when the queue ahead of it says so); 0: off",
    parse: seconds,
    default: 5,
  }),
  maxRequests: option({ flags: "--max-requests <n>", help: "recycle a worker after this many requests; 0: never", parse: integer(0), default: 0 }),
  maxRequestsJitter: option({
    flags: "--max-requests-jitter <n>",
    help: "add up to this many to --max-requests, per worker, so they do not all recycle at once",
    parse: integer(0),
    default: 0,
  }),
  maxWorkerMemory: option({
    flags: "--max-worker-memory <MB>",
    help: "recycle a worker whose RSS exceeds this (killed at twice it); 0: no limit",
    parse: integer(0),
    default: 0,
  }),
  headerTimeout: option({
    flags: "--header-timeout <seconds>",
    help: "time a client has to send the request headers (408)",
    parse: seconds,
    default: 10,
  }),
  bodyTimeout: option({
    flags: "--body-timeout <seconds>",
    help: "time a client has to send the whole request, body included (408)",
    parse: seconds,
    default: 60,
  }),
  healthPath: option({
    flags: "--health-path <path>",
    help: "liveness probe, answered by the orchestrator (an app route on the path wins)",
    doc: "liveness probe, answered by the orchestrator without a worker (an app route on the same path wins, with a warning)",
    default: "/health",
  }),
  readyPath: option({ flags: "--ready-path <path>", help: "readiness probe: 200 while serving, 503 while draining or while no worker takes requests", default: "/ready" }),
  prefetch: option({
    flags: "--prefetch",
    help: "let a busy Python worker hold one more request while it runs a quick one",
    doc: "let a busy Python worker hold ONE more request while it runs a route whose recent service time is under 5 ms, so it never idles for the round trip through the orchestrator (only when every worker is busy; never behind a slow route; a waiting request of a worker that dies goes to another worker)",
    default: true,
    negate: "a request waits in the orchestrator until a worker is free",
  }),
  accessLog: option({
    flags: "--access-log",
    help: "log one line per request: request id, route, status, queue wait and worker time",
    doc: "one log record per request: request id, method, path, route, status, `durationMs`, `queueMs`, `workerMs`",
    default: false,
    negate: "no access log",
  }),
  statusPage: option({
    flags: "--status-page",
    help: "serve a live status page at /_neutrino/: workers, queue, request rate and latency",
    doc: "live status page at `/_neutrino/` (workers, queue, req/s and latency charts) and its data at `/_neutrino/status.json`",
    default: false,
    negate: "no status page",
  }),
  corsOrigin: option({
    flags: "--cors-origin <origin>",
    help: "allow cross-origin requests from ORIGIN (repeatable, or comma-separated; * for any): preflights answered, Access-Control-* headers added",
    doc: "allow cross-origin requests from this origin (CORS), `*` for any (repeatable)",
    parse: corsOrigins,
    default: [] as string[],
    defaultText: "none",
    list: true,
  }),
  corsCredentials: option({
    flags: "--cors-credentials",
    help: "CORS: also allow credentials (cookies, HTTP auth) from the listed origins",
    doc: "CORS: allow credentials (cookies, HTTP auth) from the listed origins (not with `*`)",
    default: false,
  }),
  compress: option({
    flags: "--compress [min-bytes]",
    help: "gzip or brotli the answers of a compressible type of at least MIN_BYTES, per Accept-Encoding; false: off",
    doc: `gzip or brotli the answers of at least this many bytes, of a compressible type; without a value ${DEFAULT_MIN_BYTES}; \`false\` turns it off`,
    parse: compressSize,
    default: undefined as number | false | undefined,
    defaultText: "off",
    preset: String(DEFAULT_MIN_BYTES),
  }),
  reload: option({
    flags: "--reload",
    help: "development: reload the app when a source file in the current directory changes",
    doc: "development: watch the current directory and roll the workers when a source file changes (code that fails to import leaves the last good workers serving, with the traceback in the log)",
    default: false,
  }),
  static: option({
    flags: "--static <prefix=dir>",
    help: "serve the files of DIR (relative to the current directory) under the URL PREFIX, e.g. /assets=./public; repeatable",
    doc: "serve the files of DIR under the URL prefix (repeatable)",
    parse: staticMount,
    default: [] as StaticMount[],
    defaultText: "none",
    list: true,
  }),
  docs: option({
    flags: "--docs",
    help: "serve the OpenAPI document at /openapi.json and the docs page at /docs",
    doc: "`/openapi.json` and the `/docs` page",
    default: true,
    negate: "no /openapi.json and /docs",
  }),
  metricsPort: option({
    flags: "--metrics-port <port>",
    help: "serve /metrics on this port instead of the main one (that port answers only /metrics)",
    doc: "serve Prometheus `/metrics` on a port of its own",
    parse: integer(0, 65535),
    default: undefined as number | undefined,
    defaultText: "the main port",
  }),
  adminPort: option({
    flags: "--admin-port <port>",
    help: "serve /metrics, /openapi.json, /docs and the status page on this port, not the main one (the probes answer on both)",
    doc: "serve `/metrics`, `/openapi.json`, `/docs` and the status page on this port instead of the main one (the probes answer on both); use it in production ([deploy](deploy.md))",
    parse: integer(0, 65535),
    default: undefined as number | undefined,
    defaultText: "all on the main port",
  }),
  keepAliveTimeout: option({
    flags: "--keep-alive-timeout <seconds>",
    help: "how long an idle keep-alive connection stays open",
    parse: seconds,
    default: 5,
  }),
  wsMaxSize: option({
    flags: "--ws-max-size <bytes>",
    help: "largest WebSocket message a client may send (the connection closes with 1009 above)",
    parse: integer(1, 64 * 1024 * 1024),
    default: 16 * 1024 * 1024,
  }),
  wsPingInterval: option({
    flags: "--ws-ping-interval <seconds>",
    help: "ping each open WebSocket this often, to keep it alive through proxies; 0: never",
    parse: seconds,
    default: 20,
  }),
  wsPingTimeout: option({
    flags: "--ws-ping-timeout <seconds>",
    help: "drop a WebSocket whose client does not answer a ping within this long (its handler sees 1006); 0: never",
    parse: seconds,
    default: 20,
  }),
  logLevel: option({
    flags: "--log-level <level>",
    help: "log level",
    doc: `log level: ${LOG_LEVELS.join(", ")}`,
    default: "info" as LogLevel,
    choices: LOG_LEVELS,
  }),
};

type ServeOptionTable = typeof SERVE_OPTIONS;
export type ServeOptionName = keyof ServeOptionTable;

/** The values of `neutrino serve`'s options, each typed by its entry in SERVE_OPTIONS. */
export type ServeSettings = {
  readonly [K in ServeOptionName]: ServeOptionTable[K] extends OptionSpec<infer T> ? T : never;
};

/** `--max-queue <n>` → `max-queue`: the name the environment variable and the file key derive from. */
export function longName<T>(spec: OptionSpec<T>): string {
  return new Option(spec.flags).name();
}

/** The commander option(s) of an entry: itself, and its `--no-` twin where it has one. */
export function commanderOptions<T>(key: string, spec: OptionSpec<T>): Option[] {
  const help = spec.default === undefined && spec.defaultText ? `${spec.help} (default: ${spec.defaultText})` : spec.help;
  const option = new Option(spec.flags, help);
  if (option.attributeName() !== key) throw new Error(`option table: ${spec.flags} must be declared as "${option.attributeName()}"`);
  if (spec.parse) option.argParser(spec.parse);
  if (spec.choices) option.choices(spec.choices);
  if (spec.preset !== undefined) option.preset(spec.preset);
  if (spec.default !== undefined) option.default(spec.default, spec.defaultText);
  if (!spec.negate) return [option];
  return [option, new Option(`--no-${option.long!.replace(/^--/, "")}`, spec.negate)];
}

/** Settings that cannot go together; the message says why. */
export function conflicts(settings: ServeSettings): string | null {
  if (settings.corsCredentials && settings.corsOrigin.length === 0) return "--cors-credentials needs --cors-origin";
  if (settings.corsCredentials && settings.corsOrigin.includes("*")) {
    return "--cors-credentials cannot be used with --cors-origin '*': list the origins";
  }
  return null;
}
