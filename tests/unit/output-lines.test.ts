/** Worker output split into bounded lines (src/orchestrator/workers/output-lines.ts). */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { it } from "node:test";
import { forEachLine } from "../../src/orchestrator/workers/output-lines.js";

/** Feeds `chunks` through forEachLine with a tiny bound and returns what it emitted. */
async function split(chunks: (string | Buffer)[], maxBytes = 8): Promise<[string, boolean][]> {
  const input = new PassThrough();
  const out: [string, boolean][] = [];
  forEachLine(input, (line, isSplit) => out.push([line, isSplit]), maxBytes);
  for (const c of chunks) input.write(typeof c === "string" ? Buffer.from(c) : c);
  input.end();
  await new Promise((resolve) => input.once("end", resolve));
  return out;
}

it("passes short lines whole, across chunks, without their \\n or \\r\\n, and the last line without one", async () => {
  assert.deepEqual(await split(["ab\ncd", "e\r\n\nf"]), [["ab", false], ["cde", false], ["", false], ["f", false]]);
});

it("cuts a line longer than the bound into marked pieces, the last unmarked, with no empty line after an exact fit", async () => {
  assert.deepEqual(await split(["0123456789abcdefXY\n", "12345678", "\nz\n"]), [
    ["01234567", true],
    ["89abcdef", true],
    ["XY", false],
    ["12345678", true],
    ["z", false],
  ]);
});

it("never cuts inside a UTF-8 character", async () => {
  // "aaaaaaa" then "é" (2 bytes): the 8-byte bound falls inside the é, which moves to the next piece.
  const lines = await split(["aaaaaaaé", "bb\n"]);
  assert.deepEqual(lines, [["aaaaaaa", true], ["ébb", false]]);
});
