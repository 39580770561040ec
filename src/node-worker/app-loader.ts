/**
 * Imports the user's app from an APP string `path/to/module:export`, relative to the current
 * directory. The module part names a file, with its extension or without (then `.ts`, `.mts`,
 * `.js` and `.mjs` are tried, as the orchestrator's resolver does). A TypeScript file is loaded
 * through tsx, registered here, just before the app's import (see `registerTypeScript`).
 * The export is a neutrino App, or a fetch app (an object with a `fetch` method, or a function:
 * Hono, itty-router…); `--interface` (NEUTRINO_INTERFACE) says which when guessing is not wanted.
 * Failures raise StartupFailure with the kinds of docs/protocol.md, sent as StartupError.
 */
import { statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App } from "../sdk/app.js";
import { AppSpecError, NODE_EXTENSIONS, NODE_SEARCH_EXTENSIONS, TYPESCRIPT_EXTENSIONS, parseAppSpec } from "../shared/app-spec.js";
import { FACTORY_ENV, INTERFACE_ENV, type Interface } from "../shared/interface.js";
import { StartupFailure } from "../shared/startup-failure.js";
import { FetchApp } from "./fetch-app.js";
import { userStack } from "./stack.js";

/** What `--interface` may ask of a Node worker; "auto" tells a neutrino App and a fetch app apart. */
type NodeInterface = Extract<Interface, "auto" | "neutrino" | "fetch">;

/** NEUTRINO_INTERFACE as the orchestrator sets it (unset: auto); a Python-only kind is refused. */
function interfaceFrom(env: NodeJS.ProcessEnv): NodeInterface {
  const value = env[INTERFACE_ENV] || "auto";
  if (value === "auto" || value === "neutrino" || value === "fetch") return value;
  throw new StartupFailure("not_an_app", `--interface ${value} is not for a Node app (a Node app is "neutrino" or "fetch")`);
}

export async function loadApp(appPath: string, cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<App | FetchApp> {
  const kind = interfaceFrom(env);
  let module: string, attribute: string;
  try {
    ({ module, attribute } = parseAppSpec(appPath));
  } catch (err) {
    if (err instanceof AppSpecError) throw new StartupFailure("bad_app_path", err.message);
    throw err;
  }
  const file = findModuleFile(module, cwd);
  if (TYPESCRIPT_EXTENSIONS.has(extname(file))) await registerTypeScript();
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw importError(module, err);
  }
  let value = exported(namespace, attribute);
  if (value === undefined && !(attribute in namespace)) {
    throw new StartupFailure("attribute_not_found", `module "${module}" has no export "${attribute}"`);
  }
  if (env[FACTORY_ENV] === "1") value = await callFactory(appPath, value);
  if (kind !== "fetch") {
    if (App.isApp(value)) return value;
    if (value === App) {
      throw new StartupFailure("not_an_app", `"${appPath}" is the App class, not an App instance (create one: export const app = new App())`);
    }
  }
  if (kind !== "neutrino") {
    const fetchApp = FetchApp.from(value, kind === "fetch");
    if (fetchApp) return fetchApp;
  }
  const fetchApp = "a fetch app (an object with a fetch method, or a function of the request)";
  const wanted = { auto: `a neutrino App nor ${fetchApp}`, neutrino: "a neutrino App", fetch: fetchApp }[kind];
  throw new StartupFailure("not_an_app", `"${appPath}" is ${kindOf(value)}, not ${wanted}`);
}

/**
 * Registers tsx's module hooks (importing its loader registers them), resolved from this package
 * so that an app need not install tsx. Here rather than with `node --import` at start-up: Node
 * 20 runs module hooks on a thread of their own, and every module imported while they are
 * registered makes a round trip to it, so the worker's own modules load before (about 100 ms
 * less per TypeScript worker start, docs/benchmarks.md) and only the app's pay for the hooks.
 */
async function registerTypeScript(): Promise<void> {
  // @ts-expect-error tsx's loader entry has no type declarations: it is imported for its effect.
  await import("tsx");
}

/** `--factory`: the export is a function, called once with no arguments, whose result (awaited) is the app. */
async function callFactory(appPath: string, factory: unknown): Promise<unknown> {
  if (typeof factory !== "function") {
    throw new StartupFailure("not_an_app", `"${appPath}" is ${kindOf(factory)}, not a function: --factory needs APP to name a function that returns the app`);
  }
  try {
    return await (factory as () => unknown)();
  } catch (err) {
    const failure = importError(appPath, err);
    return Promise.reject(new StartupFailure("import_error", failure.message.replace(/^importing (".*?") failed/, "the factory $1 failed"), failure.traceback));
  }
}

function findModuleFile(module: string, cwd: string): string {
  const base = resolve(cwd, module);
  const candidates = NODE_EXTENSIONS.has(extname(module)) ? [base] : NODE_SEARCH_EXTENSIONS.map((ext) => base + ext);
  const found = candidates.find(isFile);
  if (!found) {
    const looked = candidates.length === 1 ? candidates[0] : `${base}{${NODE_SEARCH_EXTENSIONS.join(",")}}`;
    throw new StartupFailure("module_not_found", `module "${module}" not found (looked for ${looked})`);
  }
  return found;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A named export; for CommonJS, also a property of module.exports that Node's lexer did not list. */
function exported(namespace: Record<string, unknown>, name: string): unknown {
  if (name in namespace) return namespace[name];
  const fallback = namespace.default;
  return typeof fallback === "object" && fallback !== null ? (fallback as Record<string, unknown>)[name] : undefined;
}

function importError(module: string, err: unknown): StartupFailure {
  const name = err instanceof Error ? err.name : "Error";
  const message = err instanceof Error ? err.message : String(err);
  const stack = err instanceof Error && err.stack ? `${userStack(err.stack)}\n` : "";
  // A route that can never work is the app's mistake, not a failed import: say which route.
  if (name === "RouteError") return new StartupFailure("invalid_route", message, stack);
  return new StartupFailure("import_error", `importing "${module}" failed: ${message ? `${name}: ${message}` : name}`, stack);
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "function") return /^class\b/.test(Function.prototype.toString.call(value)) ? "a class" : "a function";
  if (typeof value !== "object") return `a ${typeof value}`;
  const name = (value as object).constructor?.name;
  return name && name !== "Object" ? `${/^[aeiou]/i.test(name) ? "an" : "a"} ${name}` : "an object";
}
