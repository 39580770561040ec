/**
 * A small bounded load generator for the fault-injection suite: a fixed number of keep-alive
 * clients, each sending requests one after another until a count or a deadline, tallying every
 * outcome: each status code, "refused" (the connection was never accepted: the request did not
 * reach the server) and "unanswered" (it reached the server and got no HTTP response).
 */
import { Agent, request } from "node:http";

export interface Tally {
  sent: number;
  byStatus: Map<number, number>;
  refused: number;
  unanswered: number;
  /** Why requests went unanswered, for the assertion message. */
  errors: string[];
}

export function emptyTally(): Tally {
  return { sent: 0, byStatus: new Map(), refused: 0, unanswered: 0, errors: [] };
}

export function count2xx(t: Tally): number {
  let n = 0;
  for (const [status, c] of t.byStatus) if (status >= 200 && status < 300) n += c;
  return n;
}

export function countStatus(t: Tally, status: number): number {
  return t.byStatus.get(status) ?? 0;
}

export function formatTally(name: string, t: Tally): string {
  const codes = [...t.byStatus.entries()].sort(([a], [b]) => a - b).map(([s, c]) => `${s}: ${c}`);
  return `${name}: sent ${t.sent}, 2xx ${count2xx(t)}, ${codes.join(", ") || "no responses"}, refused ${t.refused}, unanswered ${t.unanswered}`;
}

export interface Target {
  method?: string;
  path: string;
  body?: string;
}

export interface LoadOptions {
  baseUrl: string;
  clients: number;
  /** Stop after this many requests in all, or at the deadline, whichever comes first. */
  requests: number;
  durationMs: number;
  /** Picks what the i-th request sends. */
  target: (i: number) => Target;
  /** A request without a response after this long counts as unanswered. */
  requestTimeoutMs?: number;
  keepAlive?: boolean;
  tally?: Tally;
}

export async function runLoad(options: LoadOptions): Promise<Tally> {
  const tally = options.tally ?? emptyTally();
  const url = new URL(options.baseUrl);
  const agent = new Agent({ keepAlive: options.keepAlive ?? true, maxSockets: options.clients });
  const deadline = Date.now() + options.durationMs;
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < options.requests && Date.now() < deadline) {
      const i = next++;
      const t = options.target(i);
      tally.sent++;
      const outcome = await send(agent, url, t, options.requestTimeoutMs ?? 15_000);
      if (typeof outcome === "number") tally.byStatus.set(outcome, (tally.byStatus.get(outcome) ?? 0) + 1);
      else if (outcome === "refused") {
        // The server stopped listening: this client is done.
        tally.refused++;
        return;
      }
      else {
        tally.unanswered++;
        if (tally.errors.length < 5) tally.errors.push(`${t.method ?? "GET"} ${t.path}: ${outcome}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  agent.destroy();
  return tally;
}

function send(agent: Agent, url: URL, t: Target, timeoutMs: number): Promise<number | "refused" | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: url.hostname, port: url.port, method: t.method ?? "GET", path: t.path, agent, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", (err) => resolve(`response error: ${err.message}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED" ? "refused" : `${err.code ?? ""} ${err.message}`));
    req.end(t.body);
  });
}
