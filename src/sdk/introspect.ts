/**
 * What can be learned about a route's schema without knowing its library: the keys of an object
 * schema (for start-up checks) and its JSON Schema (for OpenAPI).
 *
 * JSON Schema comes from the Standard JSON Schema interface (https://standardschema.dev):
 * `schema["~standard"].jsonSchema.input({ target })`, which zod 4.2+ and arktype implement
 * natively and valibot through `toStandardJsonSchema` from `@valibot/to-json-schema`. A schema
 * without it (or one whose conversion throws) simply has no JSON Schema.
 */
import type { StandardSchemaV1 } from "./standard-schema.js";

export type JsonSchema = Record<string, unknown>;

interface JsonSchemaConverter {
  readonly input: (options: { readonly target: string }) => JsonSchema;
}

/**
 * The JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) of what the schema accepts, or undefined
 * when the schema's library cannot say.
 */
export function inputJsonSchema(schema: StandardSchemaV1): JsonSchema | undefined {
  const converter = (schema["~standard"] as { jsonSchema?: Partial<JsonSchemaConverter> }).jsonSchema;
  if (typeof converter !== "object" || converter === null || typeof converter.input !== "function") return undefined;
  try {
    const out = converter.input({ target: "draft-2020-12" });
    return typeof out === "object" && out !== null && !Array.isArray(out) ? out : undefined;
  } catch {
    return undefined; // the library cannot represent this schema (zod: dates, bigints, transforms...)
  }
}

/**
 * The keys of an object schema: zod's `.shape`, valibot's `.entries`, or the `properties` of its
 * JSON Schema. Undefined when the schema is not an object schema these can see into.
 */
export function objectSchemaKeys(schema: StandardSchemaV1): string[] | undefined {
  const s = schema as unknown as { shape?: unknown; entries?: unknown; type?: unknown };
  const vendor = schema["~standard"].vendor;
  try {
    if (vendor === "zod" && isRecord(s.shape)) return Object.keys(s.shape);
    if (vendor === "valibot" && typeof s.type === "string" && s.type.endsWith("object") && isRecord(s.entries)) {
      return Object.keys(s.entries);
    }
  } catch {
    // A getter that throws: fall through to JSON Schema.
  }
  const json = inputJsonSchema(schema);
  if (json && json.type === "object" && isRecord(json.properties)) return Object.keys(json.properties);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
