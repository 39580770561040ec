/** The IPC messages between the primary and its fronts (node:cluster's channel). */

/** Primary → front: act on a signal the primary received (the front ignores the terminal's own SIGINT). */
export interface SignalMessage {
  readonly neutrino: "signal";
  readonly signal: "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGTTIN" | "SIGTTOU";
}

/** Front → primary: listening, with the socket directory the primary removes if the front is killed. */
export interface ReadyMessage {
  readonly neutrino: "ready";
  readonly socketDir: string;
}

/** Front → primary: the reload a SIGHUP asked for is done (the primary then reloads the next front). */
export interface ReloadedMessage {
  readonly neutrino: "reloaded";
}

/** Front → primary: a scrape of /metrics; the primary answers with the sum over every front. */
export interface ScrapeMessage {
  readonly neutrino: "scrape";
  readonly id: number;
}

/** Primary → front: the answer to a ScrapeMessage. */
export interface ScrapedMessage {
  readonly neutrino: "scraped";
  readonly id: number;
  readonly body?: string;
  readonly error?: string;
}

export type FrontMessage = ReadyMessage | ReloadedMessage | ScrapeMessage;
export type PrimaryMessage = SignalMessage | ScrapedMessage;

/** The env variable that tells a forked process which front it is (not NEUTRINO_*: that prefix is the options'). */
export const FRONT_ENV = "NEUTRINO__FRONT";

export function isMessage<T extends { neutrino: string }>(value: unknown): value is T {
  return typeof value === "object" && value !== null && typeof (value as { neutrino?: unknown }).neutrino === "string";
}
