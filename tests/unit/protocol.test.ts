/** The TypeScript codec against protocol/vectors.json, in both directions, plus malformed input. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeMessage, encodeTaskAssignment, ProtocolError } from "../../src/protocol/codec.js";
import { FrameDecoder } from "../../src/protocol/frame-decoder.js";
import type { Message, RouteInfo } from "../../src/protocol/messages.js";
import { repoRoot } from "../support/paths.js";

interface Vectors {
  max_frame: number;
  valid: { name: string; hex: string; message: Record<string, unknown> }[];
  invalid: { name: string; hex: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(join(repoRoot, "protocol", "vectors.json"), "utf8")) as Vectors;

/** Turns a decoded message into the vectors' form: snake_case keys, bytes as `*_hex`. */
function toVectorForm(m: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(m)) {
    const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (Buffer.isBuffer(value)) out[`${snake}_hex`] = value.toString("hex");
    else if (key === "routes") out[snake] = (value as RouteInfo[]).map(routeToVectorForm);
    else out[snake] = value;
  }
  return out;
}

/** A route's camelCase keys as the wire's snake_case (RouteRegistry is JSON, decoded key by key). */
function routeToVectorForm(route: RouteInfo): Record<string, unknown> {
  return Object.fromEntries(Object.entries(route).map(([key, value]) => [snake(key), value]));
}
const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The inverse of toVectorForm. */
function fromVectorForm(v: Record<string, unknown>): Message {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v)) {
    if (key.endsWith("_hex")) out[camel(key.slice(0, -4))] = Buffer.from(value as string, "hex");
    else if (key === "routes") out[key] = (value as Record<string, unknown>[]).map((route) => Object.fromEntries(Object.entries(route).map(([k, v]) => [camel(k), v])));
    else out[camel(key)] = value;
  }
  return out as unknown as Message;
}
const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function decodeAll(bytes: Buffer, chunkSize: number): Message[] {
  const decoder = new FrameDecoder(vectors.max_frame);
  const out: Message[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) out.push(...decoder.push(bytes.subarray(i, i + chunkSize)));
  decoder.end();
  return out;
}

describe("protocol vectors: valid frames", () => {
  for (const v of vectors.valid) {
    it(`decodes ${v.name}`, () => {
      const bytes = Buffer.from(v.hex, "hex");
      for (const chunk of [bytes.length, 1, 3]) {
        const messages = decodeAll(bytes, chunk);
        assert.equal(messages.length, 1);
        assert.deepEqual(toVectorForm(messages[0]!), v.message);
      }
    });
    it(`encodes ${v.name}`, () => {
      assert.equal(encodeMessage(fromVectorForm(v.message)).toString("hex"), v.hex);
    });
  }

  it("decodes every valid frame from one concatenated stream, however the reads split it", () => {
    const stream = Buffer.concat(vectors.valid.map((v) => Buffer.from(v.hex, "hex")));
    for (const chunk of [1, 2, 3, 5, 7, 64, 1000, stream.length]) {
      assert.deepEqual(decodeAll(stream, chunk).map(toVectorForm), vectors.valid.map((v) => v.message), `reads of ${chunk} bytes`);
    }
  });
});

describe("protocol vectors: invalid input", () => {
  for (const v of vectors.invalid) {
    for (const chunk of ["whole", "byte by byte"] as const) {
      it(`rejects ${v.name} (${chunk}) as ${v.error}`, () => {
        const bytes = Buffer.from(v.hex, "hex");
        assert.throws(
          () => decodeAll(bytes, chunk === "whole" ? Math.max(1, bytes.length) : 1),
          (err: unknown) => err instanceof ProtocolError && err.kind === v.error,
        );
      });
    }
  }

  it("rejects an absurd length from the first 4 bytes, without waiting for the body", () => {
    const decoder = new FrameDecoder(vectors.max_frame);
    assert.throws(() => decoder.push(Buffer.from("7fffffff", "hex")), (e: unknown) => (e as ProtocolError).kind === "too_large");
  });
});

describe("protocol encoder", () => {
  it("refuses a string too long for its length prefix instead of writing a corrupt frame", () => {
    assert.throws(() => encodeTaskAssignment(1, "X".repeat(300), "/", "/", "", [], [], "", "", 0, Buffer.alloc(0)), RangeError);
  });

  it("encodes multi-byte UTF-8 paths with exact lengths", () => {
    const frame = encodeTaskAssignment(5, "GET", "/é", "/é", "q=ü", [["id", "日本"]], [], "ü-1", "", 0, Buffer.from("x"));
    const [m] = new FrameDecoder().push(frame);
    assert.deepEqual(toVectorForm(m!), {
      type: "TaskAssignment", task_id: 5, method: "GET", route: "/é", path: "/é", query: "q=ü",
      params: [["id", "日本"]], headers: [], request_id: "ü-1", client_host: "", client_port: 0, body_hex: "78",
    });
  });
});

describe("a decoder that refused a frame", () => {
  it("refuses what follows with the same error, never reading the refused frame's body as frames", () => {
    const decoder = new FrameDecoder(1024);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(1025, 0);
    head[4] = 0x11;
    const refused = (): unknown => decoder.push(Buffer.concat([head, Buffer.alloc(100, "x")]));
    assert.throws(refused, (err: ProtocolError) => err.kind === "too_large" && /1025 bytes/.test(err.message));
    for (const more of [Buffer.alloc(2000, "x"), Buffer.from("0000000102", "hex")]) {
      assert.throws(() => decoder.push(more), (err: ProtocolError) => err.kind === "too_large" && /1025 bytes/.test(err.message));
    }
  });
});
