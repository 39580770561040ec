/**
 * The settings every worker reads from its environment, whatever its runtime (docs/protocol.md,
 * "Connection"), so every runtime starts with the same three arguments. One place for all of
 * them: each is set when the command line says so and removed otherwise, so a value inherited
 * from the orchestrator's own environment never says what the command line did not.
 */

/** APP names a function that returns the app (`--factory`): "1". */
export const FACTORY_ENV = "NEUTRINO_FACTORY";
/** A failed handler's 500 shows its exception and traceback (`--debug`): "1". */
export const DEBUG_ENV = "NEUTRINO_DEBUG";

export interface WorkerSettings {
  readonly factory?: boolean | undefined;
  readonly debug?: boolean | undefined;
}

/** `base` (the orchestrator's environment plus the runtime's own variables) with the settings applied. */
export function workerEnv(base: NodeJS.ProcessEnv, settings: WorkerSettings): NodeJS.ProcessEnv {
  const env = { ...base };
  flag(env, FACTORY_ENV, settings.factory);
  flag(env, DEBUG_ENV, settings.debug);
  return env;
}

function flag(env: NodeJS.ProcessEnv, name: string, on: boolean | undefined): void {
  if (on) env[name] = "1";
  else delete env[name];
}
