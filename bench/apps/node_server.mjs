// The Node ceilings of the benchmark: the same routes answered inline in JS, no workers behind.
//   node bench/apps/node_server.mjs --port P               one process (node:http)
//   node bench/apps/node_server.mjs --port P --workers W   node:cluster, W workers share the port
//   node bench/apps/node_server.mjs --calibrate SECONDS    prints burn() iterations for SECONDS of CPU
//   node bench/apps/node_server.mjs --time N               prints the CPU ms of N iterations
// /cpu and /slow run burn() of work.mjs BENCH_JS_CPU_ITERS / BENCH_JS_SLOW_ITERS times (about 2 ms and 50 ms).
import cluster from "node:cluster";
import http from "node:http";
import { parseArgs } from "node:util";
import { burn, CPU_ITERS, SLOW_ITERS } from "./work.mjs";

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: "8000" },
    host: { type: "string", default: "127.0.0.1" },
    workers: { type: "string", default: "0" },
    calibrate: { type: "string" },
    time: { type: "string" },
  },
});

/** Median CPU seconds of burn(n) over 15 runs, after the JIT has settled. */
function cpuSeconds(n) {
  for (let i = 0; i < 50; i++) burn(n);
  const samples = [];
  for (let i = 0; i < 15; i++) {
    const start = process.cpuUsage();
    burn(n);
    const used = process.cpuUsage(start);
    samples.push((used.user + used.system) / 1e6);
  }
  return samples.sort((a, b) => a - b)[7];
}

if (opts.calibrate !== undefined) {
  console.log(Math.max(1, Math.round((Number(opts.calibrate) / cpuSeconds(200000)) * 200000)));
  process.exit(0);
}
if (opts.time !== undefined) {
  console.log((cpuSeconds(Number(opts.time)) * 1000).toFixed(2));
  process.exit(0);
}

const workers = Number(opts.workers);

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function handle(req, res) {
  const q = req.url.indexOf("?");
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (path === "/add" && req.method === "POST") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let data;
      try {
        data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return send(res, 400, { error: "Bad Request" });
      }
      send(res, 200, { result: Number(data.x) + Number(data.y) });
    });
  } else if (path === "/add") {
    const args = new URLSearchParams(q < 0 ? "" : req.url.slice(q + 1));
    send(res, 200, { result: Number(args.get("x")) + Number(args.get("y")) });
  } else if (path === "/cpu") {
    send(res, 200, { result: burn(CPU_ITERS) });
  } else if (path === "/slow") {
    send(res, 200, { result: burn(SLOW_ITERS) });
  } else {
    send(res, 404, { error: "Not Found" });
  }
}

if (workers > 0 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  http.createServer({ keepAliveTimeout: 65_000 }, handle).listen(Number(opts.port), opts.host);
}
