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

/** What the primary can gather from every front: its status page's report, or whether it serves. */
export type Topic = "status" | "ready";

/** Front → primary: gather `topic` from every front (the status page and /ready of a front describe the whole server). */
export interface AskMessage {
  readonly neutrino: "ask";
  readonly id: number;
  readonly topic: Topic;
}

/** Primary → front: send your own report on `topic`. */
export interface ReportMessage {
  readonly neutrino: "report";
  readonly id: number;
  readonly topic: Topic;
}

/** Front → primary: the answer to a ReportMessage. */
export interface ReportedMessage {
  readonly neutrino: "reported";
  readonly id: number;
  readonly body: unknown;
}

/** One front in a gathered answer: `body` is null when it is not listening yet or did not answer in time. */
export interface FrontReport {
  readonly index: number;
  readonly pid: number;
  readonly listening: boolean;
  /** Times this front's slot was replaced after a crash since the server started. */
  readonly restarts: number;
  readonly body: unknown;
}

/** Primary → front: the answer to an AskMessage, one entry per front, by index. */
export interface AnsweredMessage {
  readonly neutrino: "answered";
  readonly id: number;
  readonly primary: { readonly pid: number; readonly rss_bytes: number; readonly uptime_s: number };
  readonly fronts: readonly FrontReport[];
}

export type FrontMessage = ReadyMessage | ReloadedMessage | ScrapeMessage | AskMessage | ReportedMessage;
export type PrimaryMessage = SignalMessage | ScrapedMessage | ReportMessage | AnsweredMessage;

/** The env variable that tells a forked process which front it is (not NEUTRINO_*: that prefix is the options'). */
export const FRONT_ENV = "NEUTRINO__FRONT";

export function isMessage<T extends { neutrino: string }>(value: unknown): value is T {
  return typeof value === "object" && value !== null && typeof (value as { neutrino?: unknown }).neutrino === "string";
}
