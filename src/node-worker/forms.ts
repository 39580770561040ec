/**
 * HTML form bodies (application/x-www-form-urlencoded, multipart/form-data), parsed once in the
 * worker by the Fetch API's own parser (`Response.formData()`, undici): the orchestrator passes
 * the raw bytes, since parsing there would mean encoding every field again into the frame. A
 * field is a string, a file part a web `File`. Mirrors python/src/neutrino/internal/worker/forms.py.
 */
import type { Pair } from "../protocol/messages.js";
import { InvalidBody } from "./arguments.js";

/** Fields one form may have: each costs an object, so a million empty fields must not cost a million. */
export const MAX_FORM_FIELDS = 1000;

/** More than MAX_FORM_FIELDS fields (HTTP 413). */
export class FormTooLarge extends InvalidBody {
  override name = "FormTooLarge";
}

/**
 * The Content-Type of a form body among the task's headers, or undefined when the body is not a
 * form. `curl -d '{"x": 1}'` labels JSON as urlencoded: a body that starts like JSON is JSON.
 */
export function formContentType(headers: readonly Pair[], body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  for (const [name, value] of headers) {
    if (name !== "content-type") continue;
    const media = value.split(";", 1)[0]!.trim().toLowerCase();
    if (media === "multipart/form-data") return value;
    if (media !== "application/x-www-form-urlencoded") return undefined;
    const first = body.subarray(0, 64).toString("latin1").trimStart()[0];
    return first === "{" || first === "[" ? undefined : value;
  }
  return undefined;
}

export async function parseForm(contentType: string, body: Buffer): Promise<[string, string | File][]> {
  let form: FormData;
  try {
    form = await new globalThis.Response(body as unknown as BodyInit, { headers: { "content-type": contentType } }).formData();
  } catch (err) {
    throw new InvalidBody(`request body is not a valid form: ${(err as Error).message}`);
  }
  const fields: [string, string | File][] = [];
  for (const entry of form) {
    if (fields.length === MAX_FORM_FIELDS) throw new FormTooLarge(`the form has more than ${MAX_FORM_FIELDS} fields`);
    fields.push(entry);
  }
  return fields;
}
