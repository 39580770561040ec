/**
 * A Hono app, served unchanged: `npx neutrino serve examples/hono.ts:default --workers 8`.
 * Metrics and the access log label its requests by Hono's routes (`/users/{id}`).
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";

const app = new Hono();

app.get("/add", (c) => c.json({ result: Number(c.req.query("x")) + Number(c.req.query("y")) }));

app.post("/process", async (c) => {
  const { data } = await c.req.json<{ data: Record<string, unknown> }>();
  return c.json({ processed: data });
});

app.get("/users/:id", (c) => c.json({ id: c.req.param("id") }));

/** Three Server-Sent Events, one a second. */
app.get("/ticks", (c) =>
  streamSSE(c, async (stream) => {
    for (let i = 1; i <= 3; i++) {
      await stream.writeSSE({ data: String(i), id: String(i) });
      if (i < 3) await stream.sleep(1000);
    }
  }),
);

export default app;
