import { App } from "neutrino-server";
import { z } from "zod";

export const app = new App();

app.route("/add", ({ x, y }) => ({ result: x + y }), {
  schema: z.object({ x: z.number(), y: z.number() }),
});

app.route("/process", ({ data }) => ({ processed: data }), {
  methods: ["POST"],
  schema: z.object({ data: z.record(z.string(), z.unknown()) }),
});
