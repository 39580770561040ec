/**
 * The orchestrator's own endpoints (probes, /metrics, /openapi.json and /docs, the status page,
 * `--static` files), each a BuiltIn in its own module, looked up here under one precedence rule:
 *
 *   1. built-ins that own a URL prefix as explicit configuration (`--static` mounts) win over the
 *      app's routes;
 *   2. then the app's routes;
 *   3. then every other built-in: an app route on the same path hides it (warned at start-up).
 *
 * Built-ins answer GET and HEAD only; any other method gets one 405 here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Metrics } from "../metrics.js";
import type { ApiDocs } from "../openapi/docs-page.js";
import type { StatusPage } from "../status/status-page.js";
import { sendError } from "./errors.js";
import { metricsBuiltIn } from "./metrics-endpoint.js";
import { probesBuiltIn, type ProbePaths } from "./probes.js";
import type { StaticFiles } from "./static-files.js";

export interface BuiltInRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The URL path, without the query. */
  readonly path: string;
  /** The request target as received, query included. */
  readonly url: string;
  /** The server is shutting down. */
  readonly draining: boolean;
}

export interface BuiltIn {
  /** Rule 1 above: wins over the app's routes. */
  readonly beforeApp?: boolean;
  /** The fixed paths it answers, for the start-up warning about app routes hiding them. */
  readonly paths: readonly string[];
  /** Whether it answers `path`. */
  matches(path: string): boolean;
  /** Answers a GET or HEAD for a path it matches. */
  answer(request: BuiltInRequest): void;
}

const ALLOW = "GET, HEAD";

export class BuiltIns {
  private readonly first: readonly BuiltIn[];
  private readonly last: readonly BuiltIn[];

  constructor(readonly all: readonly BuiltIn[]) {
    this.first = all.filter((b) => b.beforeApp);
    this.last = all.filter((b) => !b.beforeApp);
  }

  /** The built-in that answers `path` ahead of the app's routes (rule 1). */
  beforeApp(path: string): BuiltIn | undefined {
    return this.first.find((b) => b.matches(path));
  }

  /** The built-in that answers `path` when no app route matched (rule 3). */
  afterApp(path: string): BuiltIn | undefined {
    return this.last.find((b) => b.matches(path));
  }

  /** Every fixed path that rule 3 serves, for the start-up warnings. */
  get paths(): string[] {
    return this.last.flatMap((b) => b.paths);
  }

  /** Answers with `builtIn`, or 405 for a method other than GET and HEAD. */
  static answer(builtIn: BuiltIn, request: BuiltInRequest): void {
    const { method, path, res } = request;
    if (method !== "GET" && method !== "HEAD") {
      sendError(res, 405, `${method} is not allowed on ${path} (allowed: ${ALLOW})`, { allow: ALLOW });
      return;
    }
    builtIn.answer(request);
  }

  /**
   * Answers a request on a port that serves built-ins alone (--admin-port): rule 1 and 3 in
   * order, 404 for anything else. Returns false for a path no built-in answers.
   */
  answerAlone(request: BuiltInRequest): boolean {
    const builtIn = this.beforeApp(request.path) ?? this.afterApp(request.path);
    if (!builtIn) return false;
    BuiltIns.answer(builtIn, request);
    return true;
  }
}

/**
 * The built-ins a port serves, from the server's options: static files, probes, /metrics, the
 * docs, and the status page when `statusPage` says so.
 */
export function builtInsOf(
  options: {
    readonly staticFiles: StaticFiles | null;
    readonly probes: ProbePaths;
    readonly metrics: Metrics;
    /** null: not on this port. */
    readonly metricsPath: string | null;
    readonly apiDocs: ApiDocs | null;
    readonly statusPage?: StatusPage | null;
  },
  statusPage: boolean,
): BuiltIn[] {
  const all: BuiltIn[] = [];
  if (options.staticFiles) all.push(options.staticFiles);
  all.push(probesBuiltIn(options.probes));
  if (options.metricsPath !== null) all.push(metricsBuiltIn(options.metrics, options.metricsPath));
  if (options.apiDocs) all.push(options.apiDocs);
  const page = options.statusPage;
  if (page && statusPage) {
    all.push({
      paths: page.paths,
      matches: (path) => page.matches(path),
      answer: ({ path, draining, res }) => page.answer(path, draining, res),
    });
  }
  return all;
}
