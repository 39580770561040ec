/** The TypeScript SDK's App: registration, lookup, defaults and the mistakes it refuses. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
    assert.deepEqual(DEFAULT_METHODS, ["GET", "POST"]);
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
});
