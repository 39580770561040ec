/**
 * Splits a byte stream into frames. Chunks are kept in a list and joined only once a whole frame
 * has arrived, so a large frame that trickles in is copied once, not once per chunk; and only that
 * frame's bytes are copied: the frames after it in the last chunk are decoded where they are (a
 * stream's 64 KiB BodyChunk frames straddle nearly every socket read, and joining whole reads
 * copied every byte twice). Once it has refused the stream it refuses everything after with the
 * same error: the bytes that follow a refused frame are that frame's, never the start of another.
 */
import { DEFAULT_MAX_FRAME, decodeFrame, ProtocolError } from "./codec.js";
import type { Message } from "./messages.js";

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: ProtocolError | undefined;

  constructor(private readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** Feeds bytes and returns every message they complete. Throws ProtocolError on bad input. */
  push(chunk: Buffer): Message[] {
    if (this.failure) throw this.failure;
    try {
      return this.decode(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.failure = err;
        this.chunks = [];
        this.buffered = 0;
      }
      throw err;
    }
  }

  private decode(chunk: Buffer): Message[] {
    const out: Message[] = [];
    let buf = chunk;
    if (this.buffered > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      // Join only when the pending frame is complete (or its length is still unknown).
      if (this.buffered < 4) return out;
      const first = this.chunks[0]!;
      const length = first.length >= 4 ? first.readUInt32BE(0) : Buffer.concat(this.chunks, 4).readUInt32BE(0);
      this.checkLength(length);
      const size = 4 + length;
      if (this.buffered < size) return out;
      // This chunk completes the frame: copy the frame's bytes alone. Whatever follows it can only
      // be the tail of this chunk, decoded below without a copy.
      const frame = Buffer.allocUnsafe(size);
      let filled = 0;
      for (const piece of this.chunks) {
        const take = Math.min(piece.length, size - filled);
        piece.copy(frame, filled, 0, take);
        filled += take;
        if (filled === size) {
          buf = piece.subarray(take);
          break;
        }
      }
      this.chunks = [];
      this.buffered = 0;
      out.push(decodeFrame(frame, 4, size));
    }
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = buf.readUInt32BE(offset);
      this.checkLength(length);
      const end = offset + 4 + length;
      if (end > buf.length) break;
      out.push(decodeFrame(buf, offset + 4, end));
      offset = end;
    }
    if (offset < buf.length) {
      this.chunks = [offset === 0 ? buf : buf.subarray(offset)];
      this.buffered = buf.length - offset;
    }
    return out;
  }

  /** Call at end of stream: leftover bytes mean the peer stopped inside a frame. */
  end(): void {
    if (this.buffered > 0) {
      throw new ProtocolError("truncated", `stream ended inside a frame (${this.buffered} bytes left over)`);
    }
  }

  private checkLength(length: number): void {
    if (length === 0) throw new ProtocolError("malformed", "frame length is 0 (a frame holds at least its type byte)");
    if (length > this.maxFrame) {
      throw new ProtocolError("too_large", `frame of ${length} bytes exceeds the limit of ${this.maxFrame}`);
    }
  }
}

