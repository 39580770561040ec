/**
 * The benchmark app for Neutrino's Node workers: `neutrino serve bench/apps/neutrino_app.ts:app`.
 * The routes of neutrino_app.py, and the JS CPU loop of the Node ceilings (work.mjs, the same
 * iteration counts), so the `neutrino-ts` rows differ from `node-cluster` only by the server.
 */
import { App } from "neutrino-server";
import { z } from "zod";
import { burn, CPU_ITERS, SLOW_ITERS } from "./work.mjs";

export const app = new App();

// GET ?x=2&y=3 (text, coerced) and POST {"x": 2, "y": 3} (numbers pass through).
app.route("/add", ({ x, y }) => ({ result: x + y }), {
  schema: z.object({ x: z.coerce.number(), y: z.coerce.number() }),
});

app.route("/cpu", () => ({ result: burn(CPU_ITERS) }));

app.route("/slow", () => ({ result: burn(SLOW_ITERS) }));

const STREAM_CHUNK = Buffer.alloc(65536, "x");

// The `stream` workload: `mb` MiB in 64 KiB chunks.
app.route(
  "/stream",
  async function* ({ mb }) {
    for (let i = 0; i < mb * 16; i++) yield STREAM_CHUNK;
  },
  { schema: z.object({ mb: z.coerce.number().default(100) }) },
);
