import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildOpenApiDocument, pathParameterNames } from "../../src/orchestrator/openapi/document.js";
import type { RouteInfo } from "../../src/protocol/messages.js";

const INFO = { title: "myapp:app", version: "0.0.0" };
const route = (path: string, methods: string[], openapi?: unknown): RouteInfo =>
  (openapi === undefined ? { path, methods } : { path, methods, openapi }) as RouteInfo;

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1.0 with the app's title; a route without an operation gets a minimal one", () => {
    const doc = buildOpenApiDocument([route("/add", ["GET", "POST"])], INFO);
    assert.deepEqual(doc, {
      openapi: "3.1.0",
      info: { title: "myapp:app", version: "0.0.0" },
      paths: {
        "/add": {
          get: { responses: { "200": { description: "OK" } } },
          post: { responses: { "200": { description: "OK" } } },
        },
      },
    });
  });

  it("declares every {name} of the path as a required path parameter", () => {
    assert.deepEqual(pathParameterNames("/users/{user_id}/posts/{post_id}"), ["user_id", "post_id"]);
    const doc = buildOpenApiDocument([route("/users/{user_id}/posts/{post_id}", ["GET"])], INFO);
    assert.deepEqual(doc.paths["/users/{user_id}/posts/{post_id}"]!.get!.parameters, [
      { name: "user_id", in: "path", required: true, schema: { type: "string" } },
      { name: "post_id", in: "path", required: true, schema: { type: "string" } },
    ]);
  });

  it("keeps the SDK's operation, adding only what a valid document needs", () => {
    const op = {
      summary: "Get a user",
      parameters: [
        { name: "user_id", in: "path", required: true, schema: { type: "integer" } },
        { name: "verbose", in: "query", schema: { type: "boolean" } },
      ],
      responses: { "200": { description: "Successful Response" }, "422": { description: "Validation Error" } },
      "x-extension": [1, 2],
    };
    const doc = buildOpenApiDocument([route("/users/{user_id}", ["GET"], op), route("/items/{id}", ["GET"], { summary: "no params" })], INFO);
    assert.deepEqual(doc.paths["/users/{user_id}"]!.get, op);
    assert.deepEqual(doc.paths["/items/{id}"]!.get, {
      summary: "no params",
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      responses: { "200": { description: "OK" } },
    });
  });

  it("lower-cases methods, leaves out HEAD and methods OpenAPI cannot describe", () => {
    const doc = buildOpenApiDocument([route("/x", ["GET", "HEAD", "PATCH", "PROPFIND"])], INFO);
    assert.deepEqual(Object.keys(doc.paths["/x"]!), ["get", "patch"]);
    assert.deepEqual(buildOpenApiDocument([route("/y", ["HEAD"])], INFO).paths, {});
  });

  it("one operation under several methods: separate copies, operationId made unique", () => {
    const op = { operationId: "add", responses: { "200": { description: "OK" } } };
    const routes = [route("/add", ["GET", "POST"], op), route("/plus", ["GET"], { ...op })];
    const doc = buildOpenApiDocument(routes, INFO);
    assert.equal(doc.paths["/add"]!.get!.operationId, "add");
    assert.equal(doc.paths["/add"]!.post!.operationId, "add_post");
    assert.equal(doc.paths["/plus"]!.get!.operationId, "add_get");
    assert.notEqual(doc.paths["/add"]!.get, doc.paths["/add"]!.post);
    assert.equal(op.operationId, "add", "the route's own entry is left alone");
  });

  it("an openapi entry that is not an object is ignored with a warning", () => {
    const warnings: string[] = [];
    const doc = buildOpenApiDocument(
      [route("/a", ["GET"], "text"), route("/b", ["GET"], [1]), route("/c", ["GET"], null), route("/d", ["GET"], { responses: "bad" })],
      INFO,
      (m) => warnings.push(m),
    );
    for (const path of ["/a", "/b", "/c"]) assert.deepEqual(doc.paths[path]!.get, { responses: { "200": { description: "OK" } } });
    assert.deepEqual(doc.paths["/d"]!.get, { responses: { "200": { description: "OK" } } });
    assert.equal(warnings.length, 3);
    assert.match(warnings[0]!, /route \/a: its "openapi" entry is not an object/);
  });

  it("a GET operation has no requestBody; one with a body documents the server's 400 and 413", () => {
    const op = {
      parameters: [{ name: "q", in: "query", required: true, schema: { type: "string" } }],
      requestBody: { required: true, content: { "application/json": { schema: { type: "object" } } } },
      responses: { "200": { description: "OK" }, "400": { description: "the app's own 400" } },
    };
    const doc = buildOpenApiDocument([route("/search", ["GET", "POST"], op)], INFO);
    const get = doc.paths["/search"]!.get!;
    assert.equal(get.requestBody, undefined);
    assert.deepEqual(Object.keys(get.responses as object), ["200", "400"]);
    const post = doc.paths["/search"]!.post!;
    assert.deepEqual(post.requestBody, op.requestBody);
    const responses = post.responses as Record<string, { description: string; content?: Record<string, { schema: { required: string[] } }> }>;
    assert.deepEqual(Object.keys(responses), ["200", "400", "413"]);
    assert.equal(responses["400"]!.description, "the app's own 400", "an SDK's own description is kept");
    assert.deepEqual(responses["413"]!.content!["application/json"]!.schema.required, ["error", "detail"]);
  });
});
