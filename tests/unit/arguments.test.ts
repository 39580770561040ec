/** The Node worker's argument rules: sources and precedence, the body, schemas and query-string conversion. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { collectArguments, InvalidArguments, InvalidBody, validateArguments } from "../../src/node-worker/arguments.js";
import type { Pair } from "../../src/protocol/messages.js";

const collect = (query: string, body = "", params: Pair[] = []) => collectArguments(query, params, Buffer.from(body));
const validate = (schema: z.ZodType, query: string, body = "", params: Pair[] = []) =>
  validateArguments(schema, collect(query, body, params));

async function issues(promise: Promise<unknown>): Promise<InvalidArguments["errors"]> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof InvalidArguments, String(err));
    return err.errors;
  }
  assert.fail("expected InvalidArguments");
}

describe("arguments: sources", () => {
  it("takes query values as strings, a repeated key as an array, decoded", () => {
    assert.deepEqual(collect("x=2&tag=a&tag=b+c&s=%C3%A9&empty=").values, { x: "2", tag: ["a", "b c"], s: "é", empty: "" });
  });

  it("takes each name from the path, else the query string, else the body: an earlier source is never overridden", () => {
    const raw = collect("x=1&q=9&id=from-query", '{"x": 2, "id": "from-body", "b": true}', [["id", "7"]]);
    assert.deepEqual(raw.values, { id: "7", x: "1", q: "9", b: true });
    assert.deepEqual([...raw.sources], [["id", "path"], ["x", "query"], ["q", "query"], ["b", "body"]]);
  });

  it("never turns a path parameter into a list, whatever the query string repeats", () => {
    assert.deepEqual(collect("id=1&id=2&t=a&t=b", "", [["id", "7"]]).values, { id: "7", t: ["a", "b"] });
  });

  it("keeps a query value `body` over a body that is not a JSON object", () => {
    assert.deepEqual(collect("body=q", "[1]").values, { body: "q" });
  });

  it("passes a JSON body that is not an object as `body`", () => {
    for (const [text, value] of [["[1, 2]", [1, 2]], ['"hi"', "hi"], ["3", 3], ["null", null], ["false", false]] as const) {
      assert.deepEqual(collect("x=1", text).values, { x: "1", body: value });
    }
  });

  it("gives nothing for an empty body, whatever the Content-Type would have said", () => {
    const raw = collect("", "");
    assert.deepEqual(raw.values, {});
    assert.equal(raw.hasBody, false);
  });

  it("refuses a body that is not JSON, or not UTF-8, as InvalidBody", () => {
    assert.throws(() => collect("", '{"x": 2,'), (e: unknown) => e instanceof InvalidBody && /not valid JSON/.test(e.message));
    assert.throws(() => collectArguments("", [], Buffer.from([0x22, 0xff, 0x22])), InvalidBody);
  });

  it('keeps a "__proto__" key a plain argument', () => {
    const { values } = collect("__proto__=q", '{"__proto__": {"polluted": true}}');
    assert.equal(Object.getPrototypeOf(values), Object.prototype);
    assert.deepEqual(Object.keys(values), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("arguments: schemas", () => {
  const add = z.strictObject({ x: z.number(), y: z.number() });

  it("converts numeric query strings where the schema wants numbers", async () => {
    assert.deepEqual(await validate(add, "x=2&y=-1.5e1"), { x: 2, y: -15 });
  });

  it("leaves a query string a string where the schema takes one", async () => {
    const schema = z.object({ code: z.string(), n: z.number() });
    assert.deepEqual(await validate(schema, "code=007&n=7"), { code: "007", n: 7 });
  });

  it("converts true/false, repeated values and path parameters", async () => {
    const schema = z.object({ flag: z.boolean(), ids: z.array(z.int()), id: z.int() });
    assert.deepEqual(await validate(schema, "flag=true&ids=1&ids=2", "", [["id", "42"]]), { flag: true, ids: [1, 2], id: 42 });
  });

  it("does not convert JSON body values: they already have types", async () => {
    const errors = await issues(validate(add, "", '{"x": "2", "y": 3}'));
    assert.deepEqual(errors.map((e) => e.loc), [["body", "x"]]);
  });

  it("reports what cannot convert with the schema's messages and the argument's source", async () => {
    const errors = await issues(validate(add, "x=two&y=3"));
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0]!.loc, ["query", "x"]);
    assert.equal(errors[0]!.type, "invalid_type");
    assert.match(errors[0]!.msg, /expected number/);
  });

  it("blames a missing argument on the body when there is one, else on the query string", async () => {
    assert.deepEqual((await issues(validate(add, "", '{"x": 2}'))).map((e) => e.loc), [["body", "y"]]);
    assert.deepEqual((await issues(validate(add, "x=2"))).map((e) => e.loc), [["query", "y"]]);
  });

  it("reports an unexpected argument after converting the others", async () => {
    const errors = await issues(validate(add, "x=2&y=3&z=4"));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.type, "unrecognized_keys");
    assert.match(errors[0]!.msg, /"z"/);
  });

  it("names each issue in the message", async () => {
    await assert.rejects(validate(add, "x=a&y=b"), /^InvalidArguments: x: .*; y: /);
  });

  it("takes the schema's output, transforms included, and waits for asynchronous schemas", async () => {
    const schema = z.object({ name: z.string().transform((s) => s.toUpperCase()) }).refine(async () => true);
    assert.deepEqual(await validate(schema, "name=ada"), { name: "ADA" });
  });
});
