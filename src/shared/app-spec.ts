/**
 * The APP argument, `module:attribute` as uvicorn and gunicorn take it, and the file extensions
 * that make a module a Node one: read by the orchestrator (to choose the runtime) and by the Node
 * worker (to find the file), so both follow one grammar.
 */

export interface AppSpec {
  /** The text the user gave, passed on to workers unchanged. */
  readonly text: string;
  /** `myapp`, `tests.fixtures.myapp` or a file path such as `examples/myapp`. */
  readonly module: string;
  readonly attribute: string;
}

export class AppSpecError extends Error {
  override name = "AppSpecError";
}

/** Looked for, in this order, when the module part has no extension. */
export const NODE_SEARCH_EXTENSIONS: readonly string[] = Object.freeze([".ts", ".mts", ".js", ".mjs"]);
/** Every extension a Node app's module may have. */
export const NODE_EXTENSIONS: ReadonlySet<string> = new Set([...NODE_SEARCH_EXTENSIONS, ".cts", ".cjs"]);
/** Files that need tsx to load. */
export const TYPESCRIPT_EXTENSIONS: ReadonlySet<string> = new Set([".ts", ".mts", ".cts"]);

/** A name both a Python attribute and a JavaScript export can have. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseAppSpec(text: string): AppSpec {
  const colon = text.lastIndexOf(":");
  const module = colon < 0 ? "" : text.slice(0, colon);
  const attribute = colon < 0 ? "" : text.slice(colon + 1);
  if (colon < 0 || module === "" || attribute === "") {
    throw new AppSpecError(
      `APP must be "module:attribute" (for example "myapp:app"), got "${text}"`,
    );
  }
  if (!IDENTIFIER.test(attribute)) {
    throw new AppSpecError(`"${attribute}" in "${text}" is not a valid attribute name`);
  }
  return { text, module, attribute };
}
