/**
 * Fuzz-style tests of the Node worker's decode → convert → encode path (Executor.run): generated
 * and mutated JSON bodies (deep nesting, huge numbers, NaN, invalid UTF-8, duplicate keys, huge
 * arrays and strings) against routes with and without schemas. Every body gets 200, 400 or 422
 * with a JSON answer of bounded size; values JSON cannot carry give a 500 that says so.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { MAX_JSON_DEPTH, MAX_REPORTED_ERRORS, nestedDeeperThan } from "../../src/node-worker/arguments.js";
import { Executor, type BufferedOutcome as Outcome } from "../../src/node-worker/executor.js";
import type { TaskAssignment } from "../../src/protocol/messages.js";
import { App } from "../../src/sdk/index.js";
import { captureStderr } from "../support/stderr.js";

type Tree = number | Tree[];
const tree: z.ZodType<Tree> = z.lazy(() => z.union([z.number(), z.array(tree)]));

const app = new App()
  .route("/raw", (args) => args, { methods: ["POST"] })
  .route("/unknown", ({ data }) => ({ data }), { methods: ["POST"], schema: z.object({ data: z.unknown() }) })
  .route("/tree", ({ data }) => ({ data }), { methods: ["POST"], schema: z.object({ data: tree }) })
  .route("/ints", ({ data }) => ({ n: data.length }), { methods: ["POST"], schema: z.strictObject({ data: z.array(z.int()) }) })
  .route("/text", ({ data }) => ({ data }), { methods: ["POST"], schema: z.object({ data: z.string().max(10) }) });
const executor = new Executor(app);
const ROUTES = ["/raw", "/unknown", "/tree", "/ints", "/text"];

function run(route: string, body: Buffer | string, method = "POST"): Promise<Outcome> {
  const task: TaskAssignment = { type: "TaskAssignment", taskId: 1, method, route, path: route, query: "", params: [], headers: [], requestId: "r", clientHost: "", clientPort: 0, body: Buffer.from(body) };
  return executor.run(task) as Promise<Outcome>;
}

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function value(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 6 ? 5 : 7));
  switch (pick) {
    case 0: return Math.floor(rand() * 1e6) - 5e5;
    case 1: return rand() * 1e10;
    case 2: return "s".repeat(Math.floor(rand() * 20));
    case 3: return rand() < 0.5;
    case 4: return null;
    case 5: return Array.from({ length: Math.floor(rand() * 4) }, () => value(rand, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [`k${i}`, value(rand, depth + 1)]));
  }
}

/** One hostile body: a generated JSON text, then a mutation. */
function body(rand: () => number): Buffer {
  const text = JSON.stringify({ data: value(rand, 0) });
  const depth = MAX_JSON_DEPTH - 5 + Math.floor(rand() * 20_000);
  switch (Math.floor(rand() * 10)) {
    case 0: return Buffer.from(`{"data": ${"[".repeat(depth)}${"]".repeat(depth)}}`);
    case 1: return Buffer.from(`{"data": ${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`);
    case 2: return Buffer.from(`{"data": ${rand() < 0.5 ? "-" : ""}${"7".repeat(1 + Math.floor(rand() * 100_000))}}`);
    case 3: return Buffer.from(text.replace(/\d+(\.\d+)?/, ["NaN", "Infinity", "-Infinity", "1e999"][Math.floor(rand() * 4)]!));
    case 4: {
      const bytes = Buffer.from(text);
      bytes[Math.floor(rand() * bytes.length)] = [0xff, 0xc3, 0x80, 0xed][Math.floor(rand() * 4)]!;
      return bytes;
    }
    case 5: return Buffer.from(text.slice(0, Math.floor(rand() * text.length)));
    case 6: return Buffer.from(`{"data": 1, "data": ${text}, "data": ${JSON.stringify(value(rand, 0))}}`);
    case 7: return Buffer.from(JSON.stringify({ data: Array(50_000 + Math.floor(rand() * 100_000)).fill(rand() < 0.5 ? "x" : 1) }));
    case 8: return Buffer.from(JSON.stringify({ data: "x".repeat(Math.floor(rand() * 1_000_000)) }));
    default: return Buffer.from(text);
  }
}

describe("Node worker: hostile JSON through decode, convert and encode", () => {
  const printed = captureStderr();

  it("answers every generated body with 200, 400 or 422 and a bounded JSON body", async () => {
    const rand = random(20261128);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const input = body(rand);
      const route = ROUTES[i % ROUTES.length]!;
      const outcome = await run(route, input);
      const what = `case ${i} on ${route}: ${input.subarray(0, 60).toString()}… → ${outcome.status} ${outcome.body.subarray(0, 200).toString()}`;
      assert.ok([200, 400, 422].includes(outcome.status), what);
      seen.add(outcome.status);
      const answer = JSON.parse(outcome.body.toString()) as Record<string, unknown>;
      if (outcome.status !== 200) {
        assert.equal(typeof answer.detail, "string", what);
        assert.ok(outcome.body.length < 64 * 1024, `${what}: a ${outcome.body.length}-byte error`);
      }
      if (outcome.status === 422) assert.ok((answer.errors as unknown[]).length <= MAX_REPORTED_ERRORS, what);
    }
    assert.deepEqual([...seen].sort(), [200, 400, 422], "the generator reaches every outcome");
    assert.equal(printed(), "", "nothing failed inside the worker");
    assert.equal((await run("/ints", '{"data": [1, 2]}')).body.toString(), '{"n":2}');
  });

  it("rejects nesting past the limit with a 400 that says so, and takes it up to the limit", async () => {
    const at = (depth: number) => `{"data": ${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`; // the object is one level
    const deep = await run("/tree", at(MAX_JSON_DEPTH + 1));
    assert.equal(deep.status, 400);
    assert.match(deep.body.toString(), /nests arrays and objects deeper than 128 levels/);
    assert.equal((await run("/tree", at(MAX_JSON_DEPTH))).status, 200);
    // Brackets inside strings are text, not nesting.
    assert.equal((await run("/raw", JSON.stringify({ data: "[".repeat(10_000) }))).status, 200);
    assert.equal(nestedDeeperThan(`"${"\\\"[".repeat(2000)}"`, 10), false);
  });

  it("reports at most 100 issues of a huge array, saying how many more", async () => {
    const outcome = await run("/ints", JSON.stringify({ data: Array(300_000).fill("a") }));
    assert.equal(outcome.status, 422);
    const answer = JSON.parse(outcome.body.toString()) as { detail: string; errors: unknown[] };
    assert.equal(answer.errors.length, MAX_REPORTED_ERRORS);
    assert.match(answer.detail, /; and 299900 more$/);
  });

  it("answers 500 saying so for results JSON cannot carry, and goes on", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const results: Record<string, unknown> = {
      bigint: { n: 10n ** 100n },
      cycle: cyclic,
      deep,
      symbol: Symbol("s"),
      throwing: { toJSON: () => { throw new Error("no JSON today"); } },
    };
    const unserializable = new App();
    for (const [name, result] of Object.entries(results)) unserializable.route(`/${name}`, () => result);
    unserializable.route("/ok", () => "ok");
    const worker = new Executor(unserializable);
    const call = (route: string) => worker.run({ type: "TaskAssignment", taskId: 1, method: "GET", route, path: route, query: "", params: [], headers: [], requestId: "r", clientHost: "", clientPort: 0, body: Buffer.alloc(0) }) as Promise<Outcome>;
    for (const name of Object.keys(results)) {
      const outcome = await call(`/${name}`);
      assert.equal(outcome.status, 500, name);
      assert.match(JSON.parse(outcome.body.toString()).detail, /is not JSON-serializable/, name);
    }
    assert.equal((await call("/ok")).body.toString(), '"ok"');
    assert.match(printed(), /not JSON-serializable/);
  });
});
