/**
 * Liveness and readiness, answered by the orchestrator without touching a worker: a probe must
 * not wait in the queue behind real traffic, nor fail because one worker is busy.
 */
import type { ServerResponse } from "node:http";
import type { BuiltIn } from "./built-ins.js";

export interface ProbePaths {
  /** Liveness: 200 whenever the orchestrator answers. */
  readonly health: string;
  /** Readiness: 200 while serving, 503 while draining. */
  readonly ready: string;
}

const OK = Buffer.from('{"status":"ok"}');
const READY = Buffer.from('{"status":"ready"}');
const DRAINING = Buffer.from('{"status":"draining"}');

function reply(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length, "cache-control": "no-store" });
  res.end(body);
}

/** Answers a probe and returns true, or returns false when `path` is no probe path. */
export function answerProbe(paths: ProbePaths, path: string, draining: boolean, res: ServerResponse): boolean {
  if (path === paths.health) reply(res, 200, OK);
  else if (path === paths.ready) reply(res, draining ? 503 : 200, draining ? DRAINING : READY);
  else return false;
  return true;
}

/** The probes as a built-in route (src/http/built-ins.ts). */
export function probesBuiltIn(paths: ProbePaths): BuiltIn {
  return {
    paths: [paths.health, paths.ready],
    matches: (path) => path === paths.health || path === paths.ready,
    answer: ({ path, draining, res }) => void answerProbe(paths, path, draining, res),
  };
}
