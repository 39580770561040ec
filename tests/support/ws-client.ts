/**
 * A `ws` client for the WebSocket tests: connects through the real server, queues what arrives
 * and lets a test await the next message, the close, or a refused handshake's HTTP answer.
 */
import WebSocket from "ws";

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** A refused handshake: the HTTP answer the server sent instead of 101. */
export interface Refused {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export class WsClient {
  private readonly messages: (string | Buffer)[] = [];
  private waiters: (() => void)[] = [];
  closed: Closed | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, binary: boolean) => {
      this.messages.push(binary ? data : data.toString("utf8"));
      this.wake();
    });
    ws.on("close", (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString("utf8") };
      this.wake();
    });
    ws.on("error", () => {}); // 'close' follows
  }

  /** Opens a WebSocket to `url` (ws://…); rejects with the HTTP answer if the handshake is refused. */
  static open(url: string, protocols: string[] = [], options: WebSocket.ClientOptions = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options);
      ws.once("open", () => resolve(new WsClient(ws)));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { refused: { status: res.statusCode!, headers: res.headers, body } })));
      });
      ws.once("error", reject);
    });
  }

  /** The HTTP answer of a handshake the server refuses. */
  static async refused(url: string, protocols: string[] = []): Promise<Refused> {
    try {
      const client = await WsClient.open(url, protocols);
      client.ws.terminate();
    } catch (err) {
      const refused = (err as { refused?: Refused }).refused;
      if (refused) return refused;
      throw err;
    }
    throw new Error(`the handshake to ${url} was accepted`);
  }

  /** The next message (string for text, Buffer for binary); rejects if the connection closes first. */
  async next(): Promise<string | Buffer> {
    while (this.messages.length === 0) {
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting for a message`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.messages.shift()!;
  }

  /** Resolves with the close code and reason once the connection is closed. */
  async whenClosed(): Promise<Closed> {
    while (this.closed === null) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** `http://host:port` → `ws://host:port`. */
export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, "ws");
}
