/**
 * `--fronts N` above 1: one front, a node:cluster worker running a whole Server over its share of
 * --workers. Signals come from the primary over IPC (the terminal's SIGINT reaches every process
 * of the group: the front leaves it to the primary, which relays it once); /metrics asks the
 * primary for the sum over every front, and the status page and /ready for every front's report.
 */
import cluster from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import type { Readiness } from "../http/probes.js";
import type { Metrics } from "../metrics.js";
import type { Server } from "../serve.js";
import { FRONT_ENV, isMessage, type AnsweredMessage, type AskMessage, type FrontMessage, type PrimaryMessage, type ScrapeMessage, type Topic } from "./messages.js";
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
/** How long a front waits for a gathered answer (the primary waits less for each front: GATHER_TIMEOUT_MS). */
const ASK_TIMEOUT_MS = 5_000;

/** What a front reports on each topic when the primary gathers (its own view only). */
export type Reporters = { readonly [T in Topic]: () => unknown };

/** The whole server's view, gathered by the primary from every front. */
export type Gathered = Omit<AnsweredMessage, "neutrino" | "id">;

interface Waiting {
  resolve: (answer: PrimaryMessage) => void;
  reject: (err: Error) => void;
}

/** The link from a front's Server to the primary. */
export class FrontLink {
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  constructor(
    readonly index: number,
    readonly count: number,
  ) {}

  /** Serves `server`'s signals and the primary's questions; call before server.run(). */
  attach(server: Server, metrics: Metrics, reporters: Reporters): void {
    // Constructing one adds prom-client's listener that answers the primary with this front's registry.
    AggregatorRegistry.setRegistries([metrics.registry]);
    new AggregatorRegistry();
    process.on("SIGINT", () => {}); // the primary relays it
    process.on("message", (m: unknown) => {
      if (!isMessage<PrimaryMessage>(m)) return;
      if (m.neutrino === "signal") {
        if (m.signal === "SIGHUP") void server.reload().then(() => this.send({ neutrino: "reloaded" }));
        else server.signal(m.signal);
      } else if (m.neutrino === "report") {
        let body: unknown = null;
        try {
          body = reporters[m.topic]();
        } catch {
          // Reported as no answer: the page shows this front as silent.
        }
        this.send({ neutrino: "reported", id: m.id, body });
      } else if (m.neutrino === "scraped" || m.neutrino === "answered") {
        const waiting = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        waiting?.resolve(m);
      }
    });
  }

  listening(socketDir: string): void {
    this.send({ neutrino: "ready", socketDir });
  }

  /** The /metrics text summed over every front, from the primary. */
  async scrape(): Promise<string> {
    const m = await this.request({ neutrino: "scrape", id: this.nextId++ }, SCRAPE_TIMEOUT_MS);
    if (m.neutrino !== "scraped" || m.body === undefined) throw new Error((m as { error?: string }).error ?? "no answer");
    return m.body;
  }

  /** Every front's report on `topic`, gathered by the primary (a front that does not answer in time has a null body). */
  async ask(topic: Topic): Promise<Gathered> {
    const m = await this.request({ neutrino: "ask", id: this.nextId++, topic }, ASK_TIMEOUT_MS);
    if (m.neutrino !== "answered") throw new Error("no answer");
    return { primary: m.primary, fronts: m.fronts };
  }

  /**
   * Readiness of the whole server: ready when some front listens and every listening front has a
   * serving worker (the primary hands connections to every listening front, so one without a
   * worker would answer its share with 503). A front still starting gets no connections yet.
   */
  async ready(): Promise<Readiness> {
    const { fronts } = await this.ask("ready");
    const listening = fronts.filter((f) => f.listening);
    const notServing = listening.filter((f) => (f.body as { serving?: boolean } | null)?.serving !== true).map((f) => f.index);
    return listening.length > 0 && notServing.length === 0 ? { ready: true } : { ready: false, notServing };
  }

  private request(m: ScrapeMessage | AskMessage, timeoutMs: number): Promise<PrimaryMessage> {
    return new Promise<PrimaryMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(m.id);
        reject(new Error("the primary did not answer"));
      }, timeoutMs);
      const done: Waiting = { resolve: (a) => (clearTimeout(timer), resolve(a)), reject: (e) => (clearTimeout(timer), reject(e)) };
      this.waiting.set(m.id, done);
      if (!this.send(m)) {
        this.waiting.delete(m.id);
        done.reject(new Error("the primary is gone"));
      }
    });
  }

  private send(m: FrontMessage): boolean {
    if (!process.connected) return false;
    process.send!(m);
    return true;
  }
}
