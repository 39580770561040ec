/**
 * Builds a handler's arguments object from one TaskAssignment, with the Python worker's rules
 * (python/src/neutrino/internal/worker/arguments.py), adapted to a handler that takes ONE object:
 *
 * - the one rule both SDKs document: a path parameter comes from the path; any other name from
 *   the query string if it is there (on any method), else from the JSON body. An earlier source is
 *   never overridden by a later one: a body cannot change the path parameters that chose the route;
 * - query values are strings; a repeated key gives an array of strings;
 * - the body is read as JSON whatever the Content-Type (curl -d sends a form type); an empty body
 *   gives nothing; a JSON object gives its members; any other JSON value (array, string, number,
 *   true/false/null) is the single argument `body`, where Python passes it to the first parameter;
 * - with a schema, the schema validates and converts the object. Query and path values are text,
 *   so where the schema rejects one, a numeric text ("2", "-1.5e3") is tried as a number and
 *   "true"/"false" as a boolean, and the schema runs once more: `z.number()` takes `?x=2`, while a
 *   `z.string()` still gets "2".
 */
import type { Pair } from "../protocol/messages.js";
import type { StandardSchemaV1 } from "../sdk/standard-schema.js";

/**
 * Where an argument came from: the first element of an error's `loc`, as in Python. A form field
 * is text like a query value, but errors place it in the "body".
 */
export type Source = "query" | "body" | "path" | "form";

export interface ArgumentError {
  readonly loc: (string | number)[];
  readonly msg: string;
  /** The schema library's issue code when it has one (zod: invalid_type, unrecognized_keys, ...). */
  readonly type: string;
}

/** The request body is not valid JSON (HTTP 400). */
export class InvalidBody extends Error {
  override name = "InvalidBody";
}

/** The arguments do not satisfy the route's schema (HTTP 422). */
export class InvalidArguments extends Error {
  override name = "InvalidArguments";
  readonly errors: ArgumentError[];
  constructor(errors: readonly ArgumentError[]) {
    const reported = errors.slice(0, MAX_REPORTED_ERRORS);
    const more = errors.length - reported.length;
    const text = reported.map((e) => (e.loc.length > 1 ? `${e.loc.slice(1).join(".")}: ${e.msg}` : e.msg)).join("; ");
    super(more > 0 ? `${text}; and ${more} more` : text);
    this.errors = reported;
  }
}

export interface RawArguments {
  readonly values: Record<string, unknown>;
  /** Where each name came from. */
  readonly sources: Map<string, Source>;
  /** The request had a body, or its route takes one: errors about a missing name blame the body. */
  readonly hasBody: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * How deeply a JSON body may nest. JSON.parse itself is iterative, but what runs on the value
 * next is not: a recursive schema (z.lazy) or JSON.stringify of an echoed value overflows the
 * stack some thousands of levels down. No real request comes near this.
 */
export const MAX_JSON_DEPTH = 128;

/** A 422 lists at most this many issues: a large array of wrong elements must not give a far larger answer. */
export const MAX_REPORTED_ERRORS = 100;

/**
 * `rawBodyOk`: the handler reads the Request, so a body that is not JSON is its business
 * (`request.body`), not a 400; it then supplies no arguments. `bodyRoute`: the route takes only
 * methods with a body (POST, PUT, PATCH), so arguments missing from an empty one are the body's.
 * `form`: the body's fields when it is a form (forms.ts), bound by name as query values are.
 */
export function collectArguments(
  query: string,
  params: readonly Pair[],
  body: Buffer,
  rawBodyOk = false,
  bodyRoute = false,
  form?: readonly [string, string | File][],
): RawArguments {
  const values: Record<string, unknown> = {};
  const sources = new Map<string, Source>();
  for (const [name, text] of params) {
    setOwn(values, name, text);
    sources.set(name, "path");
  }
  if (query !== "") {
    for (const [name, text] of new URLSearchParams(query)) {
      const source = sources.get(name);
      if (source === undefined) {
        setOwn(values, name, text);
        sources.set(name, "query");
      } else if (source === "query") {
        const previous = values[name];
        if (Array.isArray(previous)) previous.push(text);
        else setOwn(values, name, [previous, text]);
      }
    }
  }
  const hasBody = body.length > 0;
  if (form !== undefined) {
    for (const [name, value] of form) {
      const source = sources.get(name);
      if (source === undefined) {
        setOwn(values, name, value);
        sources.set(name, "form");
      } else if (source === "form") {
        const previous = values[name];
        if (Array.isArray(previous)) previous.push(value);
        else setOwn(values, name, [previous, value]);
      }
    }
  } else if (hasBody) {
    let data: unknown;
    try {
      data = parseJson(body);
    } catch (err) {
      if (rawBodyOk) return { values, sources, hasBody };
      throw err;
    }
    if (typeof data === "object" && data !== null && !Array.isArray(data)) {
      for (const [name, value] of Object.entries(data)) {
        if (sources.has(name)) continue;
        setOwn(values, name, value);
        sources.set(name, "body");
      }
    } else if (!sources.has("body")) {
      setOwn(values, "body", data);
      sources.set("body", "body");
    }
  }
  return { values, sources, hasBody: hasBody || bodyRoute };
}

/** Runs the schema over the arguments; resolves with its output or rejects with InvalidArguments. */
export async function validateArguments(schema: StandardSchemaV1, raw: RawArguments): Promise<unknown> {
  // Called as a method: the spec does not promise that validate works without its object.
  const props = schema["~standard"];
  const first = await props.validate(raw.values);
  if (!first.issues) return first.value;
  const converted = convertRejectedText(raw, first.issues);
  if (!converted) throw new InvalidArguments(first.issues.map((i) => toError(i, raw)));
  const second = await props.validate(converted);
  if (!second.issues) return second.value;
  throw new InvalidArguments(second.issues.map((i) => toError(i, raw)));
}

function parseJson(body: Buffer): unknown {
  let value: unknown;
  let text: string;
  try {
    text = utf8.decode(body);
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidBody(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) throw new InvalidBody(`request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/** Whether valid JSON text opens more than `limit` arrays or objects inside one another; a loop, not recursion. */
export function nestedDeeperThan(text: string, limit: number): boolean {
  if (text.length <= 2 * limit) return false; // each level takes an opening and a closing character
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Assigns without letting a "__proto__" key from the request change the object's prototype. */
function setOwn(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === "__proto__") Object.defineProperty(target, name, { value, writable: true, enumerable: true, configurable: true });
  else target[name] = value;
}

/**
 * A copy of the arguments where each query or path value that an issue points at is converted
 * from text, or null when no such value converts (retrying would give the same issues).
 */
function convertRejectedText(raw: RawArguments, issues: readonly StandardSchemaV1.Issue[]): Record<string, unknown> | null {
  let copy: Record<string, unknown> | null = null;
  for (const issue of issues) {
    const path = pathOf(issue);
    const name = path[0];
    if (name === undefined || path.length > 2) continue;
    const source = raw.sources.get(String(name));
    if (source !== "query" && source !== "path" && source !== "form") continue;
    const current = (copy ?? raw.values)[name];
    if (path.length === 1 && typeof current === "string") {
      const value = fromText(current);
      if (value === undefined) continue;
      copy ??= { ...raw.values };
      setOwn(copy, String(name), value);
    } else if (path.length === 2 && Array.isArray(current) && typeof path[1] === "number") {
      const element: unknown = current[path[1]];
      const value = typeof element === "string" ? fromText(element) : undefined;
      if (value === undefined) continue;
      copy ??= { ...raw.values };
      let array = copy[name] as unknown[];
      if (array === raw.values[name]) setOwn(copy, String(name), (array = [...array])); // never touch the request's own array
      array[path[1]] = value;
    }
  }
  return copy;
}

const NUMBER_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function fromText(text: string): number | boolean | undefined {
  if (text === "true") return true;
  if (text === "false") return false;
  if (!NUMBER_TEXT.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function pathOf(issue: StandardSchemaV1.Issue): (string | number)[] {
  if (!issue.path) return [];
  return issue.path.map((segment) => {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment;
    return typeof key === "number" || typeof key === "string" ? key : String(key);
  });
}

function toError(issue: StandardSchemaV1.Issue, raw: RawArguments): ArgumentError {
  const path = pathOf(issue);
  // An issue about the whole object, or about a name nobody sent, is blamed on where the request
  // carried its arguments: the body if it had one, else the query string (as in Python).
  const fallback: Source = raw.hasBody ? "body" : "query";
  const from = path.length > 0 ? (raw.sources.get(String(path[0])) ?? fallback) : fallback;
  const source = from === "form" ? "body" : from;
  const code = (issue as { code?: unknown }).code;
  return { loc: [source, ...path], msg: issue.message, type: typeof code === "string" ? code : "invalid" };
}
