// The Fastify peer of the benchmark: one process, the same routes as node_server.mjs, written as
// Fastify's docs advise (JSON schemas for the input, which coerce query strings, and for the
// response, which Fastify compiles into a serializer; no logger).
//   node bench/apps/fastify_server.mjs --port P
// Fastify is not a dependency of Neutrino: bench/run.sh installs it into bench/.tmp/node_modules
// (git-ignored), which is where this file loads it from.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { burn, CPU_ITERS, SLOW_ITERS } from "./work.mjs";

const require = createRequire(new URL("../.tmp/", import.meta.url));
const Fastify = require("fastify");

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: "8000" },
    host: { type: "string", default: "127.0.0.1" },
  },
});

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });

const xy = { type: "object", properties: { x: { type: "number" }, y: { type: "number" } }, required: ["x", "y"] };
const result = { response: { 200: { type: "object", properties: { result: { type: "number" } } } } };
const add = (args) => ({ result: args.x + args.y });

app.get("/add", { schema: { querystring: xy, ...result } }, (req) => add(req.query));
app.post("/add", { schema: { body: xy, ...result } }, (req) => add(req.body));
app.get("/cpu", { schema: result }, () => ({ result: burn(CPU_ITERS) }));
app.get("/slow", { schema: result }, () => ({ result: burn(SLOW_ITERS) }));

const stop = () => app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

await app.listen({ port: Number(opts.port), host: opts.host });
