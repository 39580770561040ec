/**
 * A raw HTTP/1.1 client over `net`, for what fetch cannot send or show: pipelined requests in one
 * write, malformed heads, absolute-form targets, the exact status line and header bytes.
 */
import { connect, type Socket } from "node:net";
import { waitFor } from "./wait.js";

export interface RawResponse {
  /** The status line as sent, e.g. "HTTP/1.1 502 Bad Gateway". */
  readonly statusLine: string;
  readonly status: number;
  /** Header names in lower case; a repeated header keeps its last value. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

export class RawConnection {
  private readonly socket: Socket;
  private received = Buffer.alloc(0);
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => {});
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  write(data: string): void {
    this.socket.write(data);
  }

  /** Half-closes: sends FIN after `data`, and keeps reading. */
  end(data: string): void {
    this.socket.end(data);
  }

  /** The complete responses received so far, parsed (a bodiless status never carries a body). */
  responses(): RawResponse[] {
    const out: RawResponse[] = [];
    let rest = this.received;
    for (;;) {
      const end = rest.indexOf("\r\n\r\n");
      if (end < 0) return out;
      const [statusLine, ...lines] = rest.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(statusLine!.split(" ")[1]);
      const bodiless = status < 200 || status === 204 || status === 304;
      const length = bodiless ? 0 : Number(headers["content-length"] ?? 0);
      if (rest.length < end + 4 + length) return out;
      out.push({ statusLine: statusLine!, status, headers, body: rest.subarray(end + 4, end + 4 + length).toString("utf8") });
      rest = rest.subarray(end + 4 + length);
    }
  }

  /** Every byte received so far, as text. */
  raw(): string {
    return this.received.toString("latin1");
  }

  /** Waits for `n` complete responses (or fails when the connection closes with fewer). */
  async waitForResponses(n: number, timeoutMs = 15_000): Promise<RawResponse[]> {
    await waitFor(() => this.responses().length >= n || this.closed, timeoutMs);
    const responses = this.responses();
    if (responses.length < n) throw new Error(`connection closed after ${responses.length} of ${n} responses: ${JSON.stringify(this.raw())}`);
    return responses;
  }

  waitForClose(timeoutMs = 15_000): Promise<void> {
    return waitFor(() => this.closed, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends `data` on a new connection and returns the first `n` responses; the connection is closed after. */
export async function exchange(port: number, data: string, n = 1): Promise<RawResponse[]> {
  const conn = await RawConnection.open(port);
  try {
    conn.write(data);
    return await conn.waitForResponses(n);
  } finally {
    conn.close();
  }
}
