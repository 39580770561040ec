/** `/metrics`: the Prometheus scrape, answered by the orchestrator. */
import type { ServerResponse } from "node:http";
import type { Metrics } from "../metrics.js";
import type { BuiltIn } from "./built-ins.js";
import { sendError } from "./errors.js";

export const METRICS_PATH = "/metrics";

/** Answers a scrape. */
export async function serveMetrics(metrics: Metrics, res: ServerResponse): Promise<void> {
  try {
    const body = await metrics.scrape();
    res.writeHead(200, { "content-type": metrics.registry.contentType, "content-length": Buffer.byteLength(body) });
    res.end(body);
  } catch (err) {
    sendError(res, 500, `cannot collect metrics: ${(err as Error).message}`);
  }
}

/** `/metrics` as a built-in route (src/orchestrator/http/built-ins.ts). */
export function metricsBuiltIn(metrics: Metrics, path = METRICS_PATH): BuiltIn {
  return {
    paths: [path],
    matches: (p) => p === path,
    answer: ({ res }) => void serveMetrics(metrics, res),
  };
}
