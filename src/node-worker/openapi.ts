/**
 * The OpenAPI 3.1 Operation Object of a route, sent in its RouteRegistry entry; the orchestrator
 * puts it under each of the route's methods in /openapi.json.
 *
 * Schemas come from the route's Standard Schema through the Standard JSON Schema interface (see
 * ../sdk/introspect.ts), inline (no $ref). Where each argument goes follows the argument rule:
 * path parameters from the path; for a route that takes GET (or another method without a body),
 * every argument that can be written as text is a query parameter, which works on any method; the
 * others, and all of them on a route that takes only POST, PUT or PATCH, are members of a JSON
 * object body (a GET-only route has none: it cannot be sent them). A route whose schema cannot be
 * converted (or that has none) still gets its path parameters and its responses, and the names of
 * its arguments where its object schema shows them. Responses: the route's success status, 422,
 * and those it declared (`responses`), with their media types.
 */
import { STATUS_CODES } from "node:http";
import type { Route } from "../sdk/app.js";
import { inputJsonSchema, objectSchemaKeys, type JsonSchema } from "../sdk/introspect.js";

export type Operation = Record<string, unknown>;

/** Methods that carry no body by convention: a route taking one of them gets query parameters. */
const BODYLESS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE"]);

const VALIDATION_ERROR: JsonSchema = {
  type: "object",
  properties: {
    error: { type: "string" },
    detail: { type: "string" },
    errors: {
      type: "array",
      items: {
        type: "object",
        properties: {
          loc: { type: "array", items: { anyOf: [{ type: "string" }, { type: "integer" }] } },
          msg: { type: "string" },
          type: { type: "string" },
        },
        required: ["loc", "msg", "type"],
      },
    },
  },
  required: ["error", "detail", "errors"],
};

const VALIDATION_RESPONSE = { description: "Validation Error", content: { "application/json": { schema: VALIDATION_ERROR } } };

const ERROR: JsonSchema = {
  type: "object",
  properties: { error: { type: "string" }, detail: {} },
  required: ["error", "detail"],
};

const BINARY: JsonSchema = { type: "string", format: "binary" };

/** The route's success response (its `statusCode`, with its media type), 422, and the responses it declared. */
function responsesFor(route: Route): Record<string, unknown> {
  const { mediaType } = route;
  let schema: JsonSchema = {};
  if (mediaType !== undefined && !/^application\/(\*\+)?json\b/i.test(mediaType)) schema = mediaType.startsWith("text/") ? { type: "string" } : BINARY;
  const out: Record<string, unknown> = {
    [String(route.statusCode)]: { description: "Successful Response", content: { [mediaType ?? "application/json"]: { schema } } },
    "422": VALIDATION_RESPONSE,
  };
  for (const [status, declared] of Object.entries(route.responses)) out[status] = declaredResponse(Number(status), declared);
  return out;
}

/** A `responses` entry: an OpenAPI Response object as given, or a description (an error status gets the error body). */
function declaredResponse(status: number, declared: string | Readonly<Record<string, unknown>>): Record<string, unknown> {
  const reason = STATUS_CODES[status] ?? "Response";
  if (typeof declared !== "string") return { description: reason, ...declared };
  const description = declared || reason;
  return status >= 400 ? { description, content: { "application/json": { schema: ERROR } } } : { description };
}

interface Parameter {
  name: string;
  in: "path" | "query";
  required: boolean;
  schema: JsonSchema;
}

export function operationFor(route: Route): Operation {
  const json = route.schema ? inputJsonSchema(route.schema) : undefined;
  const schema = json ? inlineRefs(json) : undefined;
  let properties: Record<string, JsonSchema> | undefined;
  let required = new Set<string>();
  let namesOnly = false;
  if (schema && schema.type === "object" && isRecord(schema.properties)) {
    properties = schema.properties as Record<string, JsonSchema>;
    required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  } else if (!schema && route.schema) {
    // A library without JSON Schema: the names alone, where its object schema shows them.
    const keys = objectSchemaKeys(route.schema);
    if (keys) properties = Object.fromEntries(keys.map((k) => [k, {}]));
    namesOnly = true;
  }

  const parameters: Parameter[] = route.pathParams.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: (!namesOnly && properties?.[name]) || { type: "string" },
  }));
  // A streamed body is the handler's own: every argument then comes from the query string.
  const queryFirst = route.streamBody || route.methods.some((m) => BODYLESS.has(m));
  const bodyTaking = route.methods.some((m) => !BODYLESS.has(m));
  let body: JsonSchema | undefined;
  if (properties) {
    const bodyProperties: Record<string, JsonSchema> = {};
    const bodyRequired: string[] = [];
    for (const [name, prop] of Object.entries(properties)) {
      if (route.pathParams.includes(name)) continue;
      if (queryFirst && (namesOnly || isText(prop))) {
        parameters.push({ name, in: "query", required: required.has(name), schema: prop });
      } else {
        bodyProperties[name] = prop;
        if (required.has(name)) bodyRequired.push(name);
      }
    }
    if (Object.keys(bodyProperties).length > 0) {
      body = { type: "object", properties: bodyProperties };
      if (bodyRequired.length > 0) body.required = bodyRequired;
    }
  } else if (schema && bodyTaking) {
    body = schema; // not an object schema (a record, a union...): the body as a whole
  }
  // A route that takes no body method (GET only) cannot be sent what a query string cannot carry.
  if (!bodyTaking) body = undefined;

  const operation: Operation = {};
  if (route.summary) operation.summary = route.summary;
  if (parameters.length > 0) operation.parameters = parameters;
  if (route.streamBody && bodyTaking) {
    operation.requestBody = { content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } };
  } else if (body) {
    const bodyRequired = Array.isArray(body.required) && body.required.length > 0;
    operation.requestBody = { required: bodyRequired, content: { "application/json": { schema: body } } };
  }
  operation.responses = responsesFor(route);
  return operation;
}

/**
 * Whether a value of this schema can be written in a query string: a scalar, or a list of scalars
 * for a repeated key, or a union of those (`tags: string[] | string`). `listOk` is false inside a list.
 */
function isText(schema: JsonSchema, listOk = true, depth = 0): boolean {
  if (depth > 3) return false;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) return alternatives.every((s) => isRecord(s) && isText(s, listOk, depth + 1));
  if ("const" in schema) return isScalar(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.every(isScalar);
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length === 0 || types[0] === undefined) return false; // any value: could be an object
  return types.every((t) => {
    if (t === "string" || t === "number" || t === "integer" || t === "boolean" || t === "null") return true;
    if (t === "array") return listOk && isRecord(schema.items) && isText(schema.items, false, depth + 1);
    return false;
  });
}

function isScalar(value: unknown): boolean {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/**
 * The schema with its local references (`#/$defs/Name`, `#/definitions/Name`) replaced by what
 * they point at, since an operation's schemas must stand alone. A recursive reference becomes
 * `{}` (any value) where it recurs. `$schema` and `$defs` go.
 */
export function inlineRefs(schema: JsonSchema): JsonSchema {
  const defs: Record<string, unknown> = { ...(isRecord(schema.$defs) ? schema.$defs : {}), ...(isRecord(schema.definitions) ? schema.definitions : {}) };
  const resolve = (node: unknown, open: readonly string[]): unknown => {
    if (Array.isArray(node)) return node.map((n) => resolve(n, open));
    if (!isRecord(node)) return node;
    const ref = node.$ref;
    if (typeof ref === "string") {
      const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
      const name = match ? decodePointer(match[1]!) : undefined;
      if (name === undefined || !(name in defs) || open.includes(name)) return {};
      const { $ref: _ref, ...siblings } = node;
      const target = resolve(defs[name], [...open, name]) as JsonSchema;
      return Object.keys(siblings).length > 0 ? { ...target, ...(resolve(siblings, open) as JsonSchema) } : target;
    }
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === "$defs" || key === "definitions" || key === "$schema" || key === "$id") continue;
      out[key] = resolve(value, open);
    }
    return out;
  };
  return resolve(schema, []) as JsonSchema;
}

function decodePointer(segment: string): string {
  return decodeURIComponent(segment).replace(/~1/g, "/").replace(/~0/g, "~");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
