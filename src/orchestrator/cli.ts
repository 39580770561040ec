#!/usr/bin/env node
/** The `neutrino` command line (commander). */
import { availableParallelism } from "node:os";
import { Command, CommanderError } from "commander";
import { AppSpecError, parseAppSpec, type AppSpec } from "../shared/app-spec.js";
import { applyConfig, ConfigError, envName, readConfigFile, type ConfigFile } from "./config.js";
import { discoverRoutes, formatRouteTable } from "./discover.js";
import { loadEnvFile } from "./env-file.js";
import { applyPlatformEnv } from "./platform-env.js";
import { AUTO_FRONTS, autoFronts } from "./fronts/count.js";
import { frontOf, FrontLink, shareOf } from "./fronts/front.js";
import { Primary } from "./fronts/primary.js";
import { createLogger } from "./log.js";
import { APP_ARGUMENT, commanderOptions, conflicts, longName, SERVE_OPTIONS, type OptionSpec, type ServeSettings } from "./options.js";
import { resolveApp, type ResolvedApp } from "./runtimes/resolve.js";
import { runtimeFor } from "./runtimes/select.js";
import { Server } from "./serve.js";
import { nameAndVersion } from "../shared/version.js";

/** Adds the commander options of these option-table entries to `command`. */
function withOptions(command: Command, table: Readonly<Record<string, OptionSpec<any>>>): Command {
  for (const [key, spec] of Object.entries(table)) {
    for (const option of commanderOptions(key, spec)) command.addOption(option);
  }
  return command;
}

/** Long names of the options the config file cannot set. */
const NOT_IN_FILE = Object.values(SERVE_OPTIONS as Record<string, OptionSpec<unknown>>)
  .filter((spec) => spec.notInFile)
  .map(longName);

/** A usage error: one line, exit code 2, no --help dump. */
function usageError(message: string): never {
  process.stderr.write(`neutrino: ${message}\n`);
  process.exit(2);
}

/** Says in one line what is wrong with an APP and what to write instead. */
function explainAppSpec(text: string, err: AppSpecError): string {
  const colon = text.lastIndexOf(":");
  const module = colon < 0 ? text : text.slice(0, colon);
  const attribute = colon < 0 ? "" : text.slice(colon + 1);
  if (module !== "" && attribute === "") return `"${text}" is not module:attribute or file:attribute: try "${module}:app"`;
  if (module === "") return `"${text}" names no module before the colon: try "main${text}" for an app in main.py`;
  return `${err.message}: try "${module}:app"`;
}

/** APP as written; which language serves it is decided once --app-dir is known. */
function appArgument(text: string): AppSpec {
  try {
    return parseAppSpec(text);
  } catch (err) {
    if (err instanceof AppSpecError) usageError(explainAppSpec(text, err));
    throw err;
  }
}

/** Decides APP's language, looking for its files in --app-dir; an ambiguous APP is a usage error. */
function resolved(app: AppSpec, appDir: string | undefined): ResolvedApp {
  try {
    return resolveApp(app, appDir);
  } catch (err) {
    if (err instanceof AppSpecError) usageError(err.message);
    throw err;
  }
}

/**
 * The env file first (--env-file, else NEUTRINO_ENV_FILE, else env-file in the config file), then
 * options from NEUTRINO_* and the config file (src/orchestrator/config.ts), then from the variables
 * other servers read (platform-env.ts); returns APP from wherever it came, and what the platform's
 * variables set, for the log.
 */
function configure(command: Command, cliApp: AppSpec | undefined): [AppSpec, string | null] {
  try {
    const envFile = command.getOptionValue("envFile") ?? (process.env[envName("env-file")] || undefined);
    if (envFile !== undefined) loadEnvFile(envFile, command.getOptionValueSource("envFile") === "cli" ? "--env-file" : envName("env-file"));
    const file = readConfigFile(command.getOptionValue("config") ?? (process.env[envName("config")] || undefined));
    if (envFile === undefined) loadEnvFileOf(file);
    applyConfig(command, { file, skip: NOT_IN_FILE, extraKeys: ["app"] });
    const platform = applyPlatformEnv(command);
    if (cliApp) return [cliApp, platform];
    const fromEnv = process.env[envName("app")];
    const [where, text] = fromEnv ? [envName("app"), fromEnv] : file?.values.app !== undefined ? [`${file.label}: app`, file.values.app] : [];
    if (where === undefined) {
      throw new ConfigError("missing APP: give it on the command line, as NEUTRINO_APP, or as app in neutrino.toml");
    }
    if (typeof text !== "string") throw new ConfigError(`${where}: must be a string`);
    try {
      return [parseAppSpec(text), platform];
    } catch (err) {
      if (err instanceof AppSpecError) throw new ConfigError(`${where}: ${explainAppSpec(text, err)}`);
      throw err;
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    usageError(err.message);
  }
}

/** Where an option's value came from, as the log names it: `--python`, `NEUTRINO_PYTHON`, `python in the config file`. */
function givenBy(command: Command, key: string): string {
  const source = command.getOptionValueSource(key);
  if (source === "env") return envName(key);
  if (source === "config") return `${key} in the config file`;
  return `--${key}`;
}

/** `env-file` (or `env_file`) in the config file. */
function loadEnvFileOf(file: ConfigFile | undefined): void {
  const written = ["env-file", "env_file"].find((key) => file?.values[key] !== undefined);
  if (written === undefined) return;
  const path = file!.values[written];
  if (typeof path !== "string") throw new ConfigError(`${file!.label}: ${written}: must be a string`);
  loadEnvFile(path, `${file!.label}: ${written}`);
}

const program = new Command("neutrino")
  .description("A polyglot application server: one orchestrator owns HTTP, a pool of workers runs your handlers.")
  .version(nameAndVersion, "-V, --version")
  .showHelpAfterError()
  .configureHelp({ helpWidth: 120 })
  // Commander's own usage errors (a bad option value, an unknown option) exit 2 like ours and
  // like click's and argparse's, not 1, which means "the server failed"; see the end of this file.
  .exitOverride();

withOptions(program.command("serve"), SERVE_OPTIONS)
  .description("start the orchestrator and a pool of workers serving APP")
  .argument("[APP]", APP_ARGUMENT.help, appArgument)
  .addHelpText("after", "\nEvery option can also be set as NEUTRINO_<OPTION> (e.g. NEUTRINO_MAX_QUEUE) or as a key of the config file\n(e.g. max-queue = 512); a flag wins over the environment, which wins over the file.")
  .action(async (cliApp: AppSpec | undefined, _opts, command: Command) => {
    const [app, platform] = configure(command, cliApp);
    const given = command.opts<ServeSettings>();
    const autoCount = given.fronts === AUTO_FRONTS;
    const settings: ServeSettings = autoCount
      ? { ...given, fronts: autoFronts(given.workers, undefined, !given.bind.some((b) => b.startsWith("fd://"))) }
      : given;
    const conflict = conflicts(settings);
    if (conflict) usageError(conflict);
    const found = resolved(app, settings.appDir);
    const runtime = runtimeFor(found, { ...settings, pythonFrom: givenBy(command, "python") });
    const log = createLogger(settings.logLevel);
    const front = frontOf();
    // Said once, by the process that owns the listening socket (the primary with several fronts).
    if (platform !== null && front === null) log.info(platform);
    if (autoCount && front === null) log.info({ fronts: settings.fronts }, `--fronts auto: ${settings.fronts} front(s) for ${settings.workers} workers on ${availableParallelism()} cores`);
    const code =
      settings.fronts === 1
        ? await new Server({ ...settings, app: found.app, runtime, log }).run()
        : front === null
          ? await new Primary({ fronts: settings.fronts, workers: settings.workers, log }).run()
          : await new Server({
              ...settings,
              workers: shareOf(settings.workers, front.count, front.index),
              app: found.app,
              runtime,
              log: log.child({ front: front.index }),
              front: new FrontLink(front.index, front.count),
            }).run();
    process.exit(code);
  });

const { python, appDir, factory, interface: kind, startTimeout } = SERVE_OPTIONS;
withOptions(program.command("routes"), { python, appDir, factory, interface: kind, startTimeout })
  .description("load APP in one worker and print its route table")
  .argument("<APP>", 'the app, "module:attribute"', appArgument)
  .action(async (spec: AppSpec, opts) => {
    const found = resolved(spec, opts.appDir);
    const { app } = found;
    const runtime = runtimeFor(found, opts);
    try {
      const routes = await discoverRoutes(app, runtime, opts.startTimeout * 1000);
      process.stdout.write(`${nameAndVersion}: routes of ${app.text}\n${formatRouteTable(routes)}`);
    } catch (err) {
      const traceback = (err as { traceback?: string }).traceback;
      const hint = runtime.startupHint?.(err as Error);
      process.stderr.write(`neutrino: cannot load ${app.text}: ${(err as Error).message}\n${hint ? `${hint}\n` : ""}${traceback ? `\n${traceback}` : ""}`);
      process.exitCode = 1;
    }
  });

try {
  await program.parseAsync();
} catch (err) {
  // It printed its message already; --help and --version end here too, with 0.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  throw err;
}
