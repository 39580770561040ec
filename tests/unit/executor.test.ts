/** The Node worker's executor: statuses, flags and error bodies, as the Python worker writes them. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { Executor, type BufferedOutcome as Outcome } from "../../src/node-worker/executor.js";
import { HANDLER_FAILED, type TaskAssignment } from "../../src/protocol/messages.js";
import { App, Response } from "../../src/sdk/index.js";
import { captureStderr } from "../support/stderr.js";

const circular: Record<string, unknown> = {};
circular.self = circular;

const app = new App()
  .route("/add", ({ x, y }) => ({ result: x + y }), { schema: z.object({ x: z.number(), y: z.number() }) })
  .route("/nothing", () => undefined)
  .route("/later", async () => ({ later: true }))
  .route("/circular", function circularValue() {
    return circular;
  })
  .route("/function", () => () => 1)
  .route("/throws", () => {
    throw new TypeError("bad input");
  })
  .route("/rejects", async () => Promise.reject(new Error("")))
  .route("/post", () => 1, { methods: ["POST"] });
const executor = new Executor(app);

function run(method: string, route: string, query = "", body = ""): Promise<Outcome> {
  const task: TaskAssignment = { type: "TaskAssignment", taskId: 1, method, route, path: route, query, params: [], headers: [], requestId: "r-1", clientHost: "", clientPort: 0, body: Buffer.from(body) };
  return executor.run(task) as Promise<Outcome>;
}
const text = (o: Outcome): string => o.body.toString();

describe("Node worker executor", () => {
  const printed = captureStderr();

  it("lists its routes for RouteRegistry, each with its OpenAPI operation", () => {
    const { openapi, ...first } = executor.routes[0]!;
    assert.deepEqual(first, { path: "/add", methods: ["GET", "POST"] });
    assert.deepEqual(Object.keys(openapi!), ["parameters", "responses"]);
    assert.equal(executor.routes.length, 8);
  });

  it("answers 200 with the value serialized once by JSON.stringify", async () => {
    assert.deepEqual(await run("POST", "/add", "", '{"x": 2, "y": 3}'), { status: 200, flags: 0, headers: [], body: Buffer.from('{"result":5}') });
    assert.equal(text(await run("GET", "/later")), '{"later":true}');
  });

  it("sends undefined as null", async () => {
    assert.equal(text(await run("GET", "/nothing")), "null");
  });

  it("422 with the schema's issues; 400 for a body that is not JSON", async () => {
    const invalid = await run("GET", "/add", "x=2");
    assert.equal(invalid.status, 422);
    assert.deepEqual(JSON.parse(text(invalid)), {
      error: "Unprocessable Entity",
      detail: "y: Invalid input: expected number, received undefined",
      errors: [{ loc: ["query", "y"], msg: "Invalid input: expected number, received undefined", type: "invalid_type" }],
    });
    const bad = await run("POST", "/add", "", "{");
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(text(bad)).error, "Bad Request");
  });

  it("500 with the failure flag for a handler that throws or rejects; the error's text only in the log", async () => {
    const thrown = await run("GET", "/throws");
    assert.equal(thrown.status, 500);
    assert.equal(thrown.flags, HANDLER_FAILED);
    const answer = JSON.parse(text(thrown)) as Record<string, unknown>;
    assert.deepEqual([answer.error, answer.detail, answer.exception], ["Internal Server Error", "the handler failed; the server log has the details", undefined]);
    assert.doesNotMatch(text(thrown), /bad input/);
    assert.equal(JSON.parse(text(await run("GET", "/rejects"))).detail, "the handler failed; the server log has the details");
    assert.match(printed(), /handler "\/throws" failed on GET \/throws \(request \S+\)\nTypeError: bad input\n\s+at /);
  });

  it("500 saying so for a value JSON cannot carry", async () => {
    for (const [route, why] of [["/circular", /circular structure/], ["/function", /a function is not a JSON value/]] as const) {
      const o = await run("GET", route);
      assert.equal(o.status, 500);
      assert.equal(o.flags, HANDLER_FAILED);
      assert.match(JSON.parse(text(o)).detail, /^return value of handler "[^"]+" is not JSON-serializable: /);
      assert.match(JSON.parse(text(o)).detail, why);
    }
    assert.match(JSON.parse(text(await run("GET", "/circular"))).detail, /handler "circularValue"/);
  });

  it("404 and 405 for what the orchestrator should not have sent", async () => {
    assert.equal((await run("GET", "/nope")).status, 404);
    const o = await run("GET", "/post");
    assert.equal(o.status, 405);
    assert.deepEqual(o.headers, [["allow", "POST"]]);
  });

  it("sends a plain value with the route's statusCode, middleware or not; 204 and 304 Responses carry no body", async () => {
    const declared = new App()
      .route("/made", () => ({ id: 1 }), { methods: ["POST"], statusCode: 201 })
      .route("/gone", () => new Response(null, { status: 204 }), { methods: ["DELETE"] })
      .route("/own", () => new Response("mine", { status: 202 }), { statusCode: 201 });
    const call = (ex: Executor, method: string, route: string) =>
      ex.run({ type: "TaskAssignment", taskId: 1, method, route, path: route, query: "", params: [], headers: [], requestId: "r", clientHost: "", clientPort: 0, body: Buffer.alloc(0) }) as Promise<Outcome>;
    for (const ex of [new Executor(declared), new Executor(declared.use(async (_r, next) => next()))]) {
      const made = await call(ex, "POST", "/made");
      assert.deepEqual([made.status, text(made)], [201, '{"id":1}']);
      const gone = await call(ex, "DELETE", "/gone");
      assert.deepEqual([gone.status, gone.body.length], [204, 0]);
      assert.equal((await call(ex, "GET", "/own")).status, 202, "a Response keeps its own status");
    }
  });
});
