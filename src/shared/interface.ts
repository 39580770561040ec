/**
 * What the orchestrator tells every worker in its environment, whatever its runtime, so every
 * runtime starts with the same three arguments (the orchestrator sets them in
 * src/orchestrator/runtimes/worker-env.ts). Chief among them, what kind of app a worker serves
 * (`--interface`): each worker refuses the kinds it cannot serve (a Python worker: fetch; a Node
 * worker: asgi and wsgi).
 */

export const INTERFACE_ENV = "NEUTRINO_INTERFACE";

/** `auto` detects the app: a Neutrino App first, then the foreign kinds its runtime serves. */
export const INTERFACES = ["auto", "neutrino", "asgi", "wsgi", "fetch"] as const;
export type Interface = (typeof INTERFACES)[number];

/** `--factory`: APP names a function that returns the app, not the app ("1"; absent: off). */
export const FACTORY_ENV = "NEUTRINO_FACTORY";

/** `--debug`: a failed handler's 500 shows its exception and traceback ("1"; absent: off). */
export const DEBUG_ENV = "NEUTRINO_DEBUG";

/** `--root-path` for the Python workers' ASGI and WSGI apps ("" when unset). */
export const ROOT_PATH_ENV = "NEUTRINO_ROOT_PATH";
