/**
 * X-Request-Id: the client's own id when it sent a usable one, else one made here. It is returned
 * on every response, sent to the worker (TaskAssignment.request_id, a str8) and used in the logs.
 */
import { randomBytes } from "node:crypto";

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * 1 to 128 characters that are safe in a header, a log line and a URL (the wire field is a str8;
 * ids are ASCII).
 */
const USABLE = /^[A-Za-z0-9._~:/+=-]{1,128}$/;

/**
 * Generated ids are a random per-process prefix (48 bits, base64url) and a counter in base 36:
 * unique across restarts and processes, short (`k3Jx_0aQ-1a2b`), and about ten times cheaper to
 * make than a random UUID — this runs once per request.
 */
const PREFIX = `${randomBytes(6).toString("base64url")}-`;
let counter = 0;

export function generateRequestId(): string {
  return PREFIX + (++counter).toString(36);
}

/** Whether a client's X-Request-Id can be used as it is. */
export function isUsableRequestId(value: string): boolean {
  return USABLE.test(value);
}

/** The request's id: its `x-request-id` header when usable, else a new one. */
export function requestIdFor(header: string | string[] | undefined): string {
  return typeof header === "string" && USABLE.test(header) ? header : generateRequestId();
}
