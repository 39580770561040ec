/**
 * The settings every worker reads from its environment, whatever its runtime (docs/protocol.md,
 * "Connection"), so every runtime starts with the same three arguments. One place for all of
 * them: each is set when the command line says so and removed otherwise, so a value inherited
 * from the orchestrator's own environment never says what the command line did not.
 */

import { CONCURRENCY_ENV } from "../../shared/concurrency.js";
import { DEBUG_ENV, FACTORY_ENV, INTERFACE_ENV, ROOT_PATH_ENV, type Interface } from "../../shared/interface.js";

export interface WorkerSettings {
  readonly factory?: boolean | undefined;
  readonly debug?: boolean | undefined;
  /** `--interface`: what APP is (auto: the worker detects it). */
  readonly interface?: Interface | undefined;
  /** `--root-path`: the prefix a proxy mounts the app under ("" or absent: none). */
  readonly rootPath?: string | undefined;
  /**
   * `--worker-concurrency`, only when the user gave it: absent, each kind of app keeps its own
   * default (64 for async apps, 1 for a WSGI app's threads), which only the worker can tell.
   */
  readonly concurrency?: number | undefined;
}

/** `base` (the orchestrator's environment plus the runtime's own variables) with the settings applied. */
export function workerEnv(base: NodeJS.ProcessEnv, settings: WorkerSettings): NodeJS.ProcessEnv {
  const env = { ...base };
  flag(env, FACTORY_ENV, settings.factory);
  flag(env, DEBUG_ENV, settings.debug);
  env[INTERFACE_ENV] = settings.interface ?? "auto";
  if (settings.rootPath) env[ROOT_PATH_ENV] = settings.rootPath;
  else delete env[ROOT_PATH_ENV];
  if (settings.concurrency !== undefined) env[CONCURRENCY_ENV] = String(settings.concurrency);
  else delete env[CONCURRENCY_ENV];
  return env;
}

function flag(env: NodeJS.ProcessEnv, name: string, on: boolean | undefined): void {
  if (on) env[name] = "1";
  else delete env[name];
}
