/**
 * Encoder and decoder for single frames of the wire protocol (docs/protocol.md).
 * TaskAssignment and TaskResult are the hot path: each is encoded into one preallocated buffer
 * and decoded without copying the body.
 */
import {
  MessageType,
  type BodyChunk,
  type Heartbeat,
  type Message,
  type Pair,
  type RouteInfo,
  type RouteSync,
  type TaskAssignment,
  type TaskResult,
} from "./messages.js";

type ProtocolErrorKind = "truncated" | "too_large" | "unknown_type" | "malformed";

export class ProtocolError extends Error {
  constructor(
    readonly kind: ProtocolErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Bytes before the payload: u32 length + u8 type. */
const HEADER_SIZE = 5;
/** 64 MiB of body plus room for the fixed fields, paths and headers. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

// ---------------------------------------------------------------- encoding

function frame(type: number, payload: Buffer | null): Buffer {
  const size = payload ? payload.length : 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + size);
  out.writeUInt32BE(size + 1, 0);
  out[4] = type;
  if (payload) payload.copy(out, HEADER_SIZE);
  return out;
}

function jsonFrame(type: number, value: object): Buffer {
  return frame(type, Buffer.from(JSON.stringify(value), "utf8"));
}

function pairsSize(pairs: readonly Pair[]): number {
  let size = 2;
  for (const [name, value] of pairs) size += 4 + Buffer.byteLength(name) + Buffer.byteLength(value);
  return size;
}

/** The most bytes a `str16` holds: a header's name or its value, a path, a query. */
export const MAX_STR16 = 0xffff;

/**
 * Why `pairs` cannot be encoded (a name or value over MAX_STR16 bytes of UTF-8), for a log line;
 * null when they can. The encoders would throw: a worker asks first, to answer a 500 instead.
 */
export function oversizedHeader(pairs: readonly Pair[]): string | null {
  for (const [name, value] of pairs) {
    const nameBytes = Buffer.byteLength(name);
    if (nameBytes > MAX_STR16) return `a header name of ${nameBytes} bytes`;
    const valueBytes = Buffer.byteLength(value);
    if (valueBytes > MAX_STR16) return `header ${JSON.stringify(name.slice(0, 64))} of ${valueBytes} bytes`;
  }
  return null;
}

function writeStr(out: Buffer, offset: number, value: string, lengthBytes: 1 | 2): number {
  const written = out.write(value, offset + lengthBytes, "utf8");
  const limit = lengthBytes === 1 ? 0xff : MAX_STR16;
  if (written > limit) throw new RangeError(`string of ${written} bytes does not fit a str${lengthBytes * 8}`);
  if (lengthBytes === 1) out[offset] = written;
  else out.writeUInt16BE(written, offset);
  return offset + lengthBytes + written;
}

function writePairs(out: Buffer, offset: number, pairs: readonly Pair[]): number {
  out.writeUInt16BE(pairs.length, offset);
  offset += 2;
  for (const [name, value] of pairs) {
    offset = writeStr(out, offset, name, 2);
    offset = writeStr(out, offset, value, 2);
  }
  return offset;
}

export function encodeWorkerReady(workerId: string, pid: number, runtime: string, concurrency: number): Buffer {
  return jsonFrame(MessageType.WorkerReady, { worker_id: workerId, pid, runtime, concurrency });
}

export function encodeDiscoverRoutes(): Buffer {
  return frame(MessageType.DiscoverRoutes, null);
}

export function encodeRouteRegistry(routes: readonly RouteInfo[]): Buffer {
  return jsonFrame(MessageType.RouteRegistry, {
    // Keys in the documented order; the optional ones only when set.
    routes: routes.map((r) => ({
      path: r.path,
      methods: r.methods,
      ...(r.headers ? { headers: true } : {}),
      ...(r.sync ? { sync: true } : {}),
      ...(r.streamBody ? { stream_body: true } : {}),
      ...(r.streamLargeBody ? { stream_large_body: true } : {}),
      ...(r.websocket ? { websocket: true } : {}),
      ...(r.httpVersion ? { http_version: true } : {}),
      ...(r.openapi ? { openapi: r.openapi } : {}),
    })),
  });
}

export function encodeHeartbeat(workerId: string, loopLagMs?: number, routeSyncMs?: RouteSync): Buffer {
  return jsonFrame(MessageType.Heartbeat, {
    worker_id: workerId,
    ...(loopLagMs !== undefined ? { loop_lag_ms: loopLagMs } : {}),
    ...(routeSyncMs !== undefined ? { route_sync_ms: routeSyncMs } : {}),
  });
}

export function encodeShutdown(graceful: boolean): Buffer {
  return frame(MessageType.Shutdown, Buffer.from([graceful ? 1 : 0]));
}

export function encodeStartupError(kind: string, message: string, traceback: string): Buffer {
  return jsonFrame(MessageType.StartupError, { kind, message, traceback });
}

export function encodeHello(workerId: string, secret: string): Buffer {
  return jsonFrame(MessageType.Hello, { worker_id: workerId, secret });
}

export function encodeCancelTask(taskId: number, flags = 0): Buffer {
  return taskIdFlagsFrame(MessageType.CancelTask, taskId, flags);
}

export function encodeTaskStarted(taskId: number): Buffer {
  return taskIdFrame(MessageType.TaskStarted, taskId);
}

function taskIdFrame(type: number, taskId: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 4);
  out.writeUInt32BE(5, 0);
  out[4] = type;
  out.writeUInt32BE(taskId, 5);
  return out;
}

export function encodeTaskAssignment(
  taskId: number,
  method: string,
  route: string,
  path: string,
  query: string,
  params: readonly Pair[],
  headers: readonly Pair[],
  requestId: string,
  clientHost: string,
  clientPort: number,
  body: Buffer,
): Buffer {
  // Byte lengths are upper-bounded by 3 × UTF-16 length; write() reports the exact size.
  const max =
    HEADER_SIZE + 4 + 1 + method.length + 2 + route.length * 3 + 2 + path.length * 3 + 2 + query.length * 3 +
    pairsSize(params) + pairsSize(headers) + 1 + requestId.length * 3 + 1 + clientHost.length * 3 + 2 + body.length;
  const out = Buffer.allocUnsafe(max);
  out[4] = MessageType.TaskAssignment;
  out.writeUInt32BE(taskId, 5);
  let offset = writeStr(out, 9, method, 1);
  offset = writeStr(out, offset, route, 2);
  offset = writeStr(out, offset, path, 2);
  offset = writeStr(out, offset, query, 2);
  offset = writePairs(out, offset, params);
  offset = writePairs(out, offset, headers);
  offset = writeStr(out, offset, requestId, 1);
  offset = writeStr(out, offset, clientHost, 1);
  out.writeUInt16BE(clientPort, offset);
  offset += 2;
  offset += body.copy(out, offset);
  out.writeUInt32BE(offset - 4, 0);
  return offset === max ? out : out.subarray(0, offset);
}

export function encodeTaskResult(
  taskId: number,
  status: number,
  flags: number,
  headers: readonly Pair[],
  body: Buffer,
): Buffer {
  const size = HEADER_SIZE + 4 + 2 + 1 + pairsSize(headers) + body.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size - 4, 0);
  out[4] = MessageType.TaskResult;
  out.writeUInt32BE(taskId, 5);
  out.writeUInt16BE(status, 9);
  out[11] = flags;
  const offset = writePairs(out, 12, headers);
  body.copy(out, offset);
  return out;
}

// ---------------------------------------------------------------- streams and WebSockets

export function encodeResponseHead(taskId: number, status: number, flags: number, headers: readonly Pair[]): Buffer {
  const size = HEADER_SIZE + 4 + 2 + 1 + pairsSize(headers);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size - 4, 0);
  out[4] = MessageType.ResponseHead;
  out.writeUInt32BE(taskId, 5);
  out.writeUInt16BE(status, 9);
  out[11] = flags;
  writePairs(out, 12, headers);
  return out;
}

/** The 9 bytes before a BodyChunk's data: write them, then the data itself, with no copy. */
export function encodeBodyChunkHead(taskId: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 4);
  out.writeUInt32BE(5 + length, 0);
  out[4] = MessageType.BodyChunk;
  out.writeUInt32BE(taskId, 5);
  return out;
}

export function encodeBodyChunk(taskId: number, data: Buffer): Buffer {
  return Buffer.concat([encodeBodyChunkHead(taskId, data.length), data]);
}

export function encodeBodyEnd(taskId: number, flags: number): Buffer {
  return taskIdFlagsFrame(MessageType.BodyEnd, taskId, flags);
}

function taskIdFlagsFrame(type: number, taskId: number, flags: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 5);
  out.writeUInt32BE(6, 0);
  out[4] = type;
  out.writeUInt32BE(taskId, 5);
  out[9] = flags;
  return out;
}

export function encodeWindowUpdate(taskId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 8);
  out.writeUInt32BE(9, 0);
  out[4] = MessageType.WindowUpdate;
  out.writeUInt32BE(taskId, 5);
  out.writeUInt32BE(increment, 9);
  return out;
}

export function encodeWebSocketAccept(taskId: number, subprotocol: string, headers: readonly Pair[]): Buffer {
  const max = HEADER_SIZE + 4 + 1 + subprotocol.length * 3 + pairsSize(headers);
  const out = Buffer.allocUnsafe(max);
  out[4] = MessageType.WebSocketAccept;
  out.writeUInt32BE(taskId, 5);
  let offset = writeStr(out, 9, subprotocol, 1);
  offset = writePairs(out, offset, headers);
  out.writeUInt32BE(offset - 4, 0);
  return offset === max ? out : out.subarray(0, offset);
}

/** The 10 bytes before a WebSocketMessage's data: write them, then the data itself, with no copy. */
export function encodeWebSocketMessageHead(taskId: number, binary: boolean, length: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 5);
  out.writeUInt32BE(6 + length, 0);
  out[4] = MessageType.WebSocketMessage;
  out.writeUInt32BE(taskId, 5);
  out[9] = binary ? WS_BINARY : WS_TEXT;
  return out;
}

export function encodeWebSocketMessage(taskId: number, binary: boolean, data: Buffer): Buffer {
  return Buffer.concat([encodeWebSocketMessageHead(taskId, binary, data.length), data]);
}

export function encodeWebSocketClose(taskId: number, code: number, reason: string): Buffer {
  const max = HEADER_SIZE + 4 + 2 + 2 + reason.length * 3;
  const out = Buffer.allocUnsafe(max);
  out[4] = MessageType.WebSocketClose;
  out.writeUInt32BE(taskId, 5);
  out.writeUInt16BE(code, 9);
  const offset = writeStr(out, 11, reason, 2);
  out.writeUInt32BE(offset - 4, 0);
  return offset === max ? out : out.subarray(0, offset);
}

/** WebSocketMessage.kind on the wire. */
const WS_TEXT = 1;
const WS_BINARY = 2;

/** Encodes any message; the hot path calls the specific encoders directly. */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case "WorkerReady":
      return encodeWorkerReady(m.workerId, m.pid, m.runtime, m.concurrency);
    case "DiscoverRoutes":
      return encodeDiscoverRoutes();
    case "RouteRegistry":
      return encodeRouteRegistry(m.routes);
    case "Heartbeat":
      return encodeHeartbeat(m.workerId, m.loopLagMs, m.routeSyncMs);
    case "Shutdown":
      return encodeShutdown(m.graceful);
    case "StartupError":
      return encodeStartupError(m.kind, m.message, m.traceback);
    case "Hello":
      return encodeHello(m.workerId, m.secret);
    case "CancelTask":
      return encodeCancelTask(m.taskId, m.flags);
    case "TaskStarted":
      return encodeTaskStarted(m.taskId);
    case "TaskAssignment":
      return encodeTaskAssignment(
        m.taskId, m.method, m.route, m.path, m.query, m.params, m.headers, m.requestId, m.clientHost, m.clientPort, m.body,
      );
    case "TaskResult":
      return encodeTaskResult(m.taskId, m.status, m.flags, m.headers, m.body);
    case "ResponseHead":
      return encodeResponseHead(m.taskId, m.status, m.flags, m.headers);
    case "BodyChunk":
      return encodeBodyChunk(m.taskId, m.data);
    case "BodyEnd":
      return encodeBodyEnd(m.taskId, m.flags);
    case "WindowUpdate":
      return encodeWindowUpdate(m.taskId, m.increment);
    case "WebSocketAccept":
      return encodeWebSocketAccept(m.taskId, m.subprotocol, m.headers);
    case "WebSocketMessage":
      return encodeWebSocketMessage(m.taskId, m.binary, m.data);
    case "WebSocketClose":
      return encodeWebSocketClose(m.taskId, m.code, m.reason);
  }
}

// ---------------------------------------------------------------- decoding

/** A cursor over one payload; every read checks bounds so short payloads fail as `malformed`. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public offset: number,
    private readonly end: number,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.offset + n > this.end) throw new ProtocolError("malformed", `${this.what} payload is too short`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  str(length: number): string {
    this.need(length);
    const start = this.offset;
    this.offset += length;
    return decodeUtf8(this.buf, start, this.offset, this.what);
  }
  pairs(): Pair[] {
    const count = this.u16();
    const out: Pair[] = [];
    for (let i = 0; i < count; i++) out.push([this.str(this.u16()), this.str(this.u16())]);
    return out;
  }
  rest(): Buffer {
    const body = this.buf.subarray(this.offset, this.end);
    this.offset = this.end;
    return body;
  }
  done(): void {
    if (this.offset !== this.end) throw new ProtocolError("malformed", `${this.what} payload has trailing bytes`);
  }
}

function decodeUtf8(buf: Buffer, start: number, end: number, what: string): string {
  // Most strings are short ASCII (methods, paths): skip the strict decoder for them.
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i]! > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString("latin1", start, end);
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch {
    throw new ProtocolError("malformed", `${what} has a string that is not valid UTF-8`);
  }
}

function decodeJson(buf: Buffer, start: number, end: number, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(buf, start, end, what));
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("malformed", `${what} payload is not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("malformed", `${what} payload is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function field<T>(obj: Record<string, unknown>, key: string, check: (v: unknown) => v is T, what: string): T {
  const v = obj[key];
  if (!check(v)) throw new ProtocolError("malformed", `${what}.${key} is missing or has the wrong type`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isRouteSync = (v: unknown): v is RouteSync =>
  typeof v === "object" && v !== null && !Array.isArray(v) &&
  Object.values(v).every((e) => Array.isArray(e) && e.length === 2 && isCount(e[0]) && isCount(e[1]));
const isRoutes = (v: unknown): v is RouteInfo[] =>
  Array.isArray(v) &&
  v.every(
    (r) =>
      typeof r === "object" && r !== null && typeof r.path === "string" &&
      Array.isArray(r.methods) && r.methods.every(isString),
  );

/** Decodes the frame whose type byte is at `buf[start]` and whose payload runs to `end`. */
export function decodeFrame(buf: Buffer, start: number, end: number): Message {
  const type = buf[start]!;
  const p = start + 1;
  switch (type) {
    case MessageType.TaskResult:
      return decodeTaskResult(buf, p, end);
    case MessageType.TaskAssignment:
      return decodeTaskAssignment(buf, p, end);
    case MessageType.WorkerReady: {
      const o = decodeJson(buf, p, end, "WorkerReady");
      return {
        type: "WorkerReady",
        workerId: field(o, "worker_id", isString, "WorkerReady"),
        pid: field(o, "pid", isInt, "WorkerReady"),
        runtime: field(o, "runtime", isString, "WorkerReady"),
        concurrency: field(o, "concurrency", isInt, "WorkerReady"),
      };
    }
    case MessageType.DiscoverRoutes:
      new Reader(buf, p, end, "DiscoverRoutes").done();
      return { type: "DiscoverRoutes" };
    case MessageType.RouteRegistry: {
      const o = decodeJson(buf, p, end, "RouteRegistry");
      const routes = field(o, "routes", isRoutes, "RouteRegistry");
      for (const r of routes as (RouteInfo & { stream_body?: unknown; stream_large_body?: unknown; http_version?: unknown })[]) {
        // snake_case on the wire, camelCase here
        if (r.stream_body === true) r.streamBody = true;
        delete r.stream_body;
        if (r.stream_large_body === true) r.streamLargeBody = true;
        delete r.stream_large_body;
        if (r.http_version === true) r.httpVersion = true;
        delete r.http_version;
      }
      return { type: "RouteRegistry", routes };
    }
    case MessageType.Heartbeat: {
      const o = decodeJson(buf, p, end, "Heartbeat");
      const m: Heartbeat = { type: "Heartbeat", workerId: field(o, "worker_id", isString, "Heartbeat") };
      if (o.loop_lag_ms !== undefined) m.loopLagMs = field(o, "loop_lag_ms", isCount, "Heartbeat");
      if (o.route_sync_ms !== undefined) m.routeSyncMs = field(o, "route_sync_ms", isRouteSync, "Heartbeat");
      return m;
    }
    case MessageType.Shutdown: {
      const r = new Reader(buf, p, end, "Shutdown");
      const graceful = r.u8();
      r.done();
      if (graceful > 1) throw new ProtocolError("malformed", "Shutdown.graceful must be 0 or 1");
      return { type: "Shutdown", graceful: graceful === 1 };
    }
    case MessageType.StartupError: {
      const o = decodeJson(buf, p, end, "StartupError");
      return {
        type: "StartupError",
        kind: field(o, "kind", isString, "StartupError"),
        message: field(o, "message", isString, "StartupError"),
        traceback: field(o, "traceback", isString, "StartupError"),
      };
    }
    case MessageType.Hello: {
      const o = decodeJson(buf, p, end, "Hello");
      return {
        type: "Hello",
        workerId: field(o, "worker_id", isString, "Hello"),
        secret: field(o, "secret", isString, "Hello"),
      };
    }
    case MessageType.CancelTask: {
      const r = new Reader(buf, p, end, "CancelTask");
      const taskId = r.u32();
      const flags = r.u8();
      r.done();
      return { type: "CancelTask", taskId, flags };
    }
    case MessageType.TaskStarted: {
      const r = new Reader(buf, p, end, "TaskStarted");
      const taskId = r.u32();
      r.done();
      return { type: "TaskStarted", taskId };
    }
    case MessageType.ResponseHead: {
      const r = new Reader(buf, p, end, "ResponseHead");
      const taskId = r.u32();
      const status = r.u16();
      const flags = r.u8();
      const headers = r.pairs();
      r.done();
      return { type: "ResponseHead", taskId, status, flags, headers };
    }
    case MessageType.BodyChunk:
      return decodeBodyChunk(buf, p, end);
    case MessageType.BodyEnd: {
      const r = new Reader(buf, p, end, "BodyEnd");
      const taskId = r.u32();
      const flags = r.u8();
      r.done();
      return { type: "BodyEnd", taskId, flags };
    }
    case MessageType.WindowUpdate: {
      const r = new Reader(buf, p, end, "WindowUpdate");
      const taskId = r.u32();
      const increment = r.u32();
      r.done();
      return { type: "WindowUpdate", taskId, increment };
    }
    case MessageType.WebSocketAccept: {
      const r = new Reader(buf, p, end, "WebSocketAccept");
      const taskId = r.u32();
      const subprotocol = r.str(r.u8());
      const headers = r.pairs();
      r.done();
      return { type: "WebSocketAccept", taskId, subprotocol, headers };
    }
    case MessageType.WebSocketMessage: {
      const r = new Reader(buf, p, end, "WebSocketMessage");
      const taskId = r.u32();
      const kind = r.u8();
      if (kind !== WS_TEXT && kind !== WS_BINARY) throw new ProtocolError("malformed", `WebSocketMessage kind must be 1 or 2, got ${kind}`);
      return { type: "WebSocketMessage", taskId, binary: kind === WS_BINARY, data: r.rest() };
    }
    case MessageType.WebSocketClose: {
      const r = new Reader(buf, p, end, "WebSocketClose");
      const taskId = r.u32();
      const code = r.u16();
      const reason = r.str(r.u16());
      r.done();
      return { type: "WebSocketClose", taskId, code, reason };
    }
    default:
      throw new ProtocolError("unknown_type", `unknown message type 0x${type.toString(16).padStart(2, "0")}`);
  }
}

function decodeTaskAssignment(buf: Buffer, p: number, end: number): TaskAssignment {
  const r = new Reader(buf, p, end, "TaskAssignment");
  const taskId = r.u32();
  const method = r.str(r.u8());
  const route = r.str(r.u16());
  const path = r.str(r.u16());
  const query = r.str(r.u16());
  const params = r.pairs();
  const headers = r.pairs();
  const requestId = r.str(r.u8());
  const clientHost = r.str(r.u8());
  const clientPort = r.u16();
  return {
    type: "TaskAssignment", taskId, method, route, path, query, params, headers, requestId, clientHost, clientPort,
    body: r.rest(),
  };
}

function decodeTaskResult(buf: Buffer, p: number, end: number): TaskResult {
  const r = new Reader(buf, p, end, "TaskResult");
  const taskId = r.u32();
  const status = r.u16();
  const flags = r.u8();
  const headers = r.pairs();
  return { type: "TaskResult", taskId, status, flags, headers, body: r.rest() };
}

function decodeBodyChunk(buf: Buffer, p: number, end: number): BodyChunk {
  const r = new Reader(buf, p, end, "BodyChunk");
  const taskId = r.u32();
  return { type: "BodyChunk", taskId, data: r.rest() };
}
