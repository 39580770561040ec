/**
 * The orchestrator's live state, read from its status page (the server must run with
 * `--status-page`): tests wait for "this request reached a worker" or "these are queued" instead
 * of sleeping and hoping. A state is only seen while it lasts: the handlers that hold it sleep for
 * a second or so, long enough for a poll every 25 ms on a busy machine.
 */
import { request, type RunningServer } from "./server.js";
import { waitFor } from "./wait.js";

export interface LiveStatus {
  queue: { depth: number; capacity: number };
  /** Requests handed to a worker and not yet answered. */
  inflight: number;
  workers: { id: string; pid: number; state: string; inflight: number; served: number; rss_bytes: number }[];
}

export async function liveStatus(server: RunningServer): Promise<LiveStatus> {
  const reply = await request(`${server.url}/_neutrino/status.json`);
  if (reply.status !== 200) throw new Error(`status.json answered ${reply.status} (is --status-page on?): ${reply.text}`);
  return reply.json as LiveStatus;
}

/** Waits until the server's live state satisfies `check` and returns that state. */
export async function waitForStatus(server: RunningServer, check: (s: LiveStatus) => boolean, what: string): Promise<LiveStatus> {
  let last: LiveStatus | undefined;
  await waitFor(async () => check((last = await liveStatus(server))), 10_000, () => `${what} (last: ${JSON.stringify(last && { inflight: last.inflight, queue: last.queue })})`);
  return last!;
}

/** Waits until `inflight` requests are with workers and `queued` wait in the orchestrator. */
export function waitForLoad(server: RunningServer, inflight: number, queued = 0): Promise<LiveStatus> {
  return waitForStatus(server, (s) => s.inflight === inflight && s.queue.depth === queued, `${inflight} in flight, ${queued} queued`);
}
