/**
 * The variables other servers read, which hosting platforms and existing deployments set:
 * `WEB_CONCURRENCY` (gunicorn and uvicorn: the number of workers; Heroku sets it from the dyno's
 * size), `PORT` (gunicorn: listen on `0.0.0.0:$PORT`; Heroku, Cloud Run, Render and Railway route
 * outside traffic there) and `FORWARDED_ALLOW_IPS` (uvicorn and gunicorn:
 * trusted proxies). An app moved from `gunicorn app:app` keeps its platform's settings.
 *
 * They are the last word before the built-in default: a flag, a `NEUTRINO_*` variable or the config
 * file wins. Their values go through the option's own parser, so a bad one is a usage error that
 * names the variable, as a bad `NEUTRINO_*` one is.
 */
import { InvalidArgumentError, type Command } from "commander";
import { ConfigError } from "./config.js";

/** Option (commander's attribute name) → the variable other servers read for it. */
const PLATFORM_VARIABLES = {
  workers: "WEB_CONCURRENCY",
  port: "PORT",
  forwardedAllowIps: "FORWARDED_ALLOW_IPS",
} as const;

/** The source commander records for a value taken from one of these variables. */
const PLATFORM_SOURCE = "platform";

/**
 * Sets each option still at its default from its variable, where that is set. A port taken from
 * `PORT` also makes the default host `0.0.0.0`, as gunicorn does: a platform that names the port
 * sends outside traffic to it. Returns a line for the log naming the variables used (null: none),
 * so an operator sees why the server listens where it does.
 */
export function applyPlatformEnv(command: Command, env: NodeJS.ProcessEnv = process.env): string | null {
  const used: string[] = [];
  for (const [name, variable] of Object.entries(PLATFORM_VARIABLES)) {
    const text = env[variable];
    if (text === undefined || text.trim() === "" || command.getOptionValueSource(name) !== "default") continue;
    const option = command.options.find((o) => o.attributeName() === name)!;
    let value: unknown = text;
    try {
      if (option.parseArg) value = option.parseArg(text, undefined);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new ConfigError(`${variable}: ${err.message}`);
      throw err;
    }
    command.setOptionValueWithSource(name, value, PLATFORM_SOURCE);
    used.push(`${variable}=${text.trim()} for ${option.long}`);
  }
  if (command.getOptionValueSource("port") === PLATFORM_SOURCE && command.getOptionValueSource("host") === "default") {
    command.setOptionValueWithSource("host", "0.0.0.0", PLATFORM_SOURCE);
    used.push("--host 0.0.0.0 with PORT, as gunicorn");
  }
  return used.length === 0 ? null : `from the environment, as other servers read it: ${used.join(", ")}`;
}
