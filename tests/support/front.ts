/**
 * The HTTP front in process, with a fake dispatcher in place of the workers: it decodes the
 * TaskAssignment the server built and answers as a worker would. The unit tests of the
 * orchestrator's own work around a request (request ids, CORS, compression) run against it.
 */
import type { Dispatcher } from "../../src/orchestrator/dispatch/dispatcher.js";
import type { Job } from "../../src/orchestrator/dispatch/job.js";
import { Router } from "../../src/orchestrator/http/router.js";
import { HttpServer, type HttpServerOptions } from "../../src/orchestrator/http/server.js";
import { Metrics } from "../../src/orchestrator/metrics.js";
import { decodeFrame } from "../../src/protocol/codec.js";
import type { Pair, RouteInfo, TaskAssignment } from "../../src/protocol/messages.js";
import { pino } from "pino";

export const ROUTES: RouteInfo[] = [
  { path: "/plain", methods: ["GET", "POST"] },
  { path: "/reads", methods: ["GET"], headers: true },
  { path: "/sync", methods: ["GET"], sync: true },
  { path: "/answer", methods: ["GET", "DELETE"] },
];

/** What the fake worker answers on /answer. */
export interface Answer {
  status?: number;
  /** TaskResult.flags (0 by default; APP_HEADERS: a foreign app's answer). */
  flags?: number;
  headers?: Pair[];
  body?: Buffer;
}

/**
 * Stands in for the dispatcher and the workers: records each task and answers it at once, with
 * `answer` on /answer and with what it was sent (request id, headers, client) on other routes.
 */
export class FakeDispatcher {
  readonly tasks: TaskAssignment[] = [];
  readonly jobs: Job[] = [];
  answer: Answer = {};
  submit(job: Job): void {
    const task = decodeFrame(job.frame, 4, job.frame.length) as TaskAssignment;
    this.tasks.push(task);
    this.jobs.push(job);
    if (task.route === "/answer") {
      const { status = 200, flags = 0, headers = [], body = Buffer.from("{}") } = this.answer;
      job.complete({ type: "TaskResult", taskId: task.taskId, status, flags, headers, body });
      return;
    }
    const body = Buffer.from(JSON.stringify({ requestId: task.requestId, headers: task.headers, client: [task.clientHost, task.clientPort] }));
    job.complete({ type: "TaskResult", taskId: task.taskId, status: 200, flags: 0, headers: [], body });
  }
}

export interface Front {
  http: HttpServer;
  url: string;
  dispatcher: FakeDispatcher;
}

export async function startFront(extra: Partial<HttpServerOptions> = {}): Promise<Front> {
  const dispatcher = new FakeDispatcher();
  const http = new HttpServer({
    router: new Router(ROUTES),
    dispatcher: dispatcher as unknown as Dispatcher,
    maxBodySize: 1024,
    timeouts: { headersMs: 10_000, requestMs: 10_000, keepAliveMs: 1_000 },
    probes: { health: "/health", ready: "/ready" },
    metrics: new Metrics(),
    metricsPath: "/metrics",
    accessLog: null,
    log: pino({ enabled: false }),
    ...extra,
    staticFiles: extra.staticFiles ?? null,
    apiDocs: extra.apiDocs ?? null,
  });
  const address = await http.listen("127.0.0.1", 0);
  return { http, url: `http://127.0.0.1:${address.port}`, dispatcher };
}

export function stopFront(http: HttpServer): void {
  http.drain();
  http.closeAll();
}
