/**
 * Every `neutrino serve` option, declared once. Each entry drives the commander option (`--help`
 * included), the `NEUTRINO_*` variable and the config-file key (src/orchestrator/config.ts derives both from the
 * long flag), the typed settings the Server runs on (ServeSettings, derived from this table), and
 * the options table of docs/configuration.md (`npm run docs:options`).
 *
 * Adding an option is one entry here: the key must be commander's attribute name for the long flag
 * (`--max-queue` → `maxQueue`, checked at start-up); then read `settings.<key>` where it is used.
 */
import { statSync, type Stats } from "node:fs";
import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_MIN_BYTES } from "./http/compression.js";
import { DEFAULT_CACHE_CONTROL } from "./http/file-response.js";
import { normalizeOrigin } from "./http/cors.js";
import { BindError, parseBind, parseFd, parseMode } from "./http/listeners.js";
import { compileTrust } from "./http/proxy-headers.js";
import { addStaticMount, StaticMountError, type StaticMount } from "./http/static-files.js";
import { DEFAULT_CONCURRENCY } from "../shared/concurrency.js";
import { AUTO_FRONTS } from "./fronts/count.js";
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

/** `--fronts`: a count, or `auto` (resolved at start-up, when the machine's cores are known). */
function frontCount(value: string): number {
  return value.trim() === "auto" ? AUTO_FRONTS : integer(1, 64)(value);
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

/** An existing directory, as given (relative paths stay relative to the current directory). */
function directory(value: string): string {
  let stats: Stats;
  try {
    stats = statSync(value);
  } catch {
    throw new InvalidArgumentError(`directory ${value} does not exist`);
  }
  if (!stats.isDirectory()) throw new InvalidArgumentError(`${value} is not a directory`);
  return value;
}

/** One more value of a repeatable option (a comma-separated list from the environment or the file). */
function another<T>(parse: (text: string) => T) {
  return (value: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(value)];
}

/** A parser from one that throws BindError (listeners.ts) to one that throws commander's error. */
function listenValue<T>(parse: (text: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof BindError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };
}

/** One more `--bind`, checked now; --port fills in a missing port later. */
function bindAddress(value: string, previous: string[] | undefined): string[] {
  listenValue((text) => parseBind(text, 0))(value);
  return [...(previous ?? []), value.trim()];
}

/** `--forwarded-allow-ips`: addresses and CIDR ranges separated by commas, or `*`. */
function trustedAddresses(value: string): string {
  try {
    compileTrust(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}: give IP addresses or CIDR ranges separated by commas, or *`);
  }
  return value;
}

/** `--root-path`: "" or a path that starts with "/" (a trailing "/" is dropped). */
function rootPath(value: string): string {
  const path = value.trim().replace(/\/+$/, "");
  if (path !== "" && (!path.startsWith("/") || /[?#\s]/.test(path))) {
    throw new InvalidArgumentError('must be a URL path such as "/api": a leading "/", no query');
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
  workers: option({
    flags: "-w, --workers <n>",
    help: "number of worker processes",
    doc: "number of worker processes; gunicorn's and uvicorn's `WEB_CONCURRENCY` variable, which hosting platforms set, works too ([deploy](deploy.md#on-a-hosting-platform))",
    parse: integer(1, 1024),
    default: 4,
    defaultText: "$WEB_CONCURRENCY, else 4",
  }),
  fronts: option({
    flags: "--fronts <n>",
    help: "HTTP front processes sharing the listening socket, each supervising its share of --workers (1: one process; auto: one per two workers, at most one per two cores)",
    doc: "HTTP front processes (node:cluster) sharing the listening socket, each supervising its share of `--workers`; a primary process replaces a front that dies and relays signals. `auto`: one front per two workers, at most one per two cores (1 on a 2-core machine, 8 for `--workers 16` on 16 cores); see [fronts.md](fronts.md)",
    parse: frontCount,
    default: 1,
  }),
  port: option({
    flags: "-p, --port <port>",
    help: "port to listen on (0 picks a free one)",
    doc: "port to listen on (0 picks a free one); as in gunicorn, the `PORT` variable that hosting platforms set works too, and then the default `--host` is `0.0.0.0` ([deploy](deploy.md#on-a-hosting-platform))",
    parse: integer(0, 65535),
    default: 8000,
    defaultText: "$PORT, else 8000",
  }),
  host: option({ flags: "--host <host>", help: "address to bind", default: "127.0.0.1", defaultText: "127.0.0.1, or 0.0.0.0 when $PORT gives the port" }),
  bind: option({
    flags: "-b, --bind <address>",
    help: "listen on ADDRESS instead of --host/--port: HOST:PORT, [::1]:PORT, unix:PATH or fd://N (repeatable)",
    doc: "listen here instead of `--host`/`--port`, as gunicorn writes it: `HOST:PORT`, `[::1]:PORT`, `HOST` (with `--port`), `unix:PATH`, `fd://N` (repeatable: every listener serves the same app)",
    parse: bindAddress,
    default: [] as string[],
    defaultText: "--host:--port",
    list: true,
  }),
  uds: option({
    flags: "--uds <path>",
    help: "listen on this Unix socket (a stale socket file is replaced; removed at exit)",
    default: undefined as string | undefined,
    defaultText: "none",
  }),
  udsMode: option({
    flags: "--uds-mode <mode>",
    help: "permissions of the Unix socket file (--uds, --bind unix:PATH), in octal (e.g. 660)",
    parse: listenValue(parseMode),
    default: undefined as number | undefined,
    defaultText: "per the umask",
  }),
  fd: option({
    flags: "--fd <n>",
    help: "listen on this inherited file descriptor (socket activation, e.g. 3 under systemd)",
    parse: listenValue(parseFd),
    default: undefined as number | undefined,
    defaultText: "none",
  }),
  backlog: option({
    flags: "--backlog <n>",
    help: "connections the kernel queues before the server accepts them",
    parse: integer(1, 65535),
    default: 2048,
  }),
  maxConnections: option({
    flags: "--max-connections <n>",
    help: "client connections one front holds open at once; a request on one beyond them gets a 503 and its connection closes (0: no limit)",
    parse: integer(0),
    default: 10_000,
  }),
  sslCertfile: option({
    flags: "--ssl-certfile <path>",
    help: "serve HTTPS with this PEM certificate (chain); HTTP/2 by ALPN, HTTP/1.1 for other clients; SIGHUP re-reads it",
    default: undefined as string | undefined,
    defaultText: "none: plain HTTP",
  }),
  sslKeyfile: option({
    flags: "--ssl-keyfile <path>",
    help: "the PEM private key of --ssl-certfile",
    default: undefined as string | undefined,
    defaultText: "in the certificate file",
  }),
  sslKeyfilePassword: option({
    flags: "--ssl-keyfile-password <password>",
    help: "password of an encrypted --ssl-keyfile",
    default: undefined as string | undefined,
    defaultText: "none",
  }),
  sslCaCerts: option({
    flags: "--ssl-ca-certs <path>",
    help: "PEM CA certificates that client certificates are checked against (with --ssl-cert-reqs)",
    default: undefined as string | undefined,
    defaultText: "none",
  }),
  sslCertReqs: option({
    flags: "--ssl-cert-reqs <n>",
    help: "client certificates: 0 not asked, 1 asked and checked if given, 2 required",
    doc: "client certificates, as uvicorn numbers it: 0 not asked for, 1 asked for (the connection goes on without one), 2 required and checked against `--ssl-ca-certs`",
    parse: integer(0, 2),
    default: 0,
  }),
  proxyHeaders: option({
    flags: "--proxy-headers",
    help: "trust Forwarded / X-Forwarded-For, -Proto, -Host from --forwarded-allow-ips for the client address, scheme and host",
    doc: "take the client's address, scheme and host from `Forwarded` or `X-Forwarded-For`/`-Proto`/`-Host` when the connection comes from `--forwarded-allow-ips` (or a Unix socket) ([deploy](deploy.md#behind-a-proxy))",
    default: true,
    negate: "ignore forwarding headers: the connection's peer is the client",
  }),
  forwardedAllowIps: option({
    flags: "--forwarded-allow-ips <ips>",
    help: "proxies whose forwarding headers are trusted: addresses and CIDR ranges, comma-separated, or *; also FORWARDED_ALLOW_IPS",
    doc: "proxies whose forwarding headers are trusted: IP addresses and CIDR ranges separated by commas, `*` for any; uvicorn's `FORWARDED_ALLOW_IPS` variable works too",
    parse: trustedAddresses,
    default: "127.0.0.1",
    defaultText: "$FORWARDED_ALLOW_IPS, else 127.0.0.1",
  }),
  python: option({
    flags: "--python <path>",
    help: "Python interpreter for the workers",
    doc: "Python interpreter for the workers; the start-up log says which one runs and why ([python](python.md#the-interpreter))",
    default: undefined as string | undefined,
    defaultText: "the active virtualenv's, else .venv/ or venv/ in the app's folder or the current one, else python3",
  }),
  appDir: option({
    flags: "--app-dir <dir>",
    help: "look for APP's module in DIR instead of the current directory",
    doc: "look for APP's module in this folder instead of the current directory (Python: also on the workers' import path, after the current directory)",
    parse: directory,
    default: undefined as string | undefined,
    defaultText: "the current directory",
  }),
  factory: option({
    flags: "--factory",
    help: "APP names a function that returns the app (e.g. myapp:create_app): each worker calls it once",
    doc: "APP names a function, called with no arguments once per worker, that returns the app (e.g. `myapp:create_app`)",
    default: false,
  }),
  envFile: option({
    flags: "--env-file <path>",
    help: "read environment variables from this dotenv file before anything else: the workers get them, and NEUTRINO_* ones set options (variables already set win)",
    doc: "read `KEY=value` lines (dotenv format) into the environment before the options are read: the workers get them, and `NEUTRINO_*` ones set options as the environment does; a variable already set in the environment wins over the file",
    default: undefined as string | undefined,
    defaultText: "none",
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
    help: "the URL prefix a proxy mounts the app under and strips before forwarding (e.g. /api); routes still match the path as sent",
    doc: "the URL prefix a proxy mounts the app under and strips before forwarding (`/api`), so that the URLs the app builds carry it; routes still match the path as the proxy sends it, as in uvicorn. Workers get it as `NEUTRINO_ROOT_PATH`; an ASGI app as `root_path` (its `path` then starts with it, as uvicorn's `--root-path` does), a WSGI app as `SCRIPT_NAME`",
    parse: rootPath,
    default: "",
    defaultText: "none",
  }),
  workerConcurrency: option({
    flags: "--worker-concurrency <n>",
    help: "requests one worker holds at once: a Node worker, a Python worker with async routes, or a WSGI app's threads",
    doc: "requests one worker holds at once: a Node worker, a Python worker of an app with `async def` routes (an ASGI app's included), or the threads a WSGI app runs on in each worker (as gunicorn's `--threads`). Unset, a WSGI app gets 1 (one request per worker, as gunicorn's sync worker) and a Neutrino app without `async def` routes always runs one request at a time",
    parse: integer(1, 65535),
    // Unset is not 64 for everyone: the worker picks its app kind's default (see worker-env.ts).
    default: undefined as number | undefined,
    defaultText: `${DEFAULT_CONCURRENCY}; a WSGI app: 1`,
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
    doc: "time a client has to send the whole request, body included, streamed bodies too (408, and the connection closes); counted from the request's first byte, and never shorter than `--header-timeout`",
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
    help: "let a busy Python worker hold up to four more quick requests while it runs a quick one",
    doc: "let a busy Python worker hold up to four more requests while it runs one, as long as the recent service times of the routes it holds add up to under 5 ms, so it never idles for the round trip through the orchestrator and quick requests share its socket's reads and writes (only when every worker is busy; never behind a slow route or one not yet timed; a waiting request of a worker that dies goes to another worker)",
    default: true,
    negate: "a request waits in the orchestrator until a worker is free",
  }),
  accessLog: option({
    flags: "--access-log",
    help: "log one line per request: client, request line, status, size, user agent, request id, queue wait and worker time",
    doc: "one log record per request: request id, client address (after proxy headers), method, path, query, protocol, route, status, response bytes, user agent, `durationMs`, `queueMs`, `workerMs` ([fields](operations.md#logs))",
    default: false,
    negate: "no access log",
  }),
  debug: option({
    flags: "--debug",
    help: "put a failed handler's exception and traceback in its 500 response (development only)",
    doc: "put a failed handler's exception, message and traceback (`exception`, `detail`, `traceback`) in its 500 response. Off, a 500 says only that the handler failed and gives the request id: an exception's text can hold secrets. The log has the traceback either way. Workers see it as `NEUTRINO_DEBUG=1`",
    default: false,
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
    help: "development: reload the app when a source file in the current directory (or --reload-dir) changes",
    doc: "development: watch the current directory (or the `--reload-dir` folders) and roll the workers when a source file changes (code that fails to import leaves the last good workers serving, with the traceback in the log)",
    default: false,
  }),
  reloadDir: option({
    flags: "--reload-dir <dir>",
    help: "--reload: watch this folder instead of the current directory (repeatable)",
    doc: "`--reload`: watch this folder instead of the current directory (repeatable)",
    parse: another(directory),
    default: [] as string[],
    defaultText: "the current directory",
    list: true,
  }),
  reloadInclude: option({
    flags: "--reload-include <glob>",
    help: "--reload: also reload when a file matching GLOB changes (source files always count), e.g. '*.html' (repeatable)",
    doc: "`--reload`: files matching this glob count too, besides source files (`.py`, `.ts`, `.js`, `.json`, `.toml`...), e.g. `*.html`, `templates/**` (repeatable); a glob without `/` matches the file name",
    parse: another((glob: string) => glob),
    default: [] as string[],
    defaultText: "none",
    list: true,
  }),
  reloadExclude: option({
    flags: "--reload-exclude <glob>",
    help: "--reload: ignore changes to files or folders matching GLOB, e.g. 'tests/**' (repeatable)",
    doc: "`--reload`: changes to files or folders matching this glob never reload, e.g. `tests/**`, `*.log` (repeatable); node_modules, .git, virtualenvs, caches and dist are always ignored",
    parse: another((glob: string) => glob),
    default: [] as string[],
    defaultText: "none",
    list: true,
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
  staticCacheControl: option({
    flags: "--static-cache-control <value>",
    help: "the Cache-Control header of --static files, e.g. \"public, max-age=31536000, immutable\" for fingerprinted assets",
    doc: "the `Cache-Control` header of `--static` files (the default makes browsers revalidate, which costs a 304)",
    default: DEFAULT_CACHE_CONTROL,
  }),
  docs: option({
    flags: "--docs",
    help: "serve the OpenAPI document at /openapi.json and the docs page at /docs (a Neutrino App's; an ASGI, WSGI or fetch app's paths are its own)",
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
  wsPerMessageDeflate: option({
    flags: "--ws-per-message-deflate",
    help: "compress WebSocket messages of 1 KiB or more (permessage-deflate) with clients that offer it, as uvicorn's flag of the same name does; costs about 130 KiB of memory per connection that uses it",
    doc: "compress WebSocket messages of 1 KiB or more (permessage-deflate) with the clients that offer it (browsers do), as uvicorn's flag of the same name; costs about 130 KiB of the orchestrator's memory per connection that uses it ([operations](operations.md#websockets))",
    default: false,
    negate: "no WebSocket compression",
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
  if (settings.fronts > settings.workers) return `--fronts ${settings.fronts} needs at least as many --workers (each front supervises its share)`;
  if (settings.fronts > 1 && settings.bind.some((b) => b.startsWith("fd://"))) return "--fronts above 1 cannot share an inherited socket (--bind fd://N)";
  if (settings.udsMode !== undefined && settings.uds === undefined && !settings.bind.some((b) => b.startsWith("unix:"))) {
    return "--uds-mode needs --uds (or a --bind unix:PATH)";
  }
  for (const flag of ["sslKeyfile", "sslKeyfilePassword", "sslCaCerts"] as const) {
    if (settings[flag] !== undefined && settings.sslCertfile === undefined) return `--${longName(SERVE_OPTIONS[flag])} needs --ssl-certfile`;
  }
  if (settings.sslCertReqs > 0 && settings.sslCertfile === undefined) return "--ssl-cert-reqs needs --ssl-certfile";
  if (settings.corsCredentials && settings.corsOrigin.length === 0) return "--cors-credentials needs --cors-origin";
  if (settings.corsCredentials && settings.corsOrigin.includes("*")) {
    return "--cors-credentials cannot be used with --cors-origin '*': list the origins";
  }
  return null;
}
