// The JS twin of work.py: the CPU loop of /cpu and /slow for every JS server of the benchmark
// (node_server.mjs, fastify_server.mjs, neutrino_app.ts), so that they all run the same code.
// The iteration counts come from the harness (bench/bench.py passes BENCH_JS_CPU_ITERS and
// BENCH_JS_SLOW_ITERS; `node bench/apps/node_server.mjs --calibrate S` fits them to a machine).

export function burn(n) {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc * 31 + i) % 1000003;
  return acc;
}

export const CPU_ITERS = Number(process.env.BENCH_JS_CPU_ITERS ?? 450_000);
export const SLOW_ITERS = Number(process.env.BENCH_JS_SLOW_ITERS ?? 11_250_000);
