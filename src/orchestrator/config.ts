/**
 * Options from the environment and from a config file, for any commander command.
 *
 * Every long option `--max-queue` of the command is also read from `NEUTRINO_MAX_QUEUE` and from the
 * key `max-queue` (or `max_queue`) of `neutrino.toml`, else of `[tool.neutrino]` in `pyproject.toml`.
 * A flag wins over the environment, which wins over the file, which wins over the default. Values
 * go through the option's own parser, so they are checked exactly as the flag is; errors name the
 * variable or the key. A repeatable option (one whose default is a list, like `--static`) takes a
 * comma-separated list from the environment, and a list (or a comma-separated string) from the file.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { InvalidArgumentError, type Command, type Option } from "commander";
import { createRequire } from "node:module";
import type { parse as parseToml } from "smol-toml";

export const ENV_PREFIX = "NEUTRINO_";
export const CONFIG_FILE = "neutrino.toml";

/** A setting that cannot be used; the CLI prints `neutrino: <message>` and exits 2. */
export class ConfigError extends Error {}

/** `--max-queue` → `max-queue`. */
export function fileKey(option: Option): string | undefined {
  return option.long?.replace(/^--/, "");
}

/** `--max-queue` → `NEUTRINO_MAX_QUEUE`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.toUpperCase().replace(/-/g, "_");
}

export interface ConfigFile {
  /** Where it was read from, for error messages: `neutrino.toml`, `pyproject.toml [tool.neutrino]`. */
  readonly label: string;
  /** The table, keys as written (`max_queue` or `max-queue`). */
  readonly values: Record<string, unknown>;
}

/** The config file: `path` if given, else `neutrino.toml` in `cwd`, else `[tool.neutrino]` of `pyproject.toml`. */
export function readConfigFile(path: string | undefined, cwd = process.cwd()): ConfigFile | undefined {
  let label: string;
  let table: Record<string, unknown> | undefined;
  if (path !== undefined) {
    label = path;
    table = parseFile(resolve(cwd, path), label, true);
    if (path.endsWith("pyproject.toml")) {
      label = `${path} [tool.neutrino]`;
      table = section(table);
    }
  } else if (existsSync(resolve(cwd, CONFIG_FILE))) {
    label = CONFIG_FILE;
    table = parseFile(resolve(cwd, CONFIG_FILE), label, false);
  } else if (existsSync(resolve(cwd, "pyproject.toml"))) {
    label = "pyproject.toml [tool.neutrino]";
    table = section(parseFile(resolve(cwd, "pyproject.toml"), label, false));
  }
  if (table === undefined) return undefined;
  return { label: label!, values: table };
}

function parseFile(path: string, label: string, mustExist: boolean): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (!mustExist && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`${label}: cannot read: ${(err as Error).message}`);
  }
  try {
    // Loaded only when there is a file to parse: most servers start without one.
    const parse = (createRequire(import.meta.url)("smol-toml") as { parse: typeof parseToml }).parse;
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${label}: ${(err as Error).message.split("\n")[0]}`);
  }
}

function section(pyproject: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const tool = pyproject?.tool as Record<string, unknown> | undefined;
  return tool?.neutrino as Record<string, unknown> | undefined;
}

/** A file value as the text a flag would carry. */
function asText(value: unknown, where: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  throw new ConfigError(`${where}: must be a string, a number or a boolean`);
}

/** On/off flags (`--reload`) take true/false, 1/0, yes/no, on/off from the environment or a file. */
const SWITCH_VALUES: Record<string, boolean> = { true: true, "1": true, yes: true, on: true, false: false, "0": false, no: false, off: false };

function parseValue(option: Option, text: string, where: string): unknown {
  // Commander does not count a `--no-` option as boolean, but it is one: NEUTRINO_NO_DOCS=true means off.
  if (option.isBoolean() || option.negate) {
    const value = SWITCH_VALUES[text.trim().toLowerCase()];
    if (value === undefined) throw new ConfigError(`${where}: must be true or false`);
    return option.negate ? !value : value;
  }
  if (!option.parseArg) return text;
  try {
    return option.parseArg(text, undefined);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new ConfigError(`${where}: ${err.message}`);
    throw err;
  }
}

/** A repeatable option: its default is a list, and its parser adds one value to the list so far. */
function isList(option: Option): boolean {
  return Array.isArray(option.defaultValue);
}

/** The items of a list option's value: a comma-separated string, or (from the file) a list. */
function listItems(value: unknown, where: string): string[] {
  const items = Array.isArray(value) ? value.map((v, i) => asText(v, `${where}[${i}]`)) : asText(value, where).split(",");
  return items.map((item) => item.trim()).filter((item) => item !== "");
}

function parseList(option: Option, value: unknown, where: string): unknown {
  const items = listItems(value, where);
  if (!option.parseArg) return items;
  let result: unknown = undefined;
  for (const item of items) {
    try {
      result = option.parseArg(item, result);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  }
  return result ?? [];
}

export interface ApplyOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly file?: ConfigFile;
  /** Long options not taken from the environment or the file (e.g. `config` itself). */
  readonly skip?: readonly string[];
  /** Extra file keys the caller handles itself (e.g. `app`), so they are not reported unknown. */
  readonly extraKeys?: readonly string[];
}

/**
 * Fills in, for every long option of `command` not given on the command line, the value from the
 * environment, else from the file. Throws ConfigError for an unknown file key or a bad value.
 */
export function applyConfig(command: Command, { env = process.env, file, skip = [], extraKeys = [] }: ApplyOptions): void {
  const known = new Set<string>(extraKeys);
  const fromFile = new Map<string, [string, unknown]>();
  for (const [written, value] of Object.entries(file?.values ?? {})) fromFile.set(written.replace(/_/g, "-"), [written, value]);
  for (const option of command.options) {
    const key = fileKey(option);
    if (key === undefined || skip.includes(key)) continue;
    known.add(key);
    const name = option.attributeName();
    if (command.getOptionValueSource(name) === "cli") continue;
    const variable = envName(key);
    const fromEnv = env[variable];
    if (fromEnv !== undefined && fromEnv !== "") {
      const value = isList(option) ? parseList(option, fromEnv, variable) : parseValue(option, fromEnv, variable);
      command.setOptionValueWithSource(name, value, "env");
    } else if (fromFile.has(key)) {
      const [written, value] = fromFile.get(key)!;
      const where = `${file!.label}: ${written}`;
      const parsed = isList(option) ? parseList(option, value, where) : parseValue(option, asText(value, where), where);
      command.setOptionValueWithSource(name, parsed, "config");
    }
  }
  for (const [key, [written]] of fromFile) {
    if (!known.has(key)) throw new ConfigError(`${file!.label}: unknown key "${written}"`);
  }
}
