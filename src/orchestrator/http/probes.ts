/**
 * Liveness and readiness, answered by the orchestrator without touching a worker: a probe must
 * not wait in the queue behind real traffic, nor fail because one worker is busy.
 */
import type { ServerResponse } from "node:http";
import type { BuiltIn } from "./built-ins.js";

export interface ProbePaths {
  /** Liveness: 200 whenever the orchestrator answers. */
  readonly health: string;
  /** Readiness: 200 while serving, 503 while draining or while no worker takes requests. */
  readonly ready: string;
  /** Whether at least one worker takes requests (absent: always). */
  readonly serving?: () => boolean;
  /** Several fronts: whether the whole server serves (every listening front has a serving worker), from the primary. */
  readonly serverReady?: () => Promise<Readiness>;
}

/** `notServing`: the fronts that listen but have no serving worker, or did not answer in time. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly notServing: readonly number[] };

const OK = Buffer.from('{"status":"ok"}');
const READY = Buffer.from('{"status":"ready"}');
const DRAINING = Buffer.from('{"status":"draining"}');
const NO_WORKER = Buffer.from('{"status":"no_worker"}');
const NO_ANSWER = Buffer.from('{"status":"no_answer"}');

function reply(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, "cache-control": "no-store" });
  res.end(body);
}

/** Answers a probe and returns true, or returns false when `path` is no probe path. */
export function answerProbe(paths: ProbePaths, path: string, draining: boolean, res: ServerResponse): boolean {
  if (path === paths.health) reply(res, 200, OK);
  else if (path === paths.ready) {
    if (draining) reply(res, 503, DRAINING);
    else if (paths.serverReady) {
      paths.serverReady().then(
        (r) => (r.ready ? reply(res, 200, READY) : reply(res, 503, Buffer.from(JSON.stringify({ status: "no_worker", fronts: r.notServing })))),
        () => reply(res, 503, NO_ANSWER),
      );
    } else if (paths.serving && !paths.serving()) reply(res, 503, NO_WORKER);
    else reply(res, 200, READY);
  }
  else return false;
  return true;
}

/** The probes as a built-in route (src/orchestrator/http/built-ins.ts). */
export function probesBuiltIn(paths: ProbePaths): BuiltIn {
  return {
    paths: [paths.health, paths.ready],
    matches: (path) => path === paths.health || path === paths.ready,
    answer: ({ path, draining, res }) => void answerProbe(paths, path, draining, res),
  };
}
