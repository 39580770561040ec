/**
 * WebSockets under faults, through the real CLI and both runtimes: a worker killed under its open
 * WebSockets (1011, replaced), a full pool (upgrades queue, then 503), a drain (1001), a client
 * that stops answering pings (dropped, 1006 to the handler) and one that stops reading (the
 * handler is held back, not the orchestrator's memory).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";
import { WsClient, wsUrl } from "../support/ws-client.js";

const apps: { runtime: string; app: string }[] = [
  { runtime: "python", app: "tests/fixtures/ws_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/ws_app.ts:app" },
];

function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function workerPid(server: RunningServer): Promise<number> {
  return (await request(`${server.url}/pid`)).json.pid as number;
}

/** Opens /hold and waits for its "ready": the connection then holds a worker slot. */
async function hold(server: RunningServer): Promise<WsClient> {
  const client = await WsClient.open(`${wsUrl(server.url)}/hold`);
  assert.equal(await client.next(), "ready");
  return client;
}

for (const { runtime, app } of apps) {
  describe(`WebSocket faults (${runtime})`, () => {
    it("a worker killed under open WebSockets closes them with 1011, and its replacement serves new ones", async () => {
      const server = await startServer(app, ["--workers", "1"]);
      try {
        const pid = await workerPid(server);
        const a = await hold(server);
        const b = await hold(server);
        process.kill(pid, "SIGKILL");
        assert.equal((await a.whenClosed()).code, 1011);
        assert.equal((await b.whenClosed()).code, 1011);
        await waitFor(async () => (await request(`${server.url}/pid`)).json?.pid !== pid, 20_000, "a new worker");
        const c = await WsClient.open(`${wsUrl(server.url)}/echo`);
        c.ws.send("after");
        assert.equal(await c.next(), "after");
        c.ws.close();
        await c.whenClosed();
        assert.ok(server.proc.exitCode === null, "the server keeps running");
      } finally {
        await server.stop();
      }
    });

    it("a full pool queues upgrades, then answers 503 once the queue is full; a freed slot opens the queued one", async () => {
      // One slot, one queue place, no queue timeout: what waits, waits until a slot frees.
      const server = await startServer(app, ["--workers", "1", "--worker-concurrency", "1", "--max-queue", "1", "--queue-timeout", "0"]);
      try {
        const first = await hold(server);
        const queued = WsClient.open(`${wsUrl(server.url)}/hold`);
        await waitFor(async () => sample((await request(`${server.url}/metrics`)).text, "neutrino_queue_depth") === 1, 10_000, "an upgrade in the queue");
        const refused = await WsClient.refused(`${wsUrl(server.url)}/hold`);
        assert.equal(refused.status, 503);
        assert.equal(refused.headers["retry-after"], "1");
        assert.equal(JSON.parse(refused.body).error, "Service Unavailable");
        first.ws.close(1000);
        await first.whenClosed();
        const second = await queued;
        assert.equal(await second.next(), "ready");
        second.ws.close();
        await second.whenClosed();
      } finally {
        await server.stop();
      }
    });

    it("a drain closes open WebSockets with 1001 and the server exits 0", async () => {
      const server = await startServer(app, ["--workers", "1"]);
      const client = await hold(server);
      const exited = server.stop("SIGTERM");
      assert.deepEqual(await client.whenClosed(), { code: 1001, reason: "the server is shutting down" });
      assert.equal(await exited, 0);
    });

    it("a client that answers pings stays open; one that stops answering is dropped and its handler hears 1006", async () => {
      const server = await startServer(app, ["--workers", "1", "--ws-ping-interval", "0.1", "--ws-ping-timeout", "0.2"]);
      try {
        const live = await WsClient.open(`${wsUrl(server.url)}/echo`);
        let pings = 0;
        live.ws.on("ping", () => pings++);
        await waitFor(() => pings >= 3, 10_000, "three pings");
        live.ws.send("still here");
        assert.equal(await live.next(), "still here");

        const mute = await WsClient.open(`${wsUrl(server.url)}/echo`);
        mute.ws.send("hi");
        assert.equal(await mute.next(), "hi");
        // Stop reading: its pings go unanswered.
        (mute.ws as unknown as { _socket: import("node:net").Socket })._socket.pause();
        await waitFor(async () => (await request(`${server.url}/closed`)).json.closed.some(([c]: [number]) => c === 1006), 10_000, "the handler's 1006");
        assert.equal(live.closed, null, "the live connection is still open");
        live.ws.close();
        await live.whenClosed();
      } finally {
        await server.stop();
      }
    });

    it("an idle WebSocket outlives --worker-timeout: a worker waiting on its clients is not hung", async () => {
      const server = await startServer(app, ["--workers", "1", "--worker-timeout", "1", "--ws-ping-interval", "0.5"]);
      try {
        const pid = await workerPid(server);
        const client = await WsClient.open(`${wsUrl(server.url)}/echo`);
        let pings = 0;
        client.ws.on("ping", () => pings++);
        // Pings every 0.5 s: five of them span more than twice the worker timeout.
        await waitFor(() => pings >= 5, 20_000, "five pings");
        client.ws.send("still here");
        assert.equal(await client.next(), "still here");
        assert.equal(await workerPid(server), pid, "the same worker");
        assert.doesNotMatch(server.stdout(), /silent for/);
        client.ws.close();
        await client.whenClosed();
      } finally {
        await server.stop();
      }
    });

    it("a client that stops reading holds its handler back: what was sent stays bounded", async () => {
      const server = await startServer(app, ["--workers", "1"]);
      try {
        const client = await WsClient.open(`${wsUrl(server.url)}/flood`);
        await client.next();
        client.ws.pause();
        // The count stops growing once the windows and socket buffers are full.
        let last = -1;
        let steady = 0;
        await waitFor(
          async () => {
            const sent = (await request(`${server.url}/flooded`)).json.sent as number;
            steady = sent === last ? steady + 1 : 0;
            last = sent;
            return steady >= 10;
          },
          30_000,
          "the handler held back",
        );
        // 64 KiB messages: the 1 MiB window plus what the sockets buffer, far from unbounded.
        assert.ok(last * 65_536 < 64 * 1024 * 1024, `${last} messages sent to a client that reads nothing`);
        client.ws.resume();
        client.ws.close();
        await client.whenClosed();
      } finally {
        await server.stop();
      }
    });
  });
}
