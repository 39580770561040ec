/**
 * TLS for the edge tests: self-signed certificates made with openssl for the test, and real
 * clients (node:http2 negotiating h2 by ALPN, node:https speaking HTTP/1.1) that check the
 * server's certificate against it.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders as Http2Headers } from "node:http2";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";

export interface CertFiles {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  readonly certPem: Buffer;
}

/** A new directory for certificates; remove it with `rmSync(dir, { recursive: true })`. */
export function certDir(): string {
  return mkdtempSync(join(tmpdir(), "neutrino-tls-"));
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 with common name `cn`, written to
 * `<name>.crt` and `<name>.key` in `dir` (a password-protected key when `password` is given).
 */
export function makeCert(dir: string, cn: string, name = "server", password?: string): CertFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-subj", `/CN=${cn}`,
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", key, "-out", cert,
      ...(password === undefined ? ["-nodes"] : ["-passout", `pass:${password}`]),
    ],
    { stdio: "ignore" },
  );
  return { dir, cert, key, certPem: readFileSync(cert) };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface TlsReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: any;
  /** The protocol ALPN chose: "h2", or false for HTTP/1.1 without ALPN. */
  readonly alpn: string | false;
}

/** One GET over HTTP/2 (ALPN h2), the server's certificate checked against `ca`. */
export async function h2Get(origin: string, path: string, ca: Buffer, headers: Record<string, string> = {}): Promise<TlsReply> {
  const session = http2Connect(origin, { ca });
  try {
    return await h2Request(session, path, headers);
  } finally {
    session.close();
  }
}

/** One request on an open HTTP/2 session (a GET, or a POST of `body`). */
export function h2Request(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}, body?: string): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    session.once("error", reject);
    const stream = session.request({ ":path": path, ...(body === undefined ? {} : { ":method": "POST" }), ...headers });
    let head: Http2Headers = {};
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (head = h));
    stream.on("data", (d: string) => (text += d));
    stream.on("error", reject);
    stream.on("end", () => {
      const alpn = session.alpnProtocol ?? false;
      resolve({ status: Number(head[":status"]), headers: head as TlsReply["headers"], text, json: parse(text), alpn });
    });
    stream.end(body);
  });
}

/** One GET over HTTPS with HTTP/1.1 (node:https offers no ALPN), the certificate checked against `ca`. */
export function httpsGet(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text, json: parse(text), alpn: (res.socket as { alpnProtocol?: string | false }).alpnProtocol ?? false }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The common name of the certificate a new TLS connection to `port` is served. */
export function servedCommonName(port: number, ca?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: "127.0.0.1", servername: "localhost", ca, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(String(cn));
    });
    socket.on("error", reject);
  });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
