/**
 * An HTTP client for streamed responses (node:http): the body is kept as it arrives, so a test can
 * wait for a piece of it while the stream is still open, stop reading (backpressure), or hang up.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { waitFor } from "./wait.js";

export interface StreamRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** Written as the request body (then the request ends). */
  readonly body?: Buffer;
}

export class OpenStream {
  private readonly chunks: Buffer[] = [];
  /** Bytes received so far (also counted when `keep` is false). */
  bytes = 0;
  /** The response ended: `complete` says whether the whole body came (false: cut short). */
  ended = false;
  complete = false;
  /** Resolves once the response is over, whichever way. */
  readonly done: Promise<void>;

  constructor(
    readonly res: IncomingMessage,
    /** Keep the body (false: count it only, for big downloads). */
    private readonly keep = true,
  ) {
    res.on("data", (d: Buffer) => {
      this.bytes += d.length;
      if (keep) this.chunks.push(d);
    });
    this.done = new Promise((resolve) => {
      res.on("error", () => {}); // a cut-short body: `complete` stays false
      res.once("close", () => {
        this.ended = true;
        this.complete = res.complete;
        resolve();
      });
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.res.headers;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }

  /** Waits until the body received so far satisfies `check` (the stream may still be open). */
  async waitForBody(check: (text: string) => boolean, what: string): Promise<string> {
    await waitFor(() => check(this.text()) || (this.ended && check(this.text())), 20_000, () => `${what} (got ${JSON.stringify(this.text().slice(-200))})`);
    return this.text();
  }

  /** Reads the rest of the body (resuming a paused stream) until the response is over. */
  async rest(): Promise<string> {
    this.res.resume();
    await this.done;
    return this.text();
  }

  /** Hangs up: the connection closes mid-response. */
  hangUp(): void {
    this.res.socket?.destroy();
    this.res.destroy();
  }
}

/** Sends a request and resolves with the open response once its head has arrived. */
export function openStream(url: string, init: StreamRequest = {}, keep = true): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? "GET", headers: init.headers, agent: false }, (res) => resolve(new OpenStream(res, keep)));
    req.on("error", reject);
    req.end(init.body);
  });
}
