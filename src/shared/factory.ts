/**
 * `--factory`: APP names a function that returns the app, not the app. The orchestrator tells the
 * workers in this environment variable, "1" when on and absent when off (docs/protocol.md,
 * "Connection"), so every runtime starts with the same three arguments.
 */
export const FACTORY_ENV = "NEUTRINO_FACTORY";

/** The workers' environment with FACTORY_ENV set to say `factory`. */
export function withFactory(env: NodeJS.ProcessEnv, factory: boolean): NodeJS.ProcessEnv {
  const { [FACTORY_ENV]: _, ...rest } = env;
  return factory ? { ...rest, [FACTORY_ENV]: "1" } : rest;
}
