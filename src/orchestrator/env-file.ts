/**
 * `--env-file PATH`: `KEY=value` lines in the dotenv format (comments, quotes, `export KEY=...`),
 * parsed by Node's own util.parseEnv, put into the orchestrator's environment before the options
 * are read. So the workers inherit them, and `NEUTRINO_*` ones set options exactly as the
 * environment does. A variable already set in the environment wins over the file, as with dotenv.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as util from "node:util";
import { ConfigError } from "./config.js";

type ParseEnv = (content: string) => Record<string, string>;

/** Loads `path` (relative to `cwd`) into `env`; returns the names it set. */
export function loadEnvFile(path: string, where: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const parseEnv = (util as { parseEnv?: ParseEnv }).parseEnv;
  if (!parseEnv) throw new ConfigError(`${where}: reading an env file needs Node.js 20.12 or later (this is ${process.version})`);
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), "utf8");
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const set: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}
