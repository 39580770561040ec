/**
 * Runs one TaskAssignment against the app and returns what its TaskResult carries, with the
 * Python worker's statuses and error bodies (python/src/neutrino/internal/worker/executor.py):
 * `{"error": <reason phrase>, "detail": <what was wrong>, ...}`. A failing handler becomes a 500
 * with its stack on stderr; the worker goes on.
 */
import { STATUS_CODES } from "node:http";
import { HANDLER_FAILED, type Pair, type RouteInfo, type TaskAssignment } from "../protocol/messages.js";
import type { App, Route } from "../sdk/app.js";
import { collectArguments, InvalidArguments, InvalidBody, validateArguments } from "./arguments.js";
import { userStack } from "./stack.js";

export interface Outcome {
  readonly status: number;
  readonly flags: number;
  readonly headers: readonly Pair[];
  /** The response body, serialized once here and passed to the client untouched. */
  readonly body: Buffer;
}

/** What the executor needs for one route, worked out once when the worker starts. */
interface Entry {
  readonly route: Route;
  readonly methods: ReadonlySet<string>;
  readonly allow: string;
}

const NO_HEADERS: readonly Pair[] = [];

export class Executor {
  private readonly entries = new Map<string, Entry>();

  constructor(app: App) {
    for (const path of app.listRoutes()) {
      const route = app.getRoute(path);
      this.entries.set(path, { route, methods: new Set(route.methods), allow: route.methods.join(", ") });
    }
  }

  /** The RouteRegistry: keyed by the paths the orchestrator sends back in TaskAssignment.route. */
  get routes(): RouteInfo[] {
    return [...this.entries.values()].map(({ route }) => ({ path: route.path, methods: [...route.methods] }));
  }

  /** Never rejects: every failure is an error response. */
  async run(task: TaskAssignment): Promise<Outcome> {
    const entry = this.entries.get(task.route);
    if (!entry) return errorOutcome(404, `no route "${task.route}" in this app`);
    if (!entry.methods.has(task.method)) {
      const detail = `method ${task.method} is not allowed for route "${entry.route.path}" (allowed: ${entry.allow})`;
      return errorOutcome(405, detail, 0, [["allow", entry.allow]]);
    }
    const { route } = entry;
    let result: unknown;
    try {
      const raw = collectArguments(task.query, task.params, task.body);
      const args = route.schema ? await validateArguments(route.schema, raw) : raw.values;
      result = await route.handler(args as never);
    } catch (err) {
      if (err instanceof InvalidBody) return errorOutcome(400, err.message);
      if (err instanceof InvalidArguments) return errorOutcome(422, err.message, 0, NO_HEADERS, { errors: err.errors });
      return handlerFailed(route, task, err); // the handler, or a schema that threw
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(result);
    } catch (err) {
      return notSerializable(route, task, errorText(err)); // BigInt, a circular structure, a throwing toJSON
    }
    if (json === undefined) {
      // JSON.stringify gives undefined for undefined (sent as null), functions and symbols.
      if (result !== undefined) return notSerializable(route, task, `a ${typeof result} is not a JSON value`);
      json = "null";
    }
    return { status: 200, flags: 0, headers: NO_HEADERS, body: Buffer.from(json) };
  }
}

export function errorOutcome(
  status: number,
  detail: string,
  flags = 0,
  headers: readonly Pair[] = NO_HEADERS,
  extra: Record<string, unknown> = {},
): Outcome {
  const body = JSON.stringify({ error: STATUS_CODES[status] ?? "Error", detail, ...extra });
  return { status, flags, headers, body: Buffer.from(body) };
}

function handlerFailed(route: Route, task: TaskAssignment, thrown: unknown): Outcome {
  const { name, message, stack } = describeThrown(thrown);
  // The client gets the name and message; the operator needs where it happened.
  process.stderr.write(`neutrino: handler "${route.name}" failed on ${task.method} ${task.path}\n${stack}\n`);
  return errorOutcome(500, message ? `${name}: ${message}` : name, HANDLER_FAILED, NO_HEADERS, { exception: name });
}

function notSerializable(route: Route, task: TaskAssignment, why: string): Outcome {
  const detail = `return value of handler "${route.name}" is not JSON-serializable: ${why}`;
  process.stderr.write(`neutrino: ${task.method} ${task.path}: ${detail}\n`);
  return errorOutcome(500, detail, HANDLER_FAILED);
}

/** Name, message and stack of whatever was thrown, without trusting it (getters may throw too). */
function describeThrown(thrown: unknown): { name: string; message: string; stack: string } {
  try {
    if (thrown instanceof Error) {
      const name = String(thrown.name);
      const message = String(thrown.message);
      return { name, message, stack: thrown.stack ? userStack(thrown.stack) : `${name}: ${message}` };
    }
    const text = `a non-Error value was thrown: ${typeof thrown === "string" ? JSON.stringify(thrown) : String(thrown)}`;
    return { name: "NonError", message: text, stack: text };
  } catch {
    return { name: "Error", message: "<the thrown value could not be printed>", stack: "<the thrown value could not be printed>" };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
