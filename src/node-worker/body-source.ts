/**
 * A streamed response body as the Connection pulls it: one chunk at a time, only when the
 * orchestrator's window allows (so a slow client slows the handler), and cancellable at once
 * when the task is abandoned, which runs the handler's `finally` blocks.
 */

/** Turns one item the body yields into bytes; throws a TypeError for an item it cannot send. */
export type Encode = (item: unknown) => Buffer;

export class BodySource {
  private constructor(
    private readonly pull: () => Promise<Buffer | undefined>,
    private readonly stop: () => void,
    /** Names the stream in the log when it fails: `stream of handler "x" on GET /x`. */
    readonly label: string,
  ) {}

  /** A source over a ReadableStream, an async iterable or an iterable (a generator). */
  static from(
    body: ReadableStream<unknown> | AsyncIterable<unknown> | Iterable<unknown>,
    encode: Encode = bytesOnly,
    label = "streamed response",
  ): BodySource {
    if (body instanceof ReadableStream) {
      // A reader, not the stream's async iterator: cancel() must settle a read that is pending.
      const reader = body.getReader();
      return new BodySource(
        async () => {
          const r = await reader.read();
          return r.done ? undefined : encode(r.value);
        },
        () => void reader.cancel().catch(() => {}),
        label,
      );
    }
    if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
      const it = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      return new BodySource(
        async () => {
          const r = await it.next();
          return r.done ? undefined : encode(r.value);
        },
        () => closeIterator(it),
        label,
      );
    }
    const it = (body as Iterable<unknown>)[Symbol.iterator]();
    return new BodySource(
      async () => {
        const r = it.next();
        return r.done ? undefined : encode(r.value);
      },
      () => closeIterator(it),
      label,
    );
  }

  /** The next chunk, or undefined at the end. Rejects with what the body threw. */
  next(): Promise<Buffer | undefined> {
    return this.pull();
  }

  /**
   * Stops the body: cancels the stream's reader, or calls the iterator's return(), which runs a
   * generator's `finally` blocks (at its next yield, if it is awaiting something now).
   */
  cancel(): void {
    this.stop();
  }
}

function closeIterator(it: Iterator<unknown> | AsyncIterator<unknown>): void {
  // return() may throw, return a rejecting promise (a finally that throws), or be missing.
  Promise.resolve()
    .then(() => it.return?.())
    .catch(() => {});
}

/** Chunks of a stream that must already be bytes (a fetch app's body). */
function bytesOnly(item: unknown): Buffer {
  if (item instanceof Uint8Array) return Buffer.isBuffer(item) ? item : Buffer.from(item.buffer, item.byteOffset, item.byteLength);
  throw new TypeError(`a streamed body must yield bytes (Uint8Array), not ${item === null ? "null" : typeof item}`);
}
