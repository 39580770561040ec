/**
 * Where the main port listens: TCP addresses, Unix sockets and inherited file descriptors (socket
 * activation), as `--bind`, `--uds` and `--fd` name them; and the TLS certificate they serve,
 * which SIGHUP re-reads.
 */
import { chmodSync, lstatSync, readFileSync, unlinkSync } from "node:fs";
import { connect, type AddressInfo, type Server as NetServer } from "node:net";
import { createSecureContext, type SecureContextOptions } from "node:tls";

export type ListenSpec =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "fd"; readonly fd: number };

/** A listener that is up: how to reach it, and (for a Unix socket) the file it owns. */
export interface Bound {
  readonly spec: ListenSpec;
  /** `http://127.0.0.1:8000`, `https://[::1]:8443`, `unix:/run/app.sock`, `fd://3` (a URL where there is one). */
  readonly url: string;
  /** The TCP port, where the listener has one (an inherited TCP socket has one too). */
  readonly port: number | undefined;
  /** The socket file and its inode: removed at exit only while it is still this listener's. */
  readonly socketFile?: { readonly path: string; readonly ino: number };
}

export class BindError extends Error {}

/**
 * One `--bind` as gunicorn users write it: `HOST:PORT`, `[::1]:PORT`, `HOST` (the `--port`),
 * `unix:PATH`, `fd://N`.
 */
export function parseBind(text: string, defaultPort: number): ListenSpec {
  const value = text.trim();
  if (value.startsWith("unix:")) {
    const path = value.slice("unix:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new BindError(`${JSON.stringify(text)}: unix: needs a socket path`);
    return { kind: "unix", path };
  }
  if (value.startsWith("fd://")) return { kind: "fd", fd: parseFd(value.slice("fd://".length)) };
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(value);
  if (bracketed) return { kind: "tcp", host: bracketed[1]!, port: bracketed[2] === undefined ? defaultPort : parsePort(bracketed[2], text) };
  const colon = value.lastIndexOf(":");
  if (colon >= 0 && value.indexOf(":") !== colon) throw new BindError(`${JSON.stringify(text)}: write an IPv6 address in brackets, e.g. [::1]:8000`);
  const host = colon < 0 ? value : value.slice(0, colon);
  if (host === "") throw new BindError(`${JSON.stringify(text)}: give a host, e.g. 0.0.0.0:${colon < 0 ? defaultPort : value.slice(colon + 1)}`);
  return { kind: "tcp", host, port: colon < 0 ? defaultPort : parsePort(value.slice(colon + 1), text) };
}

function parsePort(text: string, whole: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new BindError(`${JSON.stringify(whole)}: the port must be a number from 0 to 65535`);
  return port;
}

export function parseFd(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 3) throw new BindError(`${JSON.stringify(text)}: a file descriptor is a whole number, 3 or more`);
  return Number(text);
}

/** `--uds-mode`: octal permissions such as 660, 0o660 or 0660. */
export function parseMode(text: string): number {
  const digits = text.trim().replace(/^0o/i, "");
  if (!/^[0-7]{3,4}$/.test(digits)) throw new BindError(`${JSON.stringify(text)}: an octal file mode, e.g. 660`);
  return parseInt(digits, 8);
}

interface ListenSettings {
  readonly host: string;
  readonly port: number;
  readonly bind: readonly string[];
  readonly uds?: string | undefined;
  readonly fd?: number | undefined;
}

/**
 * The listeners: every `--bind`, `--uds` and `--fd`; when none is given, `--host` and `--port`.
 */
export function listenSpecs(settings: ListenSettings): ListenSpec[] {
  const specs = settings.bind.map((b) => parseBind(b, settings.port));
  if (settings.uds !== undefined) specs.push({ kind: "unix", path: settings.uds });
  if (settings.fd !== undefined) specs.push({ kind: "fd", fd: settings.fd });
  if (specs.length === 0) specs.push({ kind: "tcp", host: settings.host, port: settings.port });
  return specs;
}

export interface ListenOptions {
  readonly backlog: number;
  /** Permissions of a Unix socket file (else the umask decides). */
  readonly udsMode?: number | undefined;
  readonly secure: boolean;
}

/** Puts `server` to listen on `spec`; rejects with an error that says what was wrong. */
export async function listenOn(server: NetServer, spec: ListenSpec, options: ListenOptions): Promise<Bound> {
  const { backlog } = options;
  if (spec.kind === "unix") await removeStaleSocket(spec.path);
  const target =
    spec.kind === "tcp" ? { host: spec.host, port: spec.port, backlog } : spec.kind === "unix" ? { path: spec.path, backlog } : { fd: spec.fd, backlog };
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => reject(new BindError(listenFailure(spec, err)));
    server.once("error", failed);
    server.listen(target, () => {
      server.off("error", failed);
      resolve();
    });
  });
  if (spec.kind === "unix") {
    if (options.udsMode !== undefined) chmodSync(spec.path, options.udsMode);
    return { spec, url: `unix:${spec.path}`, port: undefined, socketFile: { path: spec.path, ino: lstatSync(spec.path).ino } };
  }
  const address = server.address();
  const scheme = options.secure ? "https" : "http";
  if (address === null || typeof address === "string") return { spec, url: spec.kind === "fd" ? `fd://${spec.fd}` : String(address), port: undefined };
  return { spec, url: urlOf(scheme, address), port: address.port };
}

function urlOf(scheme: string, address: AddressInfo): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

function listenFailure(spec: ListenSpec, err: NodeJS.ErrnoException): string {
  if (spec.kind === "tcp") {
    return err.code === "EADDRINUSE" ? `port ${spec.port} on ${spec.host} is already in use` : `cannot listen on ${spec.host}:${spec.port}: ${err.message}`;
  }
  if (spec.kind === "unix") return err.code === "EADDRINUSE" ? `${spec.path} is in use by another server` : `cannot listen on unix:${spec.path}: ${err.message}`;
  return `cannot listen on inherited file descriptor ${spec.fd} (is it an open listening socket?): ${err.message}`;
}

/**
 * A socket file left by a server that died is replaced; one a live server answers on is not, and
 * a file that is not a socket is never removed.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new BindError(`cannot listen on unix:${path}: the file exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new BindError(`${path} is in use by another server`);
  unlinkSync(path);
}

/** Removes the socket file at exit, unless something else has replaced it since. */
export function removeSocketFile(file: { readonly path: string; readonly ino: number }): void {
  try {
    if (lstatSync(file.path).ino === file.ino) unlinkSync(file.path);
  } catch {
    // already gone
  }
}

export interface TlsSettings {
  readonly sslCertfile?: string | undefined;
  readonly sslKeyfile?: string | undefined;
  readonly sslKeyfilePassword?: string | undefined;
  readonly sslCaCerts?: string | undefined;
}

/**
 * The certificate, key and CA files, read and checked now (a key that does not match the
 * certificate, a wrong password…), or null without `--ssl-certfile`. Throws an Error saying which
 * file is wrong.
 */
export function loadTls(settings: TlsSettings): SecureContextOptions | null {
  const { sslCertfile, sslKeyfile, sslKeyfilePassword, sslCaCerts } = settings;
  if (sslCertfile === undefined) {
    if (sslKeyfile !== undefined) throw new Error("--ssl-keyfile needs --ssl-certfile");
    return null;
  }
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
    }
  };
  const cert = read("--ssl-certfile", sslCertfile);
  // The key may be in the certificate file (one PEM holding both).
  const key = sslKeyfile !== undefined ? read("--ssl-keyfile", sslKeyfile) : cert;
  const options: SecureContextOptions = { cert, key, passphrase: sslKeyfilePassword, ca: sslCaCerts !== undefined ? read("--ssl-ca-certs", sslCaCerts) : undefined };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new Error(`cannot use --ssl-certfile ${sslCertfile}${sslKeyfile ? ` with --ssl-keyfile ${sslKeyfile}` : ""}: ${(err as Error).message}`);
  }
  return options;
}
