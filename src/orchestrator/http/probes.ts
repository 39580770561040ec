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
}

const OK = Buffer.from('{"status":"ok"}');
const READY = Buffer.from('{"status":"ready"}');
const DRAINING = Buffer.from('{"status":"draining"}');
const NO_WORKER = Buffer.from('{"status":"no_worker"}');

function reply(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, "cache-control": "no-store" });
  res.end(body);
}

/** Answers a probe and returns true, or returns false when `path` is no probe path. */
export function answerProbe(paths: ProbePaths, path: string, draining: boolean, res: ServerResponse): boolean {
  if (path === paths.health) reply(res, 200, OK);
  else if (path === paths.ready) {
    if (draining) reply(res, 503, DRAINING);
    else if (paths.serving && !paths.serving()) reply(res, 503, NO_WORKER);
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
