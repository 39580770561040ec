/**
 * Splits a worker's stdout or stderr into lines of at most MAX_LINE_BYTES. A handler that prints
 * hundreds of megabytes without a newline must not make the orchestrator hold them (readline
 * would, until V8's string limit crashed it): a longer line is passed on in pieces, each but the
 * last marked as split. Memory held: one piece, whatever the worker writes.
 */
import type { Readable } from "node:stream";

export const MAX_LINE_BYTES = 16 * 1024;

/** Appended to a piece of a line that continues in the next piece. */
export const SPLIT_MARK = ` [neutrino: line longer than ${MAX_LINE_BYTES / 1024} KiB, split; continued on the next line]`;

const NEWLINE = 0x0a;

/** Calls `emit` with each line of `input` (without its "\n" or "\r\n"), long lines in pieces. */
export function forEachLine(input: Readable, emit: (line: string, split: boolean) => void, maxBytes = MAX_LINE_BYTES): void {
  const pending = Buffer.alloc(maxBytes);
  let length = 0;
  let continued = false; // the last piece was split: a newline right after it ends that line
  const flush = (split: boolean): void => {
    if (!split && length === 0 && continued) {
      continued = false;
      return;
    }
    continued = split;
    let end = length;
    if (split) {
      // Not inside a UTF-8 character: back off over its continuation bytes (10xxxxxx).
      while (end > 0 && (pending[end - 1]! & 0xc0) === 0x80) end--;
      if (end > 0 && pending[end - 1]! >= 0xc0) end--;
      if (end === 0) end = length; // not UTF-8 at all: cut anywhere
    } else if (end > 0 && pending[end - 1] === 0x0d) {
      end--;
    }
    emit(pending.toString("utf8", 0, end), split);
    // A split piece leaves the bytes of a cut character for the next piece; a whole line leaves nothing.
    const consumed = split ? end : length;
    pending.copy(pending, 0, consumed, length);
    length -= consumed;
  };
  input.on("data", (chunk: Buffer) => {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      const stop = newline < 0 ? chunk.length : newline;
      // Copy what fits; a full buffer goes out as a split piece.
      while (start < stop) {
        const n = Math.min(stop - start, maxBytes - length);
        chunk.copy(pending, length, start, start + n);
        length += n;
        start += n;
        if (length === maxBytes) flush(true);
      }
      if (newline >= 0) {
        flush(false);
        start = newline + 1;
      }
    }
  });
  input.on("end", () => {
    if (length > 0) flush(false);
  });
}
