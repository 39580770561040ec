/**
 * Streams with Neutrino: a streamed download, Server-Sent Events, an upload read as it arrives,
 * and a WebSocket echo (the twin of streaming.py).
 *
 *     neutrino serve examples/streaming.ts:app
 *     curl -N localhost:8000/numbers?n=5
 *     curl -N localhost:8000/clock
 *     curl -T big.iso localhost:8000/upload
 *     # and a WebSocket client on ws://localhost:8000/echo
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { App, type BodyStream, type Request, ServerSentEvent, StreamingResponse } from "neutrino-server";

export const app = new App();

/** Each line goes out as soon as it is yielded. */
app.route(
  "/numbers",
  async function* numbers({ n = "10" }) {
    for (let i = 0; i < Number(n); i++) yield `${i}\n`;
  },
  { methods: ["GET"] },
);

/** One event a second; the generator is closed (its finally runs) if the client leaves. */
app.route(
  "/clock",
  ({ ticks = "10" }, request) =>
    new StreamingResponse(
      (async function* clock() {
        for (let i = 0; i < Number(ticks); i++) {
          yield new ServerSentEvent({ data: { time: Date.now() / 1000 }, event: "tick", id: i });
          // The signal cuts the wait short when the client leaves.
          await sleep(1000, undefined, { signal: request.signal }).catch(() => {});
        }
      })(),
      { mediaType: "text/event-stream" },
    ),
  { methods: ["GET"] },
);

/** Hashes a body of any size without holding it in memory. */
app.route(
  "/upload",
  async (_args, request: Request<BodyStream>) => {
    const digest = createHash("sha256");
    let bytes = 0;
    for await (const chunk of request.body) {
      digest.update(chunk);
      bytes += chunk.length;
    }
    return { bytes, sha256: digest.digest("hex") };
  },
  { methods: ["PUT", "POST"], streamBody: true },
);

app.websocket("/echo", async (ws) => {
  for await (const message of ws) await ws.send(message);
});
