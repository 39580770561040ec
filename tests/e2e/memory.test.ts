/**
 * The front's young generation stops growing at two 4 MiB semi-spaces under load (bin/neutrino.js),
 * unless the operator sets a semi-space flag of their own: read from the orchestrator's heap metrics.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { startServer, type RunningServer } from "../support/server.js";

const MiB = 1024 * 1024;

function get(server: RunningServer, path: string, agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: server.port, path, agent }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: ${res.statusCode}`))));
      })
      .on("error", reject);
  });
}

/** Sends `count` requests over 32 keep-alive connections, then reads the new space's size from /metrics. */
async function newSpaceAfterLoad(server: RunningServer, count: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    let left = count;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (left-- > 0) assert.deepEqual(JSON.parse(await get(server, "/add?x=1&y=2", agent)), { result: 3 });
      }),
    );
    const text = await get(server, "/metrics", agent);
    const line = text.split("\n").find((l) => l.startsWith('neutrino_orchestrator_nodejs_heap_space_size_total_bytes{space="new"}'));
    assert.ok(line, "the heap space metrics are scraped");
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  } finally {
    agent.destroy();
  }
}

describe("the front's memory", () => {
  it("caps the young generation at 8 MiB under load", async () => {
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "2"]);
    try {
      // V8's default would double it to 16 MiB and more within these requests.
      assert.ok((await newSpaceAfterLoad(server, 5000)) <= 8 * MiB);
    } finally {
      await server.stop();
    }
  });

  it("leaves it to the operator's semi-space flag when one is given", async () => {
    const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-semi-space-size=16`.trim() };
    const server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "2"], { env });
    try {
      assert.ok((await newSpaceAfterLoad(server, 5000)) > 8 * MiB);
    } finally {
      await server.stop();
    }
  });
});
