/** The TypeScript SDK's App: registration, lookup, defaults and the mistakes it refuses. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toStandardJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { z } from "zod";
import { App, DEFAULT_METHODS, type StandardSchemaV1 } from "../../src/sdk/index.js";

const noop = (): null => null;

/** A minimal Standard Schema that accepts anything and claims the output type T. */
function schemaOf<T>(): StandardSchemaV1<unknown, T> {
  return { "~standard": { version: 1, vendor: "test", validate: (value) => ({ value: value as T }) } };
}

describe("SDK App", () => {
  it("registers routes and lists them in registration order", () => {
    const app = new App();
    app.route("/b", noop).route("/a", noop, { methods: ["POST"] });
    assert.deepEqual(app.listRoutes(), ["/b", "/a"]);
    const route = app.getRoute("/a");
    assert.equal(route.path, "/a");
    assert.deepEqual(route.methods, ["POST"]);
    assert.equal(route.schema, undefined);
  });

  it("defaults to GET and POST, as the Python SDK does", () => {
    const app = new App().route("/a", noop);
    assert.deepEqual(app.getRoute("/a").methods, ["GET", "POST"]);
    assert.deepEqual(DEFAULT_METHODS, app.getRoute("/a").methods, "the exported constant is what a route gets");
  });

  it("upper-cases and de-duplicates methods, and takes a single method as a string", () => {
    const app = new App().route("/a", noop, { methods: ["post", "Get", "POST"] }).route("/b", noop, { methods: "put" });
    assert.deepEqual(app.getRoute("/a").methods, ["POST", "GET"]);
    assert.deepEqual(app.getRoute("/b").methods, ["PUT"]);
  });

  it("names a route after its handler, or its path for an anonymous one", () => {
    function add(): number {
      return 1;
    }
    const app = new App().route("/add", add).route("/anon", noop).route("/inline", () => 1);
    assert.equal(app.getRoute("/add").name, "add");
    assert.equal(app.getRoute("/inline").name, "/inline");
  });

  it("refuses a path registered twice, naming it", () => {
    const app = new App().route("/a", noop);
    assert.throws(() => app.route("/a", noop, { methods: ["PUT"] }), /"\/a" is already registered/);
  });

  it("refuses bad paths, methods, handlers and schemas when the app loads", () => {
    const app = new App();
    const loose = app as unknown as { route(path: unknown, handler: unknown, options?: unknown): App };
    for (const path of ["add", ""]) assert.throws(() => app.route(path, noop), /starting with "\/"/);
    assert.throws(() => loose.route(undefined, noop), TypeError);
    for (const methods of [[], [""], [null]]) assert.throws(() => loose.route("/m", noop, { methods }), /method/);
    assert.throws(() => loose.route("/h", 42), /handler must be a function/);
    assert.throws(() => loose.route("/s", noop, { schema: { parse: noop } }), /Standard Schema/);
    assert.deepEqual(app.listRoutes(), []);
  });

  it("getRoute throws for an unknown path", () => {
    assert.throws(() => new App().getRoute("/nope"), /no route registered for "\/nope"/);
  });

  it("keeps the schema and types the handler's arguments by it", () => {
    const schema = schemaOf<{ x: number; y: number }>();
    // Compile-time check: x and y are numbers here, not unknown.
    const app = new App().route("/add", ({ x, y }) => ({ result: x + y }), { schema });
    assert.equal(app.getRoute("/add").schema, schema);
    // @ts-expect-error -- without a schema the arguments are unknown values
    new App().route("/add", ({ x, y }) => x + y);
  });

  it("recognizes App instances from another copy of the package", () => {
    assert.equal(App.isApp(new App()), true);
    class OtherCopyApp {}
    Object.defineProperty(OtherCopyApp.prototype, Symbol.for("neutrino.App"), { value: true });
    assert.equal(App.isApp(new OtherCopyApp()), true);
    for (const value of [{}, null, App, "app"]) assert.equal(App.isApp(value), false);
  });

  it("reads the request when the handler declares a second parameter, or when told to", () => {
    const app = new App()
      .route("/one", (args) => args)
      .route("/two", (_args, request) => request.method)
      .route("/told", () => 1, { request: true })
      .route("/not", (_args, request) => request.path, { request: false });
    assert.deepEqual(["/one", "/two", "/told", "/not"].map((p) => app.getRoute(p).readsRequest), [false, true, true, false]);
    assert.throws(() => app.route("/bad", noop, { request: "yes" as never }), /request must be true or false/);
  });

  it("keeps a summary for OpenAPI", () => {
    const app = new App().route("/a", noop, { summary: "Adds things" });
    assert.equal(app.getRoute("/a").summary, "Adds things");
    assert.throws(() => app.route("/b", noop, { summary: 3 as never }), /summary must be a string/);
  });

  it("lists the path's parameters, and refuses a repeated or malformed one", () => {
    assert.deepEqual(new App().route("/u/{user_id}/p/{post_id}", noop).getRoute("/u/{user_id}/p/{post_id}").pathParams, ["user_id", "post_id"]);
    const app = new App();
    assert.throws(() => app.route("/u/{id}/v/{id}", noop), /route "\/u\/\{id\}\/v\/\{id\}": path parameter "id" appears twice/);
    assert.throws(() => app.route("/u/{1x}", noop), /path parameter "\{1x\}" must be a name/);
    assert.throws(() => app.route("/u/{id", noop), /unmatched/);
    assert.deepEqual(app.listRoutes(), []);
  });

  it("refuses, when the app loads, a path parameter that the route's object schema does not list", () => {
    const app = new App();
    const ok = z.object({ user_id: z.coerce.number(), verbose: z.boolean().default(false) });
    app.route("/users/{user_id}", ({ user_id }) => user_id, { schema: ok });
    assert.throws(
      () => app.route("/posts/{post_id}", noop, { schema: z.object({ id: z.number() }) }),
      /route "\/posts\/\{post_id\}": path parameter "post_id" not in the route's schema \(its keys: id\)/,
    );
    // valibot, plain and wrapped for JSON Schema (then the keys come from the JSON Schema).
    assert.throws(() => app.route("/v/{a}", noop, { schema: v.object({ b: v.string() }) }), /path parameter "a" not in the route's schema/);
    assert.throws(() => app.route("/w/{a}", noop, { schema: toStandardJsonSchema(v.object({ b: v.string() })) }), /"a" not in/);
    app.route("/x/{b}", noop, { schema: v.object({ b: v.string() }) });
    // A schema that does not show its keys is trusted.
    app.route("/y/{anything}", noop, { schema: schemaOf<unknown>() });
    app.route("/z/{a}", noop, { schema: z.record(z.string(), z.string()) });
    assert.deepEqual(app.listRoutes(), ["/users/{user_id}", "/x/{b}", "/y/{anything}", "/z/{a}"]);
  });

  it("keeps middleware in registration order and refuses what is not a function", () => {
    const first = async (_r: unknown, next: () => Promise<unknown>) => next();
    const second = async (_r: unknown, next: () => Promise<unknown>) => next();
    const app = new App().use(first).use(second);
    assert.deepEqual(app.listMiddleware(), [first, second]);
    assert.throws(() => app.use("mw" as never), TypeError);
  });
});
