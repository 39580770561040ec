/**
 * Hostile JSON bodies against a real Node worker through the real CLI: deep nesting, huge numbers,
 * NaN, invalid UTF-8, values JSON cannot carry. Each gets a 400, 422 or 500 with a JSON error, and
 * the same worker (one, by PID) answers the next request: nothing kills or replaces it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request, startServer } from "../support/server.js";

const nested = (depth: number): string => `{"data": ${"[".repeat(depth)}${"]".repeat(depth)}}`;

describe("hostile JSON bodies (typescript worker)", () => {
  it("answers each with a clear JSON error and the same worker keeps serving", async () => {
    const server = await startServer("tests/fixtures/tsapp.ts:app", ["--workers", "1"]);
    try {
      const pid = (await request(`${server.url}/pid`)).json as { pid: number };
      const cases: { name: string; path: string; body: string | Uint8Array<ArrayBuffer>; status: number; detail: RegExp }[] = [
        ...[200, 1_000, 10_000, 100_000].flatMap((depth) => [
          { name: `${depth} deep, no schema`, path: "/echo", body: nested(depth), status: 400, detail: /nests arrays and objects deeper than 128 levels/ },
          { name: `${depth} deep, z.record`, path: "/process", body: `{"data": {"a": ${nested(depth)}}}`, status: 400, detail: /nests arrays and objects deeper than 128 levels/ },
        ]),
        { name: "100,000 digits for z.record", path: "/process", body: `{"data": ${"9".repeat(100_000)}}`, status: 422, detail: /data/ },
        { name: "NaN", path: "/echo", body: '{"value": NaN}', status: 400, detail: /not valid JSON/ },
        { name: "Infinity", path: "/echo", body: '{"value": Infinity}', status: 400, detail: /not valid JSON/ },
        { name: "invalid UTF-8", path: "/echo", body: new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), status: 400, detail: /not valid JSON/ },
        { name: "a BigInt result", path: "/unserializable", body: "", status: 500, detail: /not JSON-serializable/ },
        { name: "a huge array of wrong values", path: "/add", body: JSON.stringify({ x: Array(200_000).fill("a"), y: 1 }), status: 422, detail: /x/ },
      ];
      for (const c of cases) {
        const r = await request(`${server.url}${c.path}`, { method: "POST", body: c.body });
        assert.equal(r.status, c.status, `${c.name}: ${r.text.slice(0, 200)}`);
        const body = r.json as { error: string; detail: string };
        assert.match(body.detail, c.detail, c.name);
        assert.ok(r.text.length < 100_000, `${c.name}: the error is ${r.text.length} bytes`);
        assert.deepEqual((await request(`${server.url}/pid`)).json, pid, `${c.name}: the worker was replaced`);
      }
      // Duplicate keys: the last one wins, as JSON.parse has it.
      assert.deepEqual((await request(`${server.url}/echo`, { method: "POST", body: '{"value": 1, "value": 2}' })).json, { value: 2 });
      assert.doesNotMatch(server.stdout(), /died|replaced|exited/);
    } finally {
      await server.stop();
    }
  });
});
