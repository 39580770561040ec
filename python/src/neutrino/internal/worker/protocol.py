"""Codec for the Neutrino wire protocol, version 1 (docs/protocol.md is the contract).

Every frame is ``u32 length | u8 type | payload``. Decoders take the payload (without the type
byte) as a memoryview, so the worker's hot path can decode straight out of its receive buffer
without copying the request body. TaskAssignment and TaskResult are the hot path; the other
messages are sent once per connection and favour clarity.
"""

import json
import re
import struct
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

WORKER_READY = 0x01
DISCOVER_ROUTES = 0x02
ROUTE_REGISTRY = 0x03
HEARTBEAT = 0x04
SHUTDOWN = 0x05
STARTUP_ERROR = 0x06
HELLO = 0x07
TASK_ASSIGNMENT = 0x10
TASK_RESULT = 0x11
CANCEL_TASK = 0x12
TASK_STARTED = 0x13
RESPONSE_HEAD = 0x14
BODY_CHUNK = 0x15
BODY_END = 0x16
WINDOW_UPDATE = 0x17
WEBSOCKET_ACCEPT = 0x18
WEBSOCKET_MESSAGE = 0x19
WEBSOCKET_CLOSE = 0x1A

#: Bytes each direction of a stream may send before the receiver grants more (Flow control).
INITIAL_WINDOW = 1 << 20
#: The most data a sender should put in one BodyChunk.
MAX_CHUNK = 1 << 20
#: BodyEnd.flags bit 0: the body is incomplete (the stream failed, or the client left).
BODY_INCOMPLETE = 0x01
#: CancelTask flags bit 0: the client went away (without it, the task ran out of time).
CANCEL_CLIENT_GONE = 0x01

#: TaskResult.flags bit 0: the handler failed (the body is an error response).
HANDLER_FAILED = 0x01
#: TaskResult.flags bit 1: the headers are the app's own (a foreign app's): the orchestrator adds
#: no content-type to a body that has none.
APP_HEADERS = 0x02

#: 64 MiB of body plus room for the fixed fields, paths and headers (same as the TypeScript codec).
DEFAULT_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024

Pair = Tuple[str, str]

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_HEADER = struct.Struct(">IB")  # length, type
_TASK_FIXED = struct.Struct(">IB")  # task_id, method length
_RESULT_FIXED = struct.Struct(">IHB")  # task_id, status, flags
_RESULT_HEAD = struct.Struct(">IBIHB")  # length, type, task_id, status, flags
_RESULT_HEAD_NO_HEADERS = struct.Struct(">IBIHBH")  # ... plus a header count of 0
_RESULT_OVERHEAD = 1 + _RESULT_FIXED.size  # type byte + fixed fields, counted in `length`


class ProtocolError(Exception):
    """The peer sent something that breaks the protocol; the connection cannot go on.

    ``kind`` is ``truncated``, ``too_large``, ``unknown_type`` or ``malformed``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------------------------- messages


class Message:
    """Base of the decoded messages: value equality and a readable repr, for tests and logs."""

    __slots__ = ()
    TYPE = -1

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{s}={_shown(getattr(self, s))!r}" for s in self.__slots__)
        return f"{type(self).__name__}({fields})"


def _shown(value: Any) -> Any:
    return value.tobytes() if isinstance(value, memoryview) else value


class WorkerReady(Message):
    __slots__ = ("worker_id", "pid", "runtime", "concurrency")
    TYPE = WORKER_READY

    def __init__(self, worker_id: str, pid: int, runtime: str, concurrency: int) -> None:
        self.worker_id = worker_id
        self.pid = pid
        self.runtime = runtime
        self.concurrency = concurrency


class DiscoverRoutes(Message):
    __slots__ = ()
    TYPE = DISCOVER_ROUTES


class RouteRegistry(Message):
    """``routes``: dicts in the order the app registered them: ``path``, ``methods`` and the
    optional ``headers``, ``sync``, ``stream_body``, ``stream_large_body``, ``websocket``,
    ``http_version`` (each true when present) and
    ``openapi`` (an Operation object). Given
    (path, methods) pairs instead, the constructor turns them into dicts."""

    __slots__ = ("routes",)
    TYPE = ROUTE_REGISTRY

    def __init__(self, routes: Sequence[Any]) -> None:
        self.routes = [_route_entry(r) for r in routes]


#: RouteRegistry keys in the order both codecs write them; receivers ignore others.
_ROUTE_FLAGS = ("headers", "sync", "stream_body", "stream_large_body", "websocket", "http_version")


def _route_entry(route: Any) -> Dict[str, Any]:
    if isinstance(route, dict):
        entry: Dict[str, Any] = {"path": route["path"], "methods": list(route["methods"])}
        for flag in _ROUTE_FLAGS:
            if route.get(flag):
                entry[flag] = True
        if route.get("openapi") is not None:
            entry["openapi"] = route["openapi"]
        return entry
    path, methods = route
    return {"path": path, "methods": list(methods)}


class Heartbeat(Message):
    """``loop_lag_ms`` and ``route_sync_ms`` are optional (Node workers send them; None: absent):
    the longest event-loop delay since the last Heartbeat, and per route ``[tasks, ms]`` of
    synchronous handler time of the tasks ended since then."""
    __slots__ = ("worker_id", "loop_lag_ms", "route_sync_ms")
    TYPE = HEARTBEAT

    def __init__(self, worker_id: str, loop_lag_ms: Optional[int] = None,
                 route_sync_ms: Optional[Dict[str, List[int]]] = None) -> None:
        self.worker_id = worker_id
        self.loop_lag_ms = loop_lag_ms
        self.route_sync_ms = route_sync_ms


class Shutdown(Message):
    __slots__ = ("graceful",)
    TYPE = SHUTDOWN

    def __init__(self, graceful: bool) -> None:
        self.graceful = graceful


class StartupError(Message):
    __slots__ = ("kind", "message", "traceback")
    TYPE = STARTUP_ERROR

    def __init__(self, kind: str, message: str, traceback: str) -> None:
        self.kind = kind
        self.message = message
        self.traceback = traceback


class Hello(Message):
    """The first frame on every connection: proves the worker is the one the orchestrator
    started, by echoing the per-run secret it was given on standard input."""

    __slots__ = ("worker_id", "secret")
    TYPE = HELLO

    def __init__(self, worker_id: str, secret: str) -> None:
        self.worker_id = worker_id
        self.secret = secret


class TaskAssignment(Message):
    """A request for the worker. ``body`` is a memoryview: when decoded from the worker's receive
    buffer it is only valid until the next frame is read."""

    __slots__ = (
        "task_id", "method", "route", "path", "query", "params", "headers", "request_id",
        "client_host", "client_port", "body",
    )
    TYPE = TASK_ASSIGNMENT

    def __init__(
        self, task_id, method, route, path, query, params, headers, request_id, client_host,
        client_port, body,
    ) -> None:
        self.task_id = task_id
        self.method = method
        self.route = route
        self.path = path
        self.query = query
        self.params = params
        self.headers = headers
        self.request_id = request_id
        # Empty and 0 unless the route reads the request (RouteRegistry "headers": true).
        self.client_host = client_host
        self.client_port = client_port
        self.body = body


class TaskResult(Message):
    __slots__ = ("task_id", "status", "flags", "headers", "body")
    TYPE = TASK_RESULT

    def __init__(self, task_id, status, flags, headers, body) -> None:
        self.task_id = task_id
        self.status = status
        self.flags = flags
        self.headers = headers
        self.body = body


class CancelTask(Message):
    """``flags`` bit 0 (CANCEL_CLIENT_GONE): the client went away; else the time ran out."""
    __slots__ = ("task_id", "flags")
    TYPE = CANCEL_TASK

    def __init__(self, task_id: int, flags: int = 0) -> None:
        self.task_id = task_id
        self.flags = flags


class TaskStarted(Message):
    __slots__ = ("task_id",)
    TYPE = TASK_STARTED

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id


class ResponseHead(Message):
    """A streamed response begins: a TaskResult without its body (BodyChunk frames follow)."""

    __slots__ = ("task_id", "status", "flags", "headers")
    TYPE = RESPONSE_HEAD

    def __init__(self, task_id: int, status: int, flags: int, headers: List[Pair]) -> None:
        self.task_id = task_id
        self.status = status
        self.flags = flags
        self.headers = headers


class BodyChunk(Message):
    """A piece of a streamed body: the response's (to the orchestrator) or the request's."""

    __slots__ = ("task_id", "data")
    TYPE = BODY_CHUNK

    def __init__(self, task_id: int, data: Any) -> None:
        self.task_id = task_id
        self.data = data


class BodyEnd(Message):
    __slots__ = ("task_id", "flags")
    TYPE = BODY_END

    def __init__(self, task_id: int, flags: int) -> None:
        self.task_id = task_id
        self.flags = flags


class WindowUpdate(Message):
    __slots__ = ("task_id", "increment")
    TYPE = WINDOW_UPDATE

    def __init__(self, task_id: int, increment: int) -> None:
        self.task_id = task_id
        self.increment = increment


class WebSocketAccept(Message):
    __slots__ = ("task_id", "subprotocol", "headers")
    TYPE = WEBSOCKET_ACCEPT

    def __init__(self, task_id: int, subprotocol: str, headers: List[Pair]) -> None:
        self.task_id = task_id
        self.subprotocol = subprotocol
        self.headers = headers


class WebSocketMessage(Message):
    """One whole WebSocket message; ``data`` is UTF-8 text unless ``binary``."""

    __slots__ = ("task_id", "binary", "data")
    TYPE = WEBSOCKET_MESSAGE

    def __init__(self, task_id: int, binary: bool, data: Any) -> None:
        self.task_id = task_id
        self.binary = binary
        self.data = data


class WebSocketClose(Message):
    __slots__ = ("task_id", "code", "reason")
    TYPE = WEBSOCKET_CLOSE

    def __init__(self, task_id: int, code: int, reason: str) -> None:
        self.task_id = task_id
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------------------------- encoding

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _compact_json(obj: Dict[str, Any]) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable file names in a traceback) have no UTF-8 form; escape
        # them as JSON.stringify does, so the payload stays valid UTF-8 and valid JSON.
        return _LONE_SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), text).encode("utf-8")


def _frame(type_: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(len(payload) + 1, type_) + payload


def _str8(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 0xFF:
        raise ValueError(f"string of {len(data)} bytes does not fit a str8")
    return _U8.pack(len(data)) + data


def _str16(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"string of {len(data)} bytes does not fit a str16")
    return _U16.pack(len(data)) + data


def _pairs(pairs: Sequence[Pair]) -> bytes:
    if len(pairs) > 0xFFFF:
        raise ValueError(f"{len(pairs)} pairs do not fit a u16 count")
    parts = [_U16.pack(len(pairs))]
    for name, value in pairs:
        parts.append(_str16(name))
        parts.append(_str16(value))
    return b"".join(parts)


def oversized_header(pairs: Sequence[Pair]) -> Optional[str]:
    """Why ``pairs`` cannot be encoded (a name or value over 65,535 bytes of UTF-8, or over
    65,535 pairs), for a log line; None when they can."""
    if len(pairs) > 0xFFFF:
        return f"{len(pairs)} headers"
    for name, value in pairs:
        # A str has at most 4 bytes of UTF-8 per character: most values need no encoding here.
        if len(name) > 0x3FFF and len(name.encode("utf-8")) > 0xFFFF:
            return f"a header name of {len(name.encode('utf-8'))} bytes"
        if len(value) > 0x3FFF and len(value.encode("utf-8")) > 0xFFFF:
            return f"header {name[:64]!r} of {len(value.encode('utf-8'))} bytes"
    return None


def encode_worker_ready(worker_id: str, pid: int, runtime: str, concurrency: int) -> bytes:
    return _frame(
        WORKER_READY,
        _compact_json(
            {"worker_id": worker_id, "pid": pid, "runtime": runtime, "concurrency": concurrency}
        ),
    )


def encode_discover_routes() -> bytes:
    return _frame(DISCOVER_ROUTES)


def encode_route_registry(routes: Sequence[Any]) -> bytes:
    """``routes``: dicts (path, methods, and headers/sync/openapi when set) or (path, methods)."""
    entries = [_route_entry(r) for r in routes]
    return _frame(ROUTE_REGISTRY, _compact_json({"routes": entries}))


def encode_heartbeat(worker_id: str, loop_lag_ms: Optional[int] = None,
                     route_sync_ms: Optional[Dict[str, List[int]]] = None) -> bytes:
    payload: Dict[str, Any] = {"worker_id": worker_id}
    if loop_lag_ms is not None:
        payload["loop_lag_ms"] = loop_lag_ms
    if route_sync_ms is not None:
        payload["route_sync_ms"] = route_sync_ms
    return _frame(HEARTBEAT, _compact_json(payload))


def encode_shutdown(graceful: bool) -> bytes:
    return _frame(SHUTDOWN, _U8.pack(1 if graceful else 0))


def encode_startup_error(kind: str, message: str, traceback: str) -> bytes:
    return _frame(
        STARTUP_ERROR, _compact_json({"kind": kind, "message": message, "traceback": traceback})
    )


def encode_hello(worker_id: str, secret: str) -> bytes:
    return _frame(HELLO, _compact_json({"worker_id": worker_id, "secret": secret}))


def encode_cancel_task(task_id: int, flags: int = 0) -> bytes:
    return _TASK_ID_FLAGS.pack(6, CANCEL_TASK, task_id, flags)


def encode_task_started(task_id: int) -> bytes:
    return _frame(TASK_STARTED, _U32.pack(task_id))


def encode_task_assignment(
    task_id: int,
    method: str,
    route: str,
    path: str,
    query: str,
    params: Sequence[Pair],
    headers: Sequence[Pair],
    request_id: str,
    client_host: str,
    client_port: int,
    body: bytes,
) -> bytes:
    payload = b"".join(
        (
            _U32.pack(task_id),
            _str8(method),
            _str16(route),
            _str16(path),
            _str16(query),
            _pairs(params),
            _pairs(headers),
            _str8(request_id),
            _str8(client_host),
            _U16.pack(client_port),
            body,
        )
    )
    return _frame(TASK_ASSIGNMENT, payload)


def encode_task_result_head(
    task_id: int, status: int, flags: int, headers: Sequence[Pair], body_length: int
) -> bytes:
    """Everything of a TaskResult frame but its body, so the body can be sent without a copy."""
    if not headers:
        return _RESULT_HEAD_NO_HEADERS.pack(
            _RESULT_OVERHEAD + 2 + body_length, TASK_RESULT, task_id, status, flags, 0
        )
    pairs = _pairs(headers)
    head = _RESULT_HEAD.pack(
        _RESULT_OVERHEAD + len(pairs) + body_length, TASK_RESULT, task_id, status, flags
    )
    return head + pairs


def encode_task_result(
    task_id: int, status: int, flags: int, headers: Sequence[Pair], body: bytes
) -> bytes:
    return encode_task_result_head(task_id, status, flags, headers, len(body)) + body


_TASK_ID = struct.Struct(">IBI")  # length, type, task_id
_TASK_ID_FLAGS = struct.Struct(">IBIB")  # length, type, task_id, flags
_WINDOW_UPDATE = struct.Struct(">IBII")  # length, type, task_id, increment
_WS_MESSAGE_HEAD = struct.Struct(">IBIB")  # length, type, task_id, kind
_WS_TEXT, _WS_BINARY = 1, 2


def encode_response_head(task_id: int, status: int, flags: int, headers: Sequence[Pair]) -> bytes:
    return _frame(RESPONSE_HEAD, _RESULT_FIXED.pack(task_id, status, flags) + _pairs(headers))


def encode_body_chunk_head(task_id: int, length: int) -> bytes:
    """The 9 bytes before a BodyChunk's data: send them, then the data, with no copy."""
    return _TASK_ID.pack(5 + length, BODY_CHUNK, task_id)


def encode_body_chunk(task_id: int, data: bytes) -> bytes:
    return encode_body_chunk_head(task_id, len(data)) + data


def encode_body_end(task_id: int, flags: int) -> bytes:
    return _TASK_ID_FLAGS.pack(6, BODY_END, task_id, flags)


def encode_window_update(task_id: int, increment: int) -> bytes:
    return _WINDOW_UPDATE.pack(9, WINDOW_UPDATE, task_id, increment)


def encode_websocket_accept(task_id: int, subprotocol: str, headers: Sequence[Pair]) -> bytes:
    return _frame(WEBSOCKET_ACCEPT, _U32.pack(task_id) + _str8(subprotocol) + _pairs(headers))


def encode_websocket_message_head(task_id: int, binary: bool, length: int) -> bytes:
    """The 10 bytes before a WebSocketMessage's data: send them, then the data, with no copy."""
    return _WS_MESSAGE_HEAD.pack(6 + length, WEBSOCKET_MESSAGE, task_id,
                                 _WS_BINARY if binary else _WS_TEXT)


def encode_websocket_message(task_id: int, binary: bool, data: bytes) -> bytes:
    return encode_websocket_message_head(task_id, binary, len(data)) + data


def encode_websocket_close(task_id: int, code: int, reason: str) -> bytes:
    return _frame(WEBSOCKET_CLOSE, _U32.pack(task_id) + _U16.pack(code) + _str16(reason))


def encode_message(msg: Message) -> bytes:
    """Encodes any message; the worker's hot path calls the specific encoders directly."""
    t = msg.TYPE
    if t == TASK_RESULT:
        return encode_task_result(msg.task_id, msg.status, msg.flags, msg.headers, msg.body)
    if t == TASK_ASSIGNMENT:
        return encode_task_assignment(
            msg.task_id, msg.method, msg.route, msg.path, msg.query, msg.params, msg.headers,
            msg.request_id, msg.client_host, msg.client_port, msg.body,
        )
    if t == WORKER_READY:
        return encode_worker_ready(msg.worker_id, msg.pid, msg.runtime, msg.concurrency)
    if t == DISCOVER_ROUTES:
        return encode_discover_routes()
    if t == ROUTE_REGISTRY:
        return encode_route_registry(msg.routes)
    if t == HEARTBEAT:
        return encode_heartbeat(msg.worker_id, msg.loop_lag_ms, msg.route_sync_ms)
    if t == SHUTDOWN:
        return encode_shutdown(msg.graceful)
    if t == STARTUP_ERROR:
        return encode_startup_error(msg.kind, msg.message, msg.traceback)
    if t == HELLO:
        return encode_hello(msg.worker_id, msg.secret)
    if t == CANCEL_TASK:
        return encode_cancel_task(msg.task_id, msg.flags)
    if t == TASK_STARTED:
        return encode_task_started(msg.task_id)
    if t == RESPONSE_HEAD:
        return encode_response_head(msg.task_id, msg.status, msg.flags, msg.headers)
    if t == BODY_CHUNK:
        return encode_body_chunk(msg.task_id, bytes(msg.data))
    if t == BODY_END:
        return encode_body_end(msg.task_id, msg.flags)
    if t == WINDOW_UPDATE:
        return encode_window_update(msg.task_id, msg.increment)
    if t == WEBSOCKET_ACCEPT:
        return encode_websocket_accept(msg.task_id, msg.subprotocol, msg.headers)
    if t == WEBSOCKET_MESSAGE:
        return encode_websocket_message(msg.task_id, msg.binary, bytes(msg.data))
    if t == WEBSOCKET_CLOSE:
        return encode_websocket_close(msg.task_id, msg.code, msg.reason)
    raise TypeError(f"not a protocol message: {msg!r}")


# ---------------------------------------------------------------------------------- decoding


def check_frame_length(length: int, max_frame: int) -> None:
    """Validates a frame's length prefix, as soon as its 4 bytes are in."""
    if length == 0:
        raise ProtocolError("malformed", "frame length is 0 (a frame holds at least its type byte)")
    if length > max_frame:
        raise ProtocolError(
            "too_large", f"frame of {length} bytes exceeds the limit of {max_frame} bytes"
        )


def _too_short(what: str) -> ProtocolError:
    return ProtocolError("malformed", f"{what} payload is too short")


def _bad_utf8(what: str) -> ProtocolError:
    return ProtocolError("malformed", f"{what} has a string that is not valid UTF-8")


def _read_pairs(p: memoryview, o: int, end: int, what: str) -> Tuple[List[Pair], int]:
    (count,) = _U16.unpack_from(p, o)
    o += 2
    pairs = []
    for _ in range(count):
        (n,) = _U16.unpack_from(p, o)
        s = o + 2
        o = s + n
        if o > end:
            raise _too_short(what)
        name = p[s:o].tobytes().decode("utf-8")
        (n,) = _U16.unpack_from(p, o)
        s = o + 2
        o = s + n
        if o > end:
            raise _too_short(what)
        pairs.append((name, p[s:o].tobytes().decode("utf-8")))
    return pairs, o


def _decode_task_assignment(p: memoryview) -> TaskAssignment:
    # Inlined reads: this runs once per request. struct.error means a fixed field ran past the
    # end; slices do not fail on their own, hence the explicit `o > end` checks.
    end = len(p)
    try:
        task_id, n = _TASK_FIXED.unpack_from(p, 0)
        o = 5 + n
        if o > end:
            raise _too_short("TaskAssignment")
        method = p[5:o].tobytes().decode("utf-8")
        (n,) = _U16.unpack_from(p, o)
        s = o + 2
        o = s + n
        if o > end:
            raise _too_short("TaskAssignment")
        route = p[s:o].tobytes().decode("utf-8")
        (n,) = _U16.unpack_from(p, o)
        s = o + 2
        o = s + n
        if o > end:
            raise _too_short("TaskAssignment")
        path = p[s:o].tobytes().decode("utf-8")
        (n,) = _U16.unpack_from(p, o)
        s = o + 2
        o = s + n
        if o > end:
            raise _too_short("TaskAssignment")
        query = p[s:o].tobytes().decode("utf-8") if n else ""
        params, o = _read_pairs(p, o, end, "TaskAssignment")
        headers, o = _read_pairs(p, o, end, "TaskAssignment")
        n = p[o]
        s = o + 1
        o = s + n
        if o > end:
            raise _too_short("TaskAssignment")
        request_id = p[s:o].tobytes().decode("utf-8")
        n = p[o]
        s = o + 1
        o = s + n
        if o > end:
            raise _too_short("TaskAssignment")
        client_host = p[s:o].tobytes().decode("utf-8") if n else ""
        (client_port,) = _U16.unpack_from(p, o)
        o += 2
    except (struct.error, IndexError):
        raise _too_short("TaskAssignment") from None
    except UnicodeDecodeError:
        raise _bad_utf8("TaskAssignment") from None
    return TaskAssignment(
        task_id, method, route, path, query, params, headers, request_id, client_host, client_port,
        p[o:],
    )


def _decode_task_result(p: memoryview) -> TaskResult:
    try:
        task_id, status, flags = _RESULT_FIXED.unpack_from(p, 0)
        headers, o = _read_pairs(p, _RESULT_FIXED.size, len(p), "TaskResult")
    except struct.error:
        raise _too_short("TaskResult") from None
    except UnicodeDecodeError:
        raise _bad_utf8("TaskResult") from None
    return TaskResult(task_id, status, flags, headers, p[o:])


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON; the TypeScript side rejects them too.
    raise ValueError(f"{name} is not valid JSON")


def _json_object(p: memoryview, what: str) -> Dict[str, Any]:
    try:
        value = json.loads(p.tobytes().decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise _bad_utf8(what) from None
    except (ValueError, RecursionError):
        raise ProtocolError("malformed", f"{what} payload is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError("malformed", f"{what} payload is not a JSON object")
    return value


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _is_route_sync(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(e, list) and len(e) == 2 and _is_count(e[0]) and _is_count(e[1]) for e in v.values()
    )


def _is_routes(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(r, dict)
        and isinstance(r.get("path"), str)
        and isinstance(r.get("methods"), list)
        and all(isinstance(m, str) for m in r["methods"])
        for r in v
    )


def _field(obj: Dict[str, Any], key: str, check: Callable[[Any], bool], what: str) -> Any:
    value = obj.get(key)
    if not check(value):
        raise ProtocolError("malformed", f"{what}.{key} is missing or has the wrong type")
    return value


def _expect_empty(p: memoryview, what: str) -> None:
    if len(p):
        raise ProtocolError("malformed", f"{what} payload has trailing bytes")


def _decode_worker_ready(p: memoryview) -> WorkerReady:
    o = _json_object(p, "WorkerReady")
    return WorkerReady(
        _field(o, "worker_id", _is_str, "WorkerReady"),
        _field(o, "pid", _is_int, "WorkerReady"),
        _field(o, "runtime", _is_str, "WorkerReady"),
        _field(o, "concurrency", _is_int, "WorkerReady"),
    )


def _decode_discover_routes(p: memoryview) -> DiscoverRoutes:
    _expect_empty(p, "DiscoverRoutes")
    return DiscoverRoutes()


def _decode_route_registry(p: memoryview) -> RouteRegistry:
    routes = _field(_json_object(p, "RouteRegistry"), "routes", _is_routes, "RouteRegistry")
    return RouteRegistry(routes)


def _decode_heartbeat(p: memoryview) -> Heartbeat:
    o = _json_object(p, "Heartbeat")
    lag = o.get("loop_lag_ms")
    routes = o.get("route_sync_ms")
    return Heartbeat(
        _field(o, "worker_id", _is_str, "Heartbeat"),
        None if lag is None else _field(o, "loop_lag_ms", _is_count, "Heartbeat"),
        None if routes is None else _field(o, "route_sync_ms", _is_route_sync, "Heartbeat"),
    )


def _decode_shutdown(p: memoryview) -> Shutdown:
    if len(p) == 0:
        raise _too_short("Shutdown")
    _expect_empty(p[1:], "Shutdown")
    if p[0] > 1:
        raise ProtocolError("malformed", "Shutdown.graceful must be 0 or 1")
    return Shutdown(p[0] == 1)


def _decode_startup_error(p: memoryview) -> StartupError:
    o = _json_object(p, "StartupError")
    return StartupError(
        _field(o, "kind", _is_str, "StartupError"),
        _field(o, "message", _is_str, "StartupError"),
        _field(o, "traceback", _is_str, "StartupError"),
    )


def _decode_hello(p: memoryview) -> Hello:
    o = _json_object(p, "Hello")
    return Hello(_field(o, "worker_id", _is_str, "Hello"), _field(o, "secret", _is_str, "Hello"))


def _decode_cancel_task(p: memoryview) -> CancelTask:
    if len(p) < 5:
        raise _too_short("CancelTask")
    _expect_empty(p[5:], "CancelTask")
    task_id, flags = struct.unpack_from(">IB", p, 0)
    return CancelTask(task_id, flags)


def _decode_task_started(p: memoryview) -> TaskStarted:
    if len(p) < 4:
        raise _too_short("TaskStarted")
    _expect_empty(p[4:], "TaskStarted")
    return TaskStarted(_U32.unpack_from(p, 0)[0])


def _decode_response_head(p: memoryview) -> ResponseHead:
    try:
        task_id, status, flags = _RESULT_FIXED.unpack_from(p, 0)
        headers, o = _read_pairs(p, _RESULT_FIXED.size, len(p), "ResponseHead")
    except struct.error:
        raise _too_short("ResponseHead") from None
    except UnicodeDecodeError:
        raise _bad_utf8("ResponseHead") from None
    _expect_empty(p[o:], "ResponseHead")
    return ResponseHead(task_id, status, flags, headers)


def _decode_body_chunk(p: memoryview) -> BodyChunk:
    if len(p) < 4:
        raise _too_short("BodyChunk")
    return BodyChunk(_U32.unpack_from(p, 0)[0], p[4:])


def _decode_body_end(p: memoryview) -> BodyEnd:
    if len(p) < 5:
        raise _too_short("BodyEnd")
    _expect_empty(p[5:], "BodyEnd")
    task_id, flags = struct.unpack_from(">IB", p, 0)
    return BodyEnd(task_id, flags)


def _decode_window_update(p: memoryview) -> WindowUpdate:
    if len(p) < 8:
        raise _too_short("WindowUpdate")
    _expect_empty(p[8:], "WindowUpdate")
    task_id, increment = struct.unpack_from(">II", p, 0)
    return WindowUpdate(task_id, increment)


def _read_str(p: memoryview, o: int, n: int, what: str) -> Tuple[str, int]:
    end = o + n
    if end > len(p):
        raise _too_short(what)
    try:
        return p[o:end].tobytes().decode("utf-8"), end
    except UnicodeDecodeError:
        raise _bad_utf8(what) from None


def _decode_websocket_accept(p: memoryview) -> WebSocketAccept:
    what = "WebSocketAccept"
    try:
        task_id, n = _TASK_FIXED.unpack_from(p, 0)
        subprotocol, o = _read_str(p, 5, n, what)
        headers, o = _read_pairs(p, o, len(p), what)
    except struct.error:
        raise _too_short(what) from None
    except UnicodeDecodeError:
        raise _bad_utf8(what) from None
    _expect_empty(p[o:], what)
    return WebSocketAccept(task_id, subprotocol, headers)


def _decode_websocket_message(p: memoryview) -> WebSocketMessage:
    if len(p) < 5:
        raise _too_short("WebSocketMessage")
    task_id, kind = struct.unpack_from(">IB", p, 0)
    if kind != _WS_TEXT and kind != _WS_BINARY:
        raise ProtocolError("malformed", f"WebSocketMessage kind must be 1 or 2, got {kind}")
    return WebSocketMessage(task_id, kind == _WS_BINARY, p[5:])


def _decode_websocket_close(p: memoryview) -> WebSocketClose:
    if len(p) < 8:
        raise _too_short("WebSocketClose")
    task_id, code, n = struct.unpack_from(">IHH", p, 0)
    reason, o = _read_str(p, 8, n, "WebSocketClose")
    _expect_empty(p[o:], "WebSocketClose")
    return WebSocketClose(task_id, code, reason)


_DECODERS: Dict[int, Callable[[memoryview], Message]] = {
    TASK_ASSIGNMENT: _decode_task_assignment,
    TASK_RESULT: _decode_task_result,
    WORKER_READY: _decode_worker_ready,
    DISCOVER_ROUTES: _decode_discover_routes,
    ROUTE_REGISTRY: _decode_route_registry,
    HEARTBEAT: _decode_heartbeat,
    SHUTDOWN: _decode_shutdown,
    STARTUP_ERROR: _decode_startup_error,
    HELLO: _decode_hello,
    CANCEL_TASK: _decode_cancel_task,
    TASK_STARTED: _decode_task_started,
    RESPONSE_HEAD: _decode_response_head,
    BODY_CHUNK: _decode_body_chunk,
    BODY_END: _decode_body_end,
    WINDOW_UPDATE: _decode_window_update,
    WEBSOCKET_ACCEPT: _decode_websocket_accept,
    WEBSOCKET_MESSAGE: _decode_websocket_message,
    WEBSOCKET_CLOSE: _decode_websocket_close,
}


def decode_payload(type_: int, payload: memoryview) -> Message:
    """Decodes one frame given its type byte and its payload (the bytes after the type byte)."""
    decoder = _DECODERS.get(type_)
    if decoder is None:
        raise ProtocolError("unknown_type", f"unknown message type 0x{type_:02x}")
    return decoder(payload)


class FrameDecoder:
    """Splits a byte stream into messages: ``feed`` bytes as they come, call ``end`` at EOF.

    Each complete frame is copied out of the internal buffer once, so the messages returned
    (bodies included) stay valid after later feeds.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max_frame = max_frame

    def feed(self, data: bytes) -> List[Message]:
        buf = self._buf
        buf += data
        out: List[Message] = []
        offset = 0
        size = len(buf)
        try:
            while size - offset >= 4:
                (length,) = _U32.unpack_from(buf, offset)
                check_frame_length(length, self._max_frame)
                end = offset + 4 + length
                if end > size:
                    break
                frame = memoryview(bytes(buf[offset + 4 : end]))
                out.append(decode_payload(frame[0], frame[1:]))
                offset = end
        finally:
            if offset:
                del buf[:offset]
        return out

    def end(self) -> None:
        """Call at end of stream: leftover bytes mean the peer stopped inside a frame."""
        if self._buf:
            raise ProtocolError(
                "truncated", f"stream ended inside a frame ({len(self._buf)} bytes left over)"
            )


def decode_frame(frame: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> Message:
    """Decodes exactly one whole frame (length prefix included)."""
    decoder = FrameDecoder(max_frame)
    messages = decoder.feed(frame)
    decoder.end()
    if len(messages) != 1:
        raise ProtocolError("malformed", f"expected one frame, got {len(messages)}")
    return messages[0]


# ------------------------------------------------------------- the test vectors' dict form


def message_to_dict(msg: Message) -> Dict[str, Any]:
    """The message as protocol/vectors.json writes it: bytes as ``*_hex``, pairs as lists."""
    out: Dict[str, Any] = {"type": type(msg).__name__}
    for name in msg.__slots__:
        value = getattr(msg, name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if name in ("body", "data"):
            out[name + "_hex"] = bytes(value).hex()
        elif name in ("params", "headers"):
            out[name] = [[n, v] for n, v in value]
        elif name == "routes":
            out[name] = [dict(r) for r in value]
        else:
            out[name] = value
    return out


#: Fields absent from the dict form (and the wire) when None.
_OPTIONAL_FIELDS = frozenset(("loop_lag_ms", "route_sync_ms"))

_MESSAGE_CLASSES = {
    cls.__name__: cls
    for cls in (
        WorkerReady, DiscoverRoutes, RouteRegistry, Heartbeat, Shutdown, StartupError, Hello,
        TaskAssignment, TaskResult, CancelTask, TaskStarted, ResponseHead, BodyChunk, BodyEnd,
        WindowUpdate, WebSocketAccept, WebSocketMessage, WebSocketClose,
    )
}


def message_from_dict(data: Dict[str, Any]) -> Message:
    """The inverse of message_to_dict."""
    cls = _MESSAGE_CLASSES[data["type"]]
    kwargs: Dict[str, Any] = {}
    for name in cls.__slots__:
        if name in ("body", "data"):
            kwargs[name] = bytes.fromhex(data[name + "_hex"])
        elif name in ("params", "headers"):
            kwargs[name] = [(n, v) for n, v in data[name]]
        elif name == "routes":
            kwargs[name] = [dict(r) for r in data[name]]
        elif name in _OPTIONAL_FIELDS:
            kwargs[name] = data.get(name)
        else:
            kwargs[name] = data[name]
    return cls(**kwargs)
