"""Serving an ASGI 3 app (FastAPI, Starlette, Django's ASGIHandler…) in the async worker.

Each TaskAssignment becomes one call of the app with an ``http`` scope built per the ASGI spec.
A small body comes whole in the task and is one ``http.request``; a large or chunked one follows
in BodyChunk frames and is one ``http.request`` (``more_body``) per chunk, read as the app asks,
so the app sees the first chunk before the upload ends and holds at most the window.
What the app sends becomes the worker's usual outcome: a whole body sent at once
(``more_body`` false) is a buffered Result, the hot path; anything else a Stream, whose content is
fed by the app's ``send`` one piece at a time, so the worker's window paces the app. The app's
call may go on after its response is complete (Starlette's background tasks): it runs on, the
task is over for the orchestrator, and a worker that stops waits for it (``drain``).

``lifespan`` runs once per worker: startup before the worker reports ready, shutdown when it stops.
"""

import asyncio
import functools
import sys
import traceback
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote

from ..streaming import ClientDisconnect
from .foreign import BUFFER_LIMIT, body_bytes, header, host_and_port, http_version, is_secure, valid_status
from .worker.executor import Outcome, Result, crash_result, error_result, report_failure
from .worker.protocol import APP_HEADERS, HANDLER_FAILED, TaskAssignment
from .worker.streams import Stream, request_label

Message = Dict[str, Any]
Headers = List[Tuple[bytes, bytes]]

ASGI = {"version": "3.0", "spec_version": "2.4"}
#: How long the app's lifespan shutdown may take when the worker stops.
SHUTDOWN_TIMEOUT = 10.0


class ClientDisconnected(OSError):
    """What the app's ``send`` raises once the client is gone (the ASGI spec asks for an OSError)."""


# ------------------------------------------------------------------------------------- scope


def _latin1(text: str) -> bytes:
    # Header text came from Node's HTTP parser as latin-1 code points: these are the bytes sent.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def request_headers(task: TaskAssignment) -> Headers:
    """The headers as byte pairs; ``x-request-id`` is the request's id (the orchestrator's when
    the client sent none or an unusable one), so the app logs what the access log says."""
    try:  # the common case, every header latin-1: one comprehension, no call per header
        headers = [(name.encode("latin-1"), value.encode("latin-1"))
                   for name, value in task.headers if name != "x-request-id"]
    except UnicodeEncodeError:
        headers = [(name.encode("latin-1", "replace"), _latin1(value))
                   for name, value in task.headers if name != "x-request-id"]
    headers.append((b"x-request-id", _latin1(task.request_id)))
    return headers


def request_scheme(kind: str, secure: bool) -> str:
    """The scope's scheme: http or https, ws or wss, as the client used it."""
    if kind == "http":
        return "https" if secure else "http"
    return "wss" if secure else "ws"


@functools.lru_cache(maxsize=64)
def _host_port(host: str, default_port: int) -> Tuple[str, int]:
    # Most requests name one of a few hosts: each parsed once (bounded, as Host is the client's).
    return host_and_port(host, default_port)


def _server(task: TaskAssignment, secure: bool) -> Optional[Tuple[str, int]]:
    """(host, port) from the Host header: the orchestrator, not the worker, faces the client.
    A Host without a port has the scheme's (443 for https and wss)."""
    host = header(task.headers, "host")
    return None if host is None else _host_port(host, 443 if secure else 80)


def base_scope(kind: str, task: TaskAssignment, root_path: str, state: Dict[str, Any]
               ) -> Dict[str, Any]:
    """What the ``http`` and ``websocket`` scopes share."""
    path = task.path
    query = task.query
    version = http_version(task)  # first: it takes its pair out of the headers
    secure = is_secure(task)
    return {
        "type": kind,
        "asgi": ASGI,
        "http_version": version,
        "scheme": request_scheme(kind, secure),
        # Under a root path the proxy stripped, path and raw_path start with it again (as
        # uvicorn's --root-path does): frameworks route on what follows it.
        "path": root_path + (unquote(path) if "%" in path else path),
        "raw_path": _latin1(root_path + path),
        "query_string": _latin1(query) if query else b"",
        "root_path": root_path,
        "headers": request_headers(task),
        "client": (task.client_host, task.client_port) if task.client_host else None,
        "server": _server(task, secure),
        # A shallow copy per request, as the spec asks: what lifespan put there is shared.
        "state": dict(state),
    }


def is_websocket(task: TaskAssignment) -> bool:
    """An upgrade: ``upgrade: websocket`` and ``connection`` naming upgrade (both, always)."""
    upgrade = connection = False
    for name, value in task.headers:
        if name == "upgrade":
            upgrade = upgrade or value.strip().lower() == "websocket"
        elif name == "connection":
            connection = connection or any(t.strip().lower() == "upgrade" for t in value.split(","))
    return upgrade and connection


def response_headers(headers: Any) -> List[Tuple[str, str]]:
    """An ASGI message's headers as the worker sends them: names in lower case, latin-1 text.

    Names and values must be byte strings, as the spec says: anything else is the app's error (a
    500, as uvicorn's TypeError is), not converted. ``bytes(0)`` would send an empty value and
    ``bytes(5)`` five NUL bytes.
    """
    try:
        return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in headers]
    except AttributeError:
        pass
    for name, value in headers:  # which one; the value itself stays out of the log
        for what, part in (("name", name), ("value", value)):
            if not isinstance(part, (bytes, bytearray)):
                raise TypeError(f"ASGI: header {name!r}: its {what} is {type(part).__name__}, "
                                f"not bytes")
    raise TypeError("ASGI: headers must be pairs of byte strings")


# ------------------------------------------------------------------------------------ http


class _Channel:
    """The app's response pieces on their way to the worker's stream, one at a time.

    ``put`` (the app's send) waits while a piece is still pending, so the app goes no faster
    than the worker sends under its window; ``finish`` ends it from the app's side, ``close``
    from the worker's (the client left or the task was cancelled).
    """

    def __init__(self) -> None:
        self._pending: Optional[bytes] = None
        self._end: Optional[Tuple[Optional[BaseException]]] = None
        self._closed = False
        self._getter: Optional["asyncio.Future[None]"] = None
        self._putter: Optional["asyncio.Future[None]"] = None

    @staticmethod
    def _wake(waiter: Optional["asyncio.Future[None]"]) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def put(self, data: bytes) -> None:
        while self._pending is not None and not self._closed:
            self._putter = asyncio.get_running_loop().create_future()
            await self._putter
        if self._closed:
            raise ClientDisconnected("the client is gone")
        self._pending = data
        self._wake(self._getter)

    def finish(self, error: Optional[BaseException] = None) -> None:
        if self._end is None:
            self._end = (error,)
        self._wake(self._getter)

    def close(self) -> None:
        self._closed = True
        self._wake(self._putter)

    async def get(self) -> Optional[bytes]:
        """The next piece; None at the end; raises what the app raised."""
        while True:
            if self._pending is not None:
                data, self._pending = self._pending, None
                self._wake(self._putter)
                return data
            if self._end is not None:
                if self._end[0] is not None:
                    raise self._end[0]
                return None
            self._getter = asyncio.get_running_loop().create_future()
            await self._getter


class _HttpExchange:
    """One request's receive and send, and the outcome the worker waits for.

    ``done`` (the worker's) is called with the exchange as soon as ``outcome`` is settled, from
    inside the app's ``send``: a buffered response is queued for the worker's write in the
    event-loop turn the handler ran in, not one or two turns later as a future's done callbacks
    would be.
    """

    __slots__ = ("task_id", "assignment", "body", "stream", "head", "complete",
                 "gone", "waiter", "loop", "outcome", "done", "channel", "app_task", "running")

    def __init__(self, task: TaskAssignment, stream: Any, loop: asyncio.AbstractEventLoop,
                 done: Callable[["_HttpExchange"], None], running: Any) -> None:
        self.task_id = task.task_id
        self.assignment = task  # for the log, should the app fail
        # The whole body (a copy: task.body is a view into the receive buffer), or None when it
        # follows in ``stream``, a BodyStream, as the client sends it.
        self.body: Optional[bytes] = None if stream is not None else bytes(task.body)
        self.stream = stream
        self.head: Optional[Tuple[int, List[Tuple[str, str]]]] = None
        self.complete = False
        # The exchange is over for receive(): the response is whole, or the client left. A flag
        # and a future made only when receive() waits on it (an asyncio.Event per request costs
        # more, and most apps never wait).
        self.gone = False
        self.waiter: Optional["asyncio.Future[None]"] = None
        self.loop = loop
        self.outcome: "asyncio.Future[Outcome]" = loop.create_future()
        self.done = done
        self.channel: Optional[_Channel] = None
        self.app_task: Optional["asyncio.Task[Any]"] = None
        self.running = running  # the adapter's set of app calls, which holds this one's task

    def disconnect(self) -> None:
        self.gone = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _settle(self, outcome: Any) -> None:
        self.outcome.set_result(outcome)
        self.done(self)

    def client_left(self) -> None:
        """CancelTask for a client gone before the response: the app hears it and runs on."""
        if not self.complete:
            self.disconnect()

    def cancel(self) -> None:
        """The worker abandons the task (CancelTask) before its response: stop the app too."""
        self.disconnect()
        if not self.outcome.done():
            self.outcome.cancel()
        if self.app_task is not None:
            self.app_task.cancel()

    async def receive(self) -> Message:
        body = self.body
        if body is not None:
            self.body = None
            return {"type": "http.request", "body": body, "more_body": False}
        stream = self.stream
        if stream is not None and not self.gone:
            try:
                chunk = await stream.read()
            except ClientDisconnect:  # the client left mid-upload, or the task was cancelled
                self.stream = None
                self.disconnect()
                return {"type": "http.disconnect"}
            if chunk:
                return {"type": "http.request", "body": chunk, "more_body": True}
            self.stream = None
            return {"type": "http.request", "body": b"", "more_body": False}
        if not self.gone:
            if self.waiter is None:
                self.waiter = self.loop.create_future()
            await asyncio.shield(self.waiter)  # many receive() calls may wait on it
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if self.gone and not self.complete:
            raise ClientDisconnected("the client is gone")
        if kind == "http.response.start":
            if self.head is not None:
                raise RuntimeError("ASGI: http.response.start sent twice")
            status = valid_status(int(message["status"]), "ASGI")
            self.head = (status, response_headers(message.get("headers", ())))
        elif kind == "http.response.body":
            if self.head is None:
                raise RuntimeError("ASGI: http.response.body before http.response.start")
            if self.complete:
                raise RuntimeError("ASGI: http.response.body after the response was complete")
            data = body_bytes(message.get("body", b""), "ASGI")
            more = bool(message.get("more_body", False))
            if self.channel is None:
                status, headers = self.head
                if not more:
                    self._done()
                    # A HEAD answered without its body keeps the app's Content-Length: the
                    # orchestrator's rule for APP_HEADERS results (HttpJob.send).
                    if len(data) > BUFFER_LIMIT:
                        # One frame could not hold it all (a 100 MB Response(content=...)): it
                        # goes as a stream of chunks, as uvicorn would send it whole.
                        self._settle(Stream(status, 0, headers, _once(data)))
                    else:
                        self._settle((status, APP_HEADERS, headers, data))
                    return
                self.channel = _Channel()
                self._settle(Stream(status, 0, headers, self._content()))
            if data:
                await self.channel.put(data)
            if not more:
                self._done()
                self.channel.finish()
        elif kind == "http.response.trailers" or kind == "http.response.pathsend":
            raise RuntimeError(f"ASGI: {kind} is not supported")
        else:
            raise RuntimeError(f"ASGI: unexpected message {kind!r} in an http connection")

    def _done(self) -> None:
        self.complete = True
        self.disconnect()  # receive() now says the exchange is over, as servers do

    async def _content(self) -> Any:
        """The Stream's content: the app's pieces as it sends them."""
        channel = self.channel
        assert channel is not None
        try:
            while True:
                data = await channel.get()
                if data is None:
                    return
                yield data
        finally:
            if not self.complete:  # closed early: the client left or the task was cancelled
                self.disconnect()
                channel.close()
                if self.app_task is not None:
                    self.app_task.cancel()

    def app_ended(self, task: "asyncio.Task[Any]") -> None:
        # The task's exception holds the app's frames, which hold this exchange: without this
        # the cycle would keep the app's generators from being closed until the collector runs.
        self.running.discard(task)
        self.app_task = None
        if not self.outcome.done():
            # An app that stops when its client left mid-upload (Starlette raises) failed no one.
            try:
                outcome = _no_response(self.assignment, task, self.gone)
            except asyncio.CancelledError:
                self.outcome.cancel()
                self.done(self)
                return
            self._settle(outcome)
            return
        error = None if task.cancelled() else task.exception()
        if self.channel is not None and not self.complete:
            self.channel.finish(error or RuntimeError(
                "ASGI: the app returned before its response was complete"))
        elif error is not None and not isinstance(error, OSError):
            _log_failure(self.assignment, error, "after its response was sent")


# ------------------------------------------------------------------------------- websocket


class _WebSocketSession:
    """One ``websocket`` scope on the worker's SocketChannel for the task.

    Before ``websocket.accept`` the app may refuse: ``websocket.close`` is a 403, as the spec
    asks, and the denial-response extension sends its own HTTP response. After it, messages and
    closes travel both ways; the worker closes with 1000 once the app returns without closing.
    """

    def __init__(self, task: TaskAssignment, socket: Any) -> None:
        self._task = task
        self._socket = socket
        self._connected = False
        self._refusal: Optional[Result] = None
        self._denial: Optional[Tuple[int, List[Tuple[str, str]], List[bytes]]] = None

    async def run(self, app: Callable[..., Awaitable[None]], root_path: str,
                  state: Dict[str, Any]) -> Optional[Outcome]:
        task = self._task
        scope = base_scope("websocket", task, root_path, state)
        offered = header(task.headers, "sec-websocket-protocol") or ""
        scope["subprotocols"] = [p.strip() for p in offered.split(",") if p.strip()]
        scope["extensions"] = {"websocket.http.response": {}}
        try:
            await app(scope, self._receive, self._send)
        except Exception as exc:
            if self._socket.accepted:
                _log_failure(task, exc, "in its WebSocket")
                self._socket.end(1011)
                return None
            if self._refusal is None:
                text = _log_failure(task, exc, "before accepting its WebSocket")
                return crash_result(exc, text, "app", task.request_id)
        if self._socket.accepted:
            return None  # the worker closes it (1000) if the app did not
        if self._refusal is not None:
            return self._refusal
        sys.stderr.write(f"neutrino: {request_label(task)}: the ASGI app returned without "
                         "accepting or refusing its WebSocket\n")
        return error_result(500, "the app neither accepted nor refused the WebSocket",
                            HANDLER_FAILED)

    async def _receive(self) -> Message:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        from ..websocket import WebSocketDisconnect

        try:
            data = await self._socket.receive()
        except WebSocketDisconnect as exc:
            return {"type": "websocket.disconnect", "code": exc.code,
                    "reason": getattr(exc, "reason", "") or ""}
        except RuntimeError:  # we closed it: nothing more will come
            return {"type": "websocket.disconnect", "code": 1000, "reason": ""}
        if isinstance(data, str):
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        socket = self._socket
        if self._refusal is not None or socket.closed:
            raise ClientDisconnected("the WebSocket is closed")
        if kind == "websocket.accept":
            headers = response_headers(message.get("headers", ()))
            socket.accept(message.get("subprotocol") or "", headers)
        elif kind == "websocket.send":
            if not socket.accepted:
                raise RuntimeError("ASGI: websocket.send before websocket.accept")
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
            if data is None:
                raise RuntimeError("ASGI: websocket.send with neither bytes nor text")
            from ..websocket import WebSocketDisconnect

            try:
                await socket.send(data)
            except WebSocketDisconnect:
                raise ClientDisconnected("the client closed the WebSocket") from None
        elif kind == "websocket.close":
            if socket.accepted:
                await socket.close(int(message.get("code") or 1000), message.get("reason") or "")
            else:
                self._refusal = error_result(403, "the app refused the WebSocket")
        elif kind == "websocket.http.response.start" and not socket.accepted:
            headers = response_headers(message.get("headers", ()))
            self._denial = (int(message["status"]), headers, [])
        elif kind == "websocket.http.response.body" and self._denial is not None:
            self._denial[2].append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                status, headers, pieces = self._denial
                self._refusal = (status, 0, headers, b"".join(pieces))
        else:
            raise RuntimeError(f"ASGI: unexpected message {kind!r} in a websocket connection")


class AsgiAdapter:
    """An ASGI 3 app, as the async worker runs it: ``await execute_async(task, body, socket)``."""

    kind = "asgi"
    is_async = True  # served by the async worker, NEUTRINO_WORKER_CONCURRENCY tasks at once

    def __init__(self, app: Callable[..., Awaitable[None]], root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path
        self.state: Dict[str, Any] = {}
        self._lifespan: Optional[_Lifespan] = None
        self._running: "set[asyncio.Task[Any]]" = set()  # calls that outlive their response

    @staticmethod
    def new_event_loop() -> asyncio.AbstractEventLoop:
        """uvloop's loop when the app's Python has it, as uvicorn and Granian do."""
        try:
            import uvloop
        except ImportError:
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()

    def registry(self) -> List[Dict[str, Any]]:
        from .introspect import registry

        return registry(self.app, websocket=True, stream_large_body=True)

    async def execute_async(self, task: TaskAssignment, body: Any = None, socket: Any = None
                            ) -> Optional[Outcome]:
        """The task's outcome; None for a WebSocket the app accepted (it is over when this
        returns). ``socket``: the worker's SocketChannel for the task (every route of an ASGI app
        takes upgrades); ``body``: a BodyStream when the body follows the task in BodyChunk
        frames (large or chunked), None when the task carries it whole."""
        if socket is not None and is_websocket(task):
            return await _WebSocketSession(task, socket).run(self.app, self.root_path, self.state)
        exchange = self.start(task, body, _ignore, asyncio.get_running_loop())
        try:
            return await exchange.outcome
        except asyncio.CancelledError:
            exchange.cancel()
            raise

    def start(self, task: TaskAssignment, body: Any, done: Callable[["_HttpExchange"], None],
              loop: asyncio.AbstractEventLoop) -> "_HttpExchange":
        """Starts the app's call for an ``http`` task on ``loop`` (the worker's: passed, as
        asyncio.get_running_loop() is a getpid() system call per request on Python 3.11). Its
        ``outcome`` future (a Result or a Stream) is set by the app's send(), or by the call's
        end without a response, and ``done(exchange)`` is called at once; ``exchange.cancel()``
        stops the call. No task of the worker's own per request beside the app's."""
        exchange = _HttpExchange(task, body, loop, done, self._running)
        scope = base_scope("http", task, self.root_path, self.state)
        scope["method"] = task.method
        app_task = loop.create_task(self.app(scope, exchange.receive, exchange.send))
        exchange.app_task = app_task
        self._running.add(app_task)
        app_task.add_done_callback(exchange.app_ended)
        return exchange

    # lifespan ----------------------------------------------------------------------------------

    async def startup(self) -> None:
        """Runs the app's lifespan startup; raises StartupFailure with the app's message."""
        from .worker.app_loader import StartupFailure

        self._lifespan = _Lifespan(self.app, self.state)
        try:
            await self._lifespan.startup()
        except LifespanFailed as exc:
            raise StartupFailure("startup_failed", f"the app's lifespan startup failed: {exc}",
                                 exc.traceback) from None

    async def drain(self) -> None:
        """Waits for the app's calls still running after their response (Starlette's and
        FastAPI's background tasks: an email, a webhook), as uvicorn does before the lifespan
        shutdown. The orchestrator's --graceful-timeout bounds the wait: it kills the worker."""
        running = self._running
        if running:
            sys.stderr.write(f"neutrino: waiting for {len(running)} background task(s) of the "
                             "ASGI app to finish\n")
        while running:
            await asyncio.wait(list(running))

    async def shutdown(self) -> None:
        if self._lifespan is not None:
            await self._lifespan.shutdown()


def _ignore(_: Any) -> None:
    pass


async def _once(data: bytes) -> Any:
    yield data


def _no_response(task: TaskAssignment, app_task: "asyncio.Task[Any]", gone: bool = False
                 ) -> Result:
    """The app's call ended before its response was whole; ``gone``: its client left, and what
    the app raised about that (our send's OSError, a ClientDisconnect where it read the body) is
    not worth a traceback. Anything else it raised while running on is logged."""
    if app_task.cancelled():
        raise asyncio.CancelledError()
    error = app_task.exception()
    if error is not None:
        quiet = gone and _about_the_client(error)
        text = "" if quiet else _log_failure(task, error, "")
        return crash_result(error, text, "app", task.request_id)
    sys.stderr.write(f"neutrino: {request_label(task)}: the ASGI app returned without a "
                     "complete response\n")
    return error_result(500, "the app returned without a response", HANDLER_FAILED)


def _about_the_client(error: BaseException) -> bool:
    # By name: Starlette's ClientDisconnect (an Exception, raised when the body's read meets
    # http.disconnect) is the app's framework's, not a dependency of ours.
    return isinstance(error, OSError) or type(error).__name__ == "ClientDisconnect"


def _log_failure(task: TaskAssignment, error: BaseException, when: str) -> str:
    """Logs what the app raised, with the request id its client was given; the traceback."""
    return report_failure("the ASGI app", task.method, task.path, task.request_id, error, when)


# ---------------------------------------------------------------------------------- lifespan


class LifespanFailed(Exception):
    """The app's lifespan startup failed: its message, for the worker's StartupError."""

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


class _Lifespan:
    """The ``lifespan`` scope, one call of the app for the worker's whole life.

    An app that raises before answering startup does not do lifespan (Django's handler, a bare
    app): it is served without, as uvicorn's default does.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], state: Dict[str, Any]) -> None:
        self._app = app
        self._state = state
        self._inbox: "asyncio.Queue[Message]" = asyncio.Queue()
        self._answers: "asyncio.Queue[Message]" = asyncio.Queue()
        self._task: Optional["asyncio.Task[Any]"] = None
        self.supported = True

    async def _receive(self) -> Message:
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        await self._answers.put(message)

    async def _answer(self) -> Optional[Message]:
        """The app's next lifespan message, or None when its call ended first."""
        assert self._task is not None
        getter = asyncio.ensure_future(self._answers.get())
        await asyncio.wait((getter, self._task), return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        return None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI, "state": self._state}
        self._task = asyncio.ensure_future(self._app(scope, self._receive, self._send))
        await self._inbox.put({"type": "lifespan.startup"})
        answer = await self._answer()
        if answer is None:
            error = None if self._task.cancelled() else self._task.exception()
            self.supported = False
            if error is not None:  # "lifespan not supported", the common way to say it
                sys.stderr.write("neutrino: the ASGI app does not do lifespan "
                                 f"({type(error).__name__}: {error}); serving it without\n")
            return
        if answer.get("type") == "lifespan.startup.failed":
            # Starlette re-raises after saying so: its traceback is the one worth showing.
            await asyncio.wait((self._task,), timeout=1.0)
            error = self._task.exception() if self._task.done() and not self._task.cancelled() \
                else None
            trace = "".join(traceback.format_exception(type(error), error, error.__traceback__)) \
                if error is not None else ""
            raise LifespanFailed(answer.get("message") or "no message", trace)
        if answer.get("type") != "lifespan.startup.complete":
            raise LifespanFailed(f"unexpected lifespan message {answer.get('type')!r}")

    async def shutdown(self) -> None:
        if not self.supported or self._task is None or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            answer = await asyncio.wait_for(self._answer(), SHUTDOWN_TIMEOUT)
        except asyncio.TimeoutError:
            sys.stderr.write("neutrino: the ASGI app's lifespan shutdown took more than "
                             f"{SHUTDOWN_TIMEOUT:g} s; stopping without it\n")
            self._task.cancel()
            return
        if answer is not None and answer.get("type") == "lifespan.shutdown.failed":
            sys.stderr.write(f"neutrino: lifespan shutdown failed: {answer.get('message', '')}\n")
