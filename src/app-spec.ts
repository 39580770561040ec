/** Parses the APP argument: `module:attribute`, as uvicorn and gunicorn take it. */

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
