/** The TypeScript request model in the Node worker: Response, HTTPException, Request and app.use middleware. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { Executor, type BufferedOutcome as Outcome } from "../../src/node-worker/executor.js";
import { encodeRouteRegistry, decodeFrame } from "../../src/protocol/codec.js";
import { HANDLER_FAILED, type Pair, type TaskAssignment } from "../../src/protocol/messages.js";
import { App, HTTPException, Request, Response } from "../../src/sdk/index.js";
import { captureStderr } from "../support/stderr.js";

interface Call {
  readonly method?: string;
  readonly query?: string;
  readonly body?: string;
  readonly params?: Pair[];
  readonly headers?: Pair[];
}

function runner(app: App): (route: string, call?: Call) => Promise<Outcome> {
  const executor = new Executor(app);
  return (route, { method = "GET", query = "", body = "", params = [], headers = [] } = {}) => {
    const task: TaskAssignment = {
      type: "TaskAssignment", taskId: 1, method, route, path: route.replace(/\{(\w+)\}/g, (_, n: string) => params.find(([k]) => k === n)?.[1] ?? ""),
      query, params, headers, requestId: "req-42", clientHost: "127.0.0.1", clientPort: 50123, body: Buffer.from(body),
    };
    return executor.run(task) as Promise<Outcome>;
  };
}
const json = (o: Outcome): unknown => JSON.parse(o.body.toString());

const printed = captureStderr();

describe("Response", () => {
  const app = new App()
    .route("/text", () => new Response("héllo"))
    .route("/typed-text", () => new Response("<b>hi</b>", { mediaType: "text/html" }))
    .route("/bytes", () => new Response(Buffer.from([0, 1, 255])))
    .route("/uint8", () => new Response(new Uint8Array([7, 8, 9]).subarray(1)))
    .route("/json", () => new Response({ short: "stout" }, { status: 418, headers: { "x-kettle": "yes" } }))
    .route("/cookies", () => new Response(null, { headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"]] }))
    .route("/empty", () => new Response(undefined, { status: 204 }))
    .route("/json-null", () => Response.json(null))
    .route("/bad-status", () => {
      const r = new Response("x");
      r.status = 42;
      return r;
    })
    .route("/bigint", () => new Response({ n: 1n }));
  const run = runner(app);

  it("sends a string as UTF-8 text/plain, and a media type when given", async () => {
    assert.deepEqual(await run("/text"), { status: 200, flags: 0, headers: [["content-type", "text/plain; charset=utf-8"]], body: Buffer.from("héllo") });
    assert.deepEqual((await run("/typed-text")).headers, [["content-type", "text/html"]]);
  });

  it("sends bytes untouched as application/octet-stream", async () => {
    assert.deepEqual(await run("/bytes"), { status: 200, flags: 0, headers: [["content-type", "application/octet-stream"]], body: Buffer.from([0, 1, 255]) });
    assert.deepEqual((await run("/uint8")).body, Buffer.from([8, 9]));
  });

  it("serializes any other body as JSON, with the status and headers given", async () => {
    const o = await run("/json");
    assert.equal(o.status, 418);
    assert.deepEqual(o.headers, [["x-kettle", "yes"]]);
    assert.deepEqual(json(o), { short: "stout" });
  });

  it("sends no body for a null one, as the Fetch API does; Response.json(null) is JSON null", async () => {
    assert.equal((await run("/cookies")).body.length, 0);
    assert.equal((await run("/json-null")).body.toString(), "null");
  });

  it("keeps repeated set-cookie headers apart", async () => {
    assert.deepEqual((await run("/cookies")).headers, [["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
  });

  it("sends no body for an undefined one", async () => {
    const o = await run("/empty");
    assert.equal(o.status, 204);
    assert.equal(o.body.length, 0);
  });

  it("refuses a bad status: at construction, and as a 500 when it was set later", async () => {
    assert.throws(() => new Response("x", { status: 1000 }), RangeError);
    assert.throws(() => new HTTPException(99), RangeError);
    const o = await run("/bad-status");
    assert.equal(o.status, 500);
    assert.equal(o.flags, HANDLER_FAILED);
    const bigint = await run("/bigint");
    assert.equal(bigint.status, 500);
    assert.match((json(bigint) as { detail: string }).detail, /not JSON-serializable/);
  });

  it("recognizes Responses and HTTPExceptions from another copy of the package", () => {
    class Other {}
    Object.defineProperty(Other.prototype, Symbol.for("neutrino.Response"), { value: true });
    assert.equal(Response.isResponse(new Other()), true);
    assert.equal(Response.isResponse({ status: 200, body: "" }), false);
    assert.equal(HTTPException.isHTTPException(new HTTPException(404)), true);
    assert.equal(HTTPException.isHTTPException(new Error("404")), false);
  });
});

describe("HTTPException", () => {
  const app = new App()
    .route("/users/{id}", ({ id }) => {
      if (id === 0) throw new HTTPException(404, "no such user");
      return { id };
    }, { schema: z.object({ id: z.coerce.number().int() }) })
    .route("/detail", () => {
      throw new HTTPException(409, { conflict: ["a", "b"] }, { "retry-after": "3" });
    })
    .route("/default", async () => {
      throw new HTTPException(403);
    });
  const run = runner(app);

  it("answers its status with {error, detail}, not as a handler failure", async () => {
    const o = await run("/users/{id}", { params: [["id", "0"]] });
    assert.deepEqual(o, { status: 404, flags: 0, headers: [], body: Buffer.from('{"error":"Not Found","detail":"no such user"}') });
    assert.deepEqual(json(await run("/users/{id}", { params: [["id", "5"]] })), { id: 5 });
  });

  it("carries any JSON detail and its headers; the detail defaults to the reason phrase", async () => {
    const o = await run("/detail");
    assert.equal(o.status, 409);
    assert.deepEqual(o.headers, [["retry-after", "3"]]);
    assert.deepEqual(json(o), { error: "Conflict", detail: { conflict: ["a", "b"] } });
    assert.deepEqual(json(await run("/default")), { error: "Forbidden", detail: "Forbidden" });
    assert.equal(new HTTPException(404, "gone").message, "gone");
  });
});

describe("Request", () => {
  let seen: Request | undefined;
  const app = new App()
    .route("/items/{item_id}", (args, request) => {
      seen = request;
      return { args, ua: request.headers.get("User-Agent") };
    }, { methods: ["POST"] })
    .route("/opted", function opted(...rest: unknown[]) {
      return { isRequest: rest[1] instanceof Request };
    }, { request: true })
    .route("/plain", (args) => ({ args }));
  const run = runner(app);

  it("is the handler's second argument, with the request's parts", async () => {
    const o = await run("/items/{item_id}", {
      method: "POST", query: "q=1&tag=a&tag=b", body: '{"n": 2}', params: [["item_id", "9"]],
      headers: [["user-agent", "curl/8"], ["x-many", "a"], ["x-many", "b"]],
    });
    assert.deepEqual(json(o), { args: { item_id: "9", q: "1", tag: ["a", "b"], n: 2 }, ua: "curl/8" });
    const r = seen!;
    assert.equal(r.method, "POST");
    assert.equal(r.path, "/items/9");
    assert.equal(r.query, "q=1&tag=a&tag=b");
    assert.deepEqual(r.queryParams.getAll("tag"), ["a", "b"]);
    assert.equal(r.headers.get("X-MANY"), "a, b");
    assert.deepEqual(Object.fromEntries(r.headers), { "user-agent": "curl/8", "x-many": "a, b" });
    assert.deepEqual(r.client, { host: "127.0.0.1", port: 50123 });
    assert.equal(r.body.toString(), '{"n": 2}');
    assert.deepEqual(r.json(), { n: 2 });
    assert.equal(r.requestId, "req-42");
    assert.deepEqual({ ...r.pathParams }, { item_id: "9" });
  });

  it("is given with { request: true } whatever the handler declares", async () => {
    assert.deepEqual(json(await run("/opted")), { isRequest: true });
  });

  it("marks the routes that read it, and only those, with headers: true", () => {
    const routes = new Executor(app).routes;
    assert.deepEqual(routes.map((r) => [r.path, r.headers]), [["/items/{item_id}", true], ["/opted", true], ["/plain", undefined]]);
    assert.equal(app.getRoute("/plain").readsRequest, false);
  });

  it("sends the flag and the operation over the wire in the documented key order", () => {
    const frame = encodeRouteRegistry(new Executor(app).routes);
    const text = frame.subarray(5).toString();
    assert.match(text, /^\{"routes":\[\{"path":"\/items\/\{item_id\}","methods":\["POST"\],"headers":true,"openapi":\{/);
    const decoded = decodeFrame(frame, 4, frame.length);
    assert.ok(decoded.type === "RouteRegistry");
    assert.equal(decoded.routes[2]!.headers, undefined);
    assert.deepEqual(Object.keys(decoded.routes[2]!), ["path", "methods", "openapi"]);
  });
});

describe("middleware (app.use)", () => {
  const order: string[] = [];
  const app = new App()
    .use(async function outer(request, next) {
      order.push(`outer in ${request.path}`);
      const response = await next();
      order.push("outer out");
      response.headers.set("x-middleware", "on");
      return response;
    })
    .use(async (request, next) => {
      order.push("inner in");
      if (request.headers.get("authorization") === "no") return new Response({ denied: true }, { status: 401 });
      if (request.headers.get("authorization") === "throw") throw new HTTPException(403, "forbidden here");
      const response = await next();
      order.push("inner out");
      response.status = response.status === 200 ? 201 : response.status;
      return response;
    })
    .route("/hello", () => {
      order.push("handler");
      return { hello: "world" };
    })
    .route("/text", () => "plain string is JSON")
    .route("/boom", () => {
      throw new Error("kaboom");
    })
    .route("/add", ({ x, y }) => ({ result: x + y }), { schema: z.object({ x: z.number(), y: z.number() }) });
  const run = runner(app);

  it("wraps every call in registration order and may change status and headers", async () => {
    order.length = 0;
    const o = await run("/hello");
    assert.deepEqual(order, ["outer in /hello", "inner in", "handler", "inner out", "outer out"]);
    assert.equal(o.status, 201);
    assert.deepEqual(o.headers, [["x-middleware", "on"]]);
    assert.deepEqual(json(o), { hello: "world" });
    assert.equal((await run("/text")).body.toString(), '"plain string is JSON"', "a returned string is a JSON value; new Response(string) is text");
  });

  it("can answer without calling next(), or by throwing an HTTPException", async () => {
    order.length = 0;
    const denied = await run("/hello", { headers: [["authorization", "no"]] });
    assert.equal(denied.status, 401);
    assert.deepEqual(json(denied), { denied: true });
    assert.deepEqual(denied.headers, [["x-middleware", "on"]]);
    assert.ok(!order.includes("handler"));
    const forbidden = await run("/hello", { headers: [["authorization", "throw"]] });
    assert.equal(forbidden.status, 403);
    assert.deepEqual(json(forbidden), { error: "Forbidden", detail: "forbidden here" });
    assert.deepEqual(forbidden.headers, [["x-middleware", "on"]]);
  });

  it("sees errors as responses: 422 and the handler's 500, which keeps its failure flag", async () => {
    const invalid = await run("/add", { query: "x=2" });
    assert.equal(invalid.status, 422);
    assert.deepEqual(invalid.headers, [["x-middleware", "on"]]);
    assert.equal((json(invalid) as { errors: unknown[] }).errors.length, 1);
    const failed = await run("/boom");
    assert.equal(failed.status, 500);
    assert.equal(failed.flags, HANDLER_FAILED);
    assert.deepEqual(failed.headers, [["x-middleware", "on"]]);
    assert.deepEqual(json(failed), { error: "Internal Server Error", detail: "the handler failed; the server log has the details", request_id: "req-42" });
  });

  it("makes every route read the request", () => {
    assert.ok(new Executor(app).routes.every((r) => r.headers === true));
  });

  it("a middleware that throws, or returns nothing, is a 500 naming it", async () => {
    const broken = new App()
      .use(async function forgetful(_request, next) {
        await next();
      })
      .route("/a", () => 1);
    const o = await runner(broken)("/a");
    assert.equal(o.status, 500);
    assert.equal(o.flags, HANDLER_FAILED);
    assert.equal((json(o) as { detail: string }).detail, "the middleware failed; the server log has the details");
    assert.match(printed(), /middleware "forgetful" returned nothing/);
    const throwing = new App()
      .use(() => {
        throw new RangeError("nope");
      })
      .route("/a", () => 1);
    assert.deepEqual(json(await runner(throwing)("/a")), { error: "Internal Server Error", detail: "the middleware failed; the server log has the details", request_id: "req-42" });
    assert.match(printed(), /middleware "#1" failed on GET \/a/);
  });

  it("a plain value returned by middleware is sent as JSON; next() runs the rest once", async () => {
    let calls = 0;
    const app2 = new App()
      .use(async (_request, next) => {
        await next();
        await next();
        return { replaced: true };
      })
      .route("/a", () => ++calls);
    assert.deepEqual(json(await runner(app2)("/a")), { replaced: true });
    assert.equal(calls, 1);
  });

  it("refuses a middleware that is not a function", () => {
    assert.throws(() => new App().use(42 as never), /middleware must be a function/);
  });
});

describe("return values", () => {
  const run = runner(
    new App()
      .route("/buffer", () => Buffer.from("raw"))
      .route("/string", () => "a JSON string")
      .route("/number", async () => 2.5),
  );

  it("sends returned bytes as they are, and other values as JSON", async () => {
    assert.deepEqual(await run("/buffer"), { status: 200, flags: 0, headers: [["content-type", "application/octet-stream"]], body: Buffer.from("raw") });
    assert.equal((await run("/string")).body.toString(), '"a JSON string"');
    assert.equal((await run("/number")).body.toString(), "2.5");
  });
});
