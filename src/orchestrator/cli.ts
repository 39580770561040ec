#!/usr/bin/env node
/** The `neutrino` command line (commander). */
import { Command, InvalidArgumentError } from "commander";
import { AppSpecError, parseAppSpec } from "../shared/app-spec.js";
import { applyConfig, ConfigError, envName, readConfigFile } from "./config.js";
import { discoverRoutes, formatRouteTable } from "./discover.js";
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

function usageError(message: string): never {
  process.stderr.write(`neutrino: ${message}\n`);
  process.exit(2);
}

/** Parses APP and decides its language (src/orchestrator/runtimes/resolve.ts). */
function appSpec(text: string): ResolvedApp {
  try {
    return resolveApp(parseAppSpec(text));
  } catch (err) {
    if (err instanceof AppSpecError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Options from NEUTRINO_* and the config file (src/orchestrator/config.ts); returns APP from wherever it came. */
function configure(command: Command, cliApp: ResolvedApp | undefined): ResolvedApp {
  try {
    const file = readConfigFile(command.getOptionValue("config") ?? (process.env[envName("config")] || undefined));
    applyConfig(command, { file, skip: NOT_IN_FILE, extraKeys: ["app"] });
    if (cliApp) return cliApp;
    const fromEnv = process.env[envName("app")];
    const [where, text] = fromEnv ? [envName("app"), fromEnv] : file?.values.app !== undefined ? [`${file.label}: app`, file.values.app] : [];
    if (where === undefined) {
      throw new ConfigError("missing APP: give it on the command line, as NEUTRINO_APP, or as app in neutrino.toml");
    }
    if (typeof text !== "string") throw new ConfigError(`${where}: must be a string`);
    try {
      return appSpec(text);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`neutrino: ${err.message}\n`);
    process.exit(2); // a usage error
  }
}

const program = new Command("neutrino")
  .description("A polyglot application server: one orchestrator owns HTTP, a pool of workers runs your handlers.")
  .version(nameAndVersion, "-V, --version")
  .showHelpAfterError()
  .configureHelp({ helpWidth: 120 });

withOptions(program.command("serve"), SERVE_OPTIONS)
  .description("start the orchestrator and a pool of workers serving APP")
  .argument("[APP]", APP_ARGUMENT.help, appSpec)
  .addHelpText("after", "\nEvery option can also be set as NEUTRINO_<OPTION> (e.g. NEUTRINO_MAX_QUEUE) or as a key of the config file\n(e.g. max-queue = 512); a flag wins over the environment, which wins over the file.")
  .action(async (cliApp: ResolvedApp | undefined, _opts, command: Command) => {
    const resolved = configure(command, cliApp);
    const settings = command.opts<ServeSettings>();
    const conflict = conflicts(settings);
    if (conflict) usageError(conflict);
    const runtime = runtimeFor(resolved, settings);
    const code = await new Server({ ...settings, app: resolved.app, runtime, log: createLogger(settings.logLevel) }).run();
    process.exit(code);
  });

withOptions(program.command("routes"), { python: SERVE_OPTIONS.python, interface: SERVE_OPTIONS.interface, startTimeout: SERVE_OPTIONS.startTimeout })
  .description("load APP in one worker and print its route table")
  .argument("<APP>", 'the app, "module:attribute"', appSpec)
  .action(async (resolved: ResolvedApp, opts) => {
    const { app } = resolved;
    try {
      const routes = await discoverRoutes(app, runtimeFor(resolved, opts), opts.startTimeout * 1000);
      process.stdout.write(`${nameAndVersion}: routes of ${app.text}\n${formatRouteTable(routes)}`);
    } catch (err) {
      const traceback = (err as { traceback?: string }).traceback;
      process.stderr.write(`neutrino: cannot load ${app.text}: ${(err as Error).message}\n${traceback ? `\n${traceback}` : ""}`);
      process.exitCode = 1;
    }
  });

await program.parseAsync();
