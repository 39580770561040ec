/** The orchestrator's logger: JSON lines for machines, readable lines when stdout is a terminal. */
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogLevel } from "./options.js";

export type { Logger };

export function createLogger(level: LogLevel = "info"): Logger {
  if (process.stdout.isTTY) {
    return pino({ level }, pretty({ sync: true, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }));
  }
  return pino({ level, base: { pid: process.pid } }, pino.destination({ sync: true }));
}
