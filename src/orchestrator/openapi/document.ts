/**
 * The OpenAPI 3.1 document of the app, assembled by the orchestrator from the RouteRegistry. Each
 * SDK describes its routes: a route entry may carry `"openapi"`, an Operation Object (summary,
 * parameters, requestBody, responses, with inline schemas). For each route and method (lower
 * case; HEAD, answered like GET, is left out) `paths[path][method]` is that operation; a route
 * without one gets a minimal operation: its path parameters and a 200 response.
 *
 * Whatever a worker sends, the document stays valid: an `openapi` entry that is not an object is
 * ignored with a warning, every `{name}` of the path is declared as a path parameter, and a
 * repeated operationId (the same operation under GET and POST) gets the method as a suffix.
 *
 * It also tells what the server itself answers, which no SDK knows: a GET operation has no
 * requestBody (browsers and /docs cannot send one); an operation with a body documents 400 (not
 * valid JSON, or nested too deeply) and 413 (over --max-body-size). (Each SDK documents its 422.)
 */
import type { RouteInfo } from "../../protocol/messages.js";

export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
}

export type Operation = Record<string, unknown>;

interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

/** The HTTP methods an OpenAPI Path Item can describe. */
const OPERATION_METHODS = new Set(["get", "put", "post", "delete", "options", "patch", "trace"]);

/** `/users/{user_id}/posts/{post_id}` → `["user_id", "post_id"]`. */
export function pathParameterNames(path: string): string[] {
  return [...path.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]!);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The operation a route gets when its SDK sent none. */
function minimalOperation(path: string): Operation {
  const parameters = pathParameterNames(path).map(pathParameter);
  return { ...(parameters.length > 0 ? { parameters } : {}), responses: { "200": { description: "OK" } } };
}

function pathParameter(name: string): Record<string, unknown> {
  return { name, in: "path", required: true, schema: { type: "string" } };
}

const ERROR_SCHEMA = {
  type: "object",
  properties: { error: { type: "string" }, detail: {} },
  required: ["error", "detail"],
};

const errorResponse = (description: string): Record<string, unknown> => ({
  description,
  content: { "application/json": { schema: ERROR_SCHEMA } },
});

/** Responses the server gives for an operation with a body, whatever the SDK. */
const BODY_RESPONSES: Record<string, Record<string, unknown>> = {
  "400": errorResponse("The body is not valid JSON, or is nested too deeply"),
  "413": errorResponse("The body is larger than the server's --max-body-size"),
};

/**
 * Declares the path parameters the SDK's operation left out and a 200 response if it has no
 * responses; drops a GET's requestBody; adds the server's own error responses.
 */
function completeOperation(path: string, method: string, operation: Operation): Operation {
  const names = pathParameterNames(path);
  if (names.length > 0) {
    const given = Array.isArray(operation.parameters) ? operation.parameters : operation.parameters === undefined ? [] : null;
    if (given !== null) {
      const declared = new Set(given.filter((p) => isObject(p) && p.in === "path").map((p) => (p as { name?: unknown }).name));
      const missing = names.filter((n) => !declared.has(n)).map(pathParameter);
      if (missing.length > 0) operation.parameters = [...given, ...missing];
    }
  }
  if (!isObject(operation.responses)) operation.responses = { "200": { description: "OK" } };
  if (method === "get") delete operation.requestBody;
  const responses = operation.responses as Record<string, unknown>;
  if (operation.requestBody !== undefined) {
    for (const [status, response] of Object.entries(BODY_RESPONSES)) responses[status] ??= response;
  }
  return operation;
}

/**
 * Builds the document for `routes`. `warn` hears about route entries whose `openapi` is not an
 * object (they get the minimal operation).
 */
export function buildOpenApiDocument(routes: readonly RouteInfo[], info: OpenApiInfo, warn: (message: string) => void = () => {}): OpenApiDocument {
  const paths: OpenApiDocument["paths"] = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    const given = (route as RouteInfo & { openapi?: unknown }).openapi;
    let described: Operation | null = null;
    if (isObject(given)) described = given;
    else if (given !== undefined) warn(`route ${route.path}: its "openapi" entry is not an object; listing it with a minimal operation`);
    const item = (paths[route.path] ??= {});
    for (const method of new Set(route.methods.map((m) => m.toLowerCase()))) {
      if (!OPERATION_METHODS.has(method) || item[method] !== undefined) continue;
      const operation = completeOperation(route.path, method, described ? structuredClone(described) : minimalOperation(route.path));
      if (typeof operation.operationId === "string") {
        let id = operation.operationId;
        if (operationIds.has(id)) id = `${id}_${method}`;
        for (let n = 2; operationIds.has(id); n++) id = `${operation.operationId}_${method}_${n}`;
        operation.operationId = id;
        operationIds.add(id);
      }
      item[method] = operation;
    }
    if (Object.keys(item).length === 0) delete paths[route.path];
  }
  return { openapi: "3.1.0", info: { title: info.title, version: info.version }, paths };
}
