/**
 * Open streams by kind, for /metrics (`neutrino_streams_open{kind}`) and the status page: streamed
 * responses, streamed request bodies and WebSockets are long-lived, so a gauge says how many hold
 * worker slots right now.
 */
export const STREAM_KINDS = ["response", "request", "websocket"] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export class OpenStreams {
  private readonly counts: Record<StreamKind, number> = { response: 0, request: 0, websocket: 0 };

  /** Counts one stream of `kind` as open; the returned function closes it (once, however often called). */
  open(kind: StreamKind): () => void {
    this.counts[kind]++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.counts[kind]--;
    };
  }

  count(kind: StreamKind): number {
    return this.counts[kind];
  }

  /** `{response, request, websocket}`: a copy, for the status page. */
  snapshot(): Record<StreamKind, number> {
    return { ...this.counts };
  }
}
