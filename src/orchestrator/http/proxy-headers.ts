/**
 * What a request looks like from the client's side of any trusted proxies: the client's address,
 * the scheme and the host. `Forwarded` (RFC 7239) or else X-Forwarded-For/-Proto/-Host count only
 * when the peer that connected is trusted (`--forwarded-allow-ips`); the chain of addresses is then
 * walked from the nearest hop back while each hop is trusted, and the first untrusted one is the
 * client. A peer on a Unix socket is trusted: only a local process allowed to open the file can be
 * one (gunicorn does the same).
 */
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import proxyAddr from "proxy-addr";

/** Whether the address that is `hop` steps from the server (0: the peer) is a trusted proxy. */
export type Trust = (address: string, hop: number) => boolean;

/** The request as its client sent it, once trusted proxies are seen through. */
export interface ClientView {
  readonly host: string;
  /** 0 when a proxy named the client without its port. */
  readonly port: number;
  readonly scheme: "http" | "https";
  /** The Host the client asked for, when a trusted proxy said it (else the request's own). */
  readonly forwardedHost: string | undefined;
}

const TRUST_ALL: Trust = () => true;

/**
 * `--forwarded-allow-ips`: `*`, or addresses and CIDR ranges separated by commas. Throws a
 * TypeError naming the entry that is neither.
 */
export function compileTrust(text: string): Trust {
  const entries = text.split(",").map((e) => e.trim()).filter((e) => e !== "");
  if (entries.includes("*")) return TRUST_ALL;
  if (entries.length === 0) return () => false;
  return proxyAddr.compile(entries);
}

const SCHEMES: Record<string, "http" | "https"> = { http: "http", https: "https", ws: "http", wss: "https" };
/** A Host value: a name or an address, an optional port; nothing that could smuggle more. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::\d{1,5})?$/;

/** One hop of a forwarding chain, nearest last, as the proxy that added it described it. */
interface Hop {
  readonly for: string;
  readonly port: number;
  readonly proto?: string | undefined;
  readonly host?: string | undefined;
}

/**
 * The client's view of `req`. `trust` null: `--no-proxy-headers`, the connection is the client.
 */
export function clientView(req: IncomingMessage, trust: Trust | null): ClientView {
  const socket = req.socket;
  const peer = socket.remoteAddress;
  const own: ClientView = {
    host: peer ?? "",
    port: socket.remotePort ?? 0,
    scheme: (socket as TLSSocket).encrypted ? "https" : "http",
    forwardedHost: undefined,
  };
  if (trust === null) return own;
  const headers = req.headers;
  const forwarded = headers.forwarded;
  const xff = headers["x-forwarded-for"];
  const xproto = headers["x-forwarded-proto"];
  const xhost = headers["x-forwarded-host"];
  if (forwarded === undefined && xff === undefined && xproto === undefined && xhost === undefined) return own;
  // A Unix socket's peer has no address: trusted, as only a local process can be it.
  if (peer !== undefined && !trust(peer, 0)) return own;

  let hops: Hop[];
  if (forwarded !== undefined) {
    hops = parseForwarded(forwarded);
  } else {
    const proto = lastItem(xproto);
    const host = lastItem(xhost);
    hops = (Array.isArray(xff) ? xff.join(",") : (xff ?? "")).split(",").map((a) => a.trim()).filter((a) => a !== "").map((a) => ({ ...splitPort(a) }));
    // X-Forwarded-Proto/-Host are set (or appended to) by the nearest proxy: they describe the
    // request the client sent, whatever hop the client turns out to be.
    if (hops.length === 0) hops = [{ for: own.host, port: own.port, proto, host }];
    else hops = hops.map((h) => ({ ...h, proto, host }));
  }
  if (hops.length === 0) return own;
  // Walk back from the nearest hop: the first one not trusted is the client.
  let i = hops.length - 1;
  while (i > 0 && trust(hops[i]!.for, hops.length - i)) i--;
  const client = hops[i]!;
  const scheme = client.proto !== undefined ? SCHEMES[client.proto.toLowerCase()] : undefined;
  const host = client.host !== undefined && HOST.test(client.host) ? client.host : undefined;
  return { host: client.for, port: client.port, scheme: scheme ?? own.scheme, forwardedHost: host };
}

/** The last of a comma-separated header's items (a proxy appends), or undefined. */
function lastItem(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(",") : value;
  const item = text.slice(text.lastIndexOf(",") + 1).trim();
  return item === "" ? undefined : item;
}

/** `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711`, `2001:db8::1` → address and port. */
function splitPort(text: string): { for: string; port: number } {
  const bracketed = /^\[([^\]]*)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return { for: bracketed[1]!, port: Number(bracketed[2] ?? 0) };
  const v4 = /^([\d.]+):(\d{1,5})$/.exec(text);
  if (v4) return { for: v4[1]!, port: Number(v4[2]) };
  return { for: text, port: 0 };
}

/**
 * RFC 7239: `for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:4711"` → one hop per
 * element, in order. Elements without `for` still count (the proxy did not say who sent it).
 */
export function parseForwarded(value: string | string[]): Hop[] {
  const text = Array.isArray(value) ? value.join(",") : value;
  const hops: Hop[] = [];
  for (const element of splitOutsideQuotes(text, ",")) {
    const pairs: Record<string, string> = {};
    for (const pair of splitOutsideQuotes(element, ";")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      let v = pair.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
      pairs[pair.slice(0, eq).trim().toLowerCase()] = v;
    }
    if (Object.keys(pairs).length === 0) continue;
    const { for: address, port } = splitPort(pairs.for ?? "unknown");
    hops.push({ for: address, port, proto: pairs.proto, host: pairs.host });
  }
  return hops;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p !== "");
}
