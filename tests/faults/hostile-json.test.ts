/**
 * Hostile JSON bodies through the real CLI and a real Python worker: every one is answered
 * 400, 422 or 500 with a JSON error, and the same worker (same PID) answers afterwards.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { request, startServer, type RunningServer } from "../support/server.js";

const nest = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);

describe("hostile JSON bodies leave the Python worker serving", () => {
  let server: RunningServer;
  let pid: number;

  before(async () => {
    server = await startServer(`${join(repoRoot, "tests/fixtures/json_app.py")}:app`, ["--workers", "1"]);
    pid = (await request(`${server.url}/pid`)).json.pid;
    assert.equal(typeof pid, "number");
  });
  after(async () => {
    await server?.stop();
  });

  async function assertSameWorker(): Promise<void> {
    const reply = await request(`${server.url}/pid`);
    assert.equal(reply.status, 200);
    assert.equal(reply.json.pid, pid, "the worker was replaced");
  }

  it("nesting of any depth gets 400 or 422, never a dead worker", async () => {
    // 988 levels killed the worker before the nesting bound: RecursionError out of the executor.
    for (const depth of [1, 100, 127, 128, 129, 500, 980, 985, 986, 987, 988, 989, 990, 991, 992, 995, 1000, 5000, 100_000]) {
      for (const body of [`{"n": ${nest(depth)}}`, nest(depth), `{"n": ${'{"a": '.repeat(depth)}1${"}".repeat(depth)}}`]) {
        const reply = await request(`${server.url}/g`, { method: "POST", body });
        assert.ok([400, 422].includes(reply.status), `depth ${depth}: ${reply.status} ${reply.text.slice(0, 200)}`);
        assert.equal(typeof reply.json.detail, "string");
      }
    }
    const deep = await request(`${server.url}/echo`, { method: "POST", body: `{"n": ${nest(1000)}}` });
    assert.equal(deep.status, 400);
    assert.match(deep.json.detail, /deeper than \d+ levels/);
    await assertSameWorker();
  });

  it("huge integers, NaN, 1e999, invalid UTF-8 and duplicate keys get clear answers", async () => {
    const digits = "9".repeat(100_000);
    const cases: [string, RequestInit["body"], number][] = [
      ["/g", `{"n": ${digits}}`, 400],
      ["/g?n=" + "9".repeat(10_000), "", 422], // past int()'s 4,300-digit limit
      ["/g", `{"n": NaN}`, 400],
      ["/g", `{"n": Infinity}`, 400],
      ["/echo", `{"n": 1e999}`, 500],
      ["/g", new Blob([new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])]), 400],
      ["/g", `{"n": 1, "n": 2}`, 200],
    ];
    for (const [path, body, status] of cases) {
      const reply = await request(`${server.url}${path}`, { method: "POST", body });
      assert.equal(reply.status, status, `${path.slice(0, 40)} ${String(body).slice(0, 40)}: ${reply.text.slice(0, 200)}`);
      assert.ok(reply.json, "a JSON body");
    }
    assert.deepEqual((await request(`${server.url}/g`, { method: "POST", body: `{"n": 1, "n": 2}` })).json, { n: 2 });
    await assertSameWorker();
  });

  it("huge arrays and strings are served, results JSON cannot carry are 500", async () => {
    const big = await request(`${server.url}/echo`, { method: "POST", body: JSON.stringify({ n: "x".repeat(4_000_000) }) });
    assert.equal(big.status, 200);
    assert.equal(big.json.n.length, 4_000_000);
    const many = await request(`${server.url}/echo`, { method: "POST", body: JSON.stringify({ n: Array.from({ length: 500_000 }, (_, i) => i) }) });
    assert.equal(many.status, 200);
    assert.equal(many.json.n.length, 500_000);
    for (const kind of ["deep", "huge-int", "set"]) {
      const reply = await request(`${server.url}/unserializable?kind=${kind}`);
      assert.equal(reply.status, 500, kind);
      assert.match(reply.json.detail, /not JSON-serializable/);
    }
    await assertSameWorker();
  });
});
