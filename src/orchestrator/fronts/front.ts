/**
 * `--fronts N` above 1: one front, a node:cluster worker running a whole Server over its share of
 * --workers. Signals come from the primary over IPC (the terminal's SIGINT reaches every process
 * of the group: the front leaves it to the primary, which relays it once); /metrics asks the
 * primary for the sum over every front.
 */
import cluster from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import type { Metrics } from "../metrics.js";
import type { Server } from "../serve.js";
import { FRONT_ENV, isMessage, type FrontMessage, type PrimaryMessage } from "./messages.js";
import { shareOf } from "./primary.js";

/** Which front this process is, or null in a process that is no front (--fronts 1, or the primary). */
export function frontOf(env: NodeJS.ProcessEnv = process.env): { index: number; count: number } | null {
  if (!cluster.isWorker) return null;
  const m = /^(\d+)\/(\d+)$/.exec(env[FRONT_ENV] ?? "");
  return m ? { index: Number(m[1]), count: Number(m[2]) } : null;
}

export { shareOf };

/** How long a front waits for the primary's sum before answering the scrape with 503. */
const SCRAPE_TIMEOUT_MS = 10_000;

/** The link from a front's Server to the primary. */
export class FrontLink {
  private nextId = 0;
  private readonly scrapes = new Map<number, { resolve: (body: string) => void; reject: (err: Error) => void }>();

  constructor(
    readonly index: number,
    readonly count: number,
  ) {}

  /** Serves `server`'s signals from the primary and tells it when listening; call before server.run(). */
  attach(server: Server, metrics: Metrics): void {
    // Constructing one adds prom-client's listener that answers the primary with this front's registry.
    AggregatorRegistry.setRegistries([metrics.registry]);
    new AggregatorRegistry();
    process.on("SIGINT", () => {}); // the primary relays it
    process.on("message", (m: unknown) => {
      if (!isMessage<PrimaryMessage>(m)) return;
      if (m.neutrino === "signal") {
        if (m.signal === "SIGHUP") void server.reload().then(() => this.send({ neutrino: "reloaded" }));
        else server.signal(m.signal);
      } else if (m.neutrino === "scraped") {
        const waiting = this.scrapes.get(m.id);
        this.scrapes.delete(m.id);
        if (m.body !== undefined) waiting?.resolve(m.body);
        else waiting?.reject(new Error(m.error ?? "no answer"));
      }
    });
  }

  listening(socketDir: string): void {
    this.send({ neutrino: "ready", socketDir });
  }

  /** The /metrics text summed over every front, from the primary. */
  scrape(): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.scrapes.delete(id);
        reject(new Error("the primary did not answer"));
      }, SCRAPE_TIMEOUT_MS);
      const done = { resolve: (b: string) => (clearTimeout(timer), resolve(b)), reject: (e: Error) => (clearTimeout(timer), reject(e)) };
      this.scrapes.set(id, done);
      if (!this.send({ neutrino: "scrape", id })) done.reject(new Error("the primary is gone"));
    });
  }

  private send(m: FrontMessage): boolean {
    if (!process.connected) return false;
    process.send!(m);
    return true;
  }
}
