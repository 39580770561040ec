/** The orchestrator's logger: JSON lines for machines, readable lines when stdout is a terminal. */
import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import type pretty from "pino-pretty";
import type { LogLevel } from "./options.js";

export type { Logger };

export function createLogger(level: LogLevel = "info"): Logger {
  if (process.stdout.isTTY) {
    // Loaded only for a terminal: a server whose output is piped never needs it.
    const prettyStream = createRequire(import.meta.url)("pino-pretty") as typeof pretty;
    return pino({ level }, prettyStream({ sync: true, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }));
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ sync: true }));
}
