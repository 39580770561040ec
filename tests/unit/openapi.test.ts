/** OpenAPI operations generated from TypeScript routes and their Standard Schemas (zod, valibot). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toStandardJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { z } from "zod";
import { inlineRefs, operationFor, type Operation } from "../../src/node-worker/openapi.js";
import { App, type StandardSchemaV1 } from "../../src/sdk/index.js";

const noop = (): null => null;

interface Options {
  readonly methods?: string | string[];
  readonly schema?: StandardSchemaV1;
  readonly summary?: string;
  readonly statusCode?: number;
  readonly responses?: Record<number, string | Record<string, unknown>>;
  readonly mediaType?: string;
}

function op(path: string, options: Options = {}, handler: (...args: never[]) => unknown = noop): Operation {
  const app = new App().route(path, handler as never, options as never);
  return operationFor(app.getRoute(path));
}

describe("OpenAPI operations", () => {
  it("makes GET-able arguments query parameters, so Swagger UI's try it on /add sends ?x=2&y=3", () => {
    const o = op("/add", { schema: z.object({ x: z.number(), y: z.number() }), summary: "Add two numbers" });
    assert.deepEqual(Object.keys(o), ["summary", "parameters", "responses"]);
    assert.equal(o.summary, "Add two numbers");
    assert.deepEqual(o.parameters, [
      { name: "x", in: "query", required: true, schema: { type: "number" } },
      { name: "y", in: "query", required: true, schema: { type: "number" } },
    ]);
  });

  it("describes path parameters from the schema, defaults as optional query parameters", () => {
    const o = op("/users/{user_id}", { methods: "GET", schema: z.object({ user_id: z.int(), verbose: z.boolean().default(false) }) });
    const [path, verbose] = o.parameters as Record<string, unknown>[];
    assert.deepEqual({ ...path, schema: undefined }, { name: "user_id", in: "path", required: true, schema: undefined });
    assert.equal((path!.schema as { type: string }).type, "integer");
    assert.deepEqual(verbose, { name: "verbose", in: "query", required: false, schema: { default: false, type: "boolean" } });
  });

  it("puts every argument of a POST-only route in a JSON body", () => {
    const schema = z.object({ name: z.string(), price: z.number(), tags: z.array(z.string()).default([]) });
    const o = op("/items", { methods: ["POST"], schema });
    assert.equal(o.parameters, undefined);
    assert.deepEqual(o.requestBody, {
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            properties: { name: { type: "string" }, price: { type: "number" }, tags: { default: [], type: "array", items: { type: "string" } } },
            required: ["name", "price"],
          },
        },
      },
    });
  });

  it("sends what a query string cannot carry in the body, even on a GET route", () => {
    const schema = z.object({ tags: z.array(z.string()), where: z.object({ a: z.number() }), kind: z.enum(["a", "b"]).optional() });
    const o = op("/search", { schema });
    assert.deepEqual((o.parameters as { name: string }[]).map((p) => p.name), ["tags", "kind"]);
    const body = (o.requestBody as { content: Record<string, { schema: { properties: object; required: string[] } }> }).content["application/json"]!.schema;
    assert.deepEqual(Object.keys(body.properties), ["where"]);
    assert.deepEqual(body.required, ["where"]);
  });

  it("has responses 200 and 422 (the error shape) on every route, with a schema or without", () => {
    const o = op("/plain/{id}");
    assert.deepEqual(o.parameters, [{ name: "id", in: "path", required: true, schema: { type: "string" } }]);
    const responses = o.responses as Record<string, { content: Record<string, { schema: { required?: string[] } }> }>;
    assert.deepEqual(Object.keys(responses), ["200", "422"]);
    assert.deepEqual(responses["422"]!.content["application/json"]!.schema.required, ["error", "detail", "errors"]);
  });

  it("converts valibot through toStandardJsonSchema; a bare valibot schema gives its argument names", () => {
    const wrapped = op("/v/{id}", { schema: toStandardJsonSchema(v.object({ id: v.string(), n: v.optional(v.number(), 3) })) });
    assert.deepEqual(wrapped.parameters, [
      { name: "id", in: "path", required: true, schema: { type: "string" } },
      { name: "n", in: "query", required: false, schema: { type: "number", default: 3 } },
    ]);
    const bare = op("/b/{id}", { schema: v.object({ id: v.string(), n: v.number() }) });
    assert.deepEqual(bare.parameters, [
      { name: "id", in: "path", required: true, schema: { type: "string" } },
      { name: "n", in: "query", required: false, schema: {} },
    ]);
  });

  it("falls back to the names for a schema its library cannot convert (zod dates), and to nothing for an opaque one", () => {
    const dates = op("/d", { methods: "POST", schema: z.object({ when: z.date() }) });
    assert.deepEqual(dates.requestBody, { required: false, content: { "application/json": { schema: { type: "object", properties: { when: {} } } } } });
    const opaque: StandardSchemaV1 = { "~standard": { version: 1, vendor: "x", validate: (value) => ({ value }) } };
    assert.deepEqual(Object.keys(op("/o", { schema: opaque })), ["responses"]);
  });

  it("takes a non-object schema as the whole body of a route that takes one", () => {
    const o = op("/r", { methods: ["PUT"], schema: z.record(z.string(), z.number()) });
    const schema = (o.requestBody as { content: Record<string, { schema: Record<string, unknown> }> }).content["application/json"]!.schema;
    assert.equal(schema.type, "object");
    assert.equal(schema.$schema, undefined);
  });

  it("inlines local references and cuts recursion", () => {
    assert.deepEqual(
      inlineRefs({
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        properties: { a: { $ref: "#/$defs/A" }, self: { $ref: "#" } },
        $defs: { A: { type: "object", properties: { next: { $ref: "#/$defs/A" }, n: { type: "integer" } } } },
      }),
      { type: "object", properties: { a: { type: "object", properties: { next: {}, n: { type: "integer" } } }, self: {} } },
    );
    const Node: z.ZodType = z.lazy(() => z.object({ children: z.array(Node) }));
    const o = op("/tree", { methods: "POST", schema: z.object({ root: Node }) });
    assert.doesNotMatch(JSON.stringify(o), /\$ref|\$defs/);
  });

  it("makes a union of a list and a scalar (?tags=a or ?tags=a&tags=b) a query parameter, never a GET body", () => {
    const schema = z.object({ q: z.string(), tags: z.union([z.array(z.string()), z.string()]).default([]), where: z.object({ a: z.number() }) });
    const getOnly = op("/search", { methods: ["GET"], schema });
    assert.deepEqual((getOnly.parameters as { name: string }[]).map((p) => p.name), ["q", "tags"]);
    assert.equal(getOnly.requestBody, undefined, "a GET-only route cannot be sent a body");
    const both = op("/search", { schema });
    assert.deepEqual((both.parameters as { name: string }[]).map((p) => p.name), ["q", "tags"]);
    assert.deepEqual(Object.keys((both.requestBody as { content: Record<string, { schema: { properties: object } }> }).content["application/json"]!.schema.properties), ["where"]);
    // A list of lists cannot be written in a query string.
    const nested = op("/n", { methods: ["GET", "POST"], schema: z.object({ m: z.array(z.array(z.string())) }) });
    assert.equal(nested.parameters, undefined);
  });

  it("documents the declared success status, its media type and the other responses", () => {
    const o = op("/things", { methods: ["POST"], statusCode: 201, responses: { 410: "gone", 302: "elsewhere", 409: { description: "taken", headers: { "x-why": { schema: { type: "string" } } } } } });
    const responses = o.responses as Record<string, { description: string; content?: Record<string, { schema: { required?: string[] } }> }>;
    assert.deepEqual(Object.keys(responses).sort(), ["201", "302", "409", "410", "422"]);
    assert.deepEqual(responses["201"], { description: "Successful Response", content: { "application/json": { schema: {} } } });
    assert.equal(responses["410"]!.description, "gone");
    assert.deepEqual(responses["410"]!.content!["application/json"]!.schema.required, ["error", "detail"], "an error status has the error body");
    assert.deepEqual(responses["302"], { description: "elsewhere" });
    assert.deepEqual(responses["409"], { description: "taken", headers: { "x-why": { schema: { type: "string" } } } }, "an OpenAPI Response object as given");
    const text = op("/t", { mediaType: "text/plain" }).responses as Record<string, unknown>;
    assert.deepEqual(text["200"], { description: "Successful Response", content: { "text/plain": { schema: { type: "string" } } } });
    const bytes = op("/b", { mediaType: "application/octet-stream" }).responses as Record<string, unknown>;
    assert.deepEqual(bytes["200"], { description: "Successful Response", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } });
  });

  it("refuses a statusCode that is not a 2xx with a body, a responses key that is not a status, a media type without a slash", () => {
    assert.throws(() => op("/a", { statusCode: 404 }), /statusCode must be a 2xx status that carries a body/);
    assert.throws(() => op("/a2", { statusCode: 204 }), /statusCode must be a 2xx status that carries a body/);
    assert.throws(() => op("/b", { responses: { 42: "nope" } }), /responses keys must be HTTP statuses/);
    assert.throws(() => op("/c", { mediaType: "png" }), /mediaType must be a media type/);
  });
});
