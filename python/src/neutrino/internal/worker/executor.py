"""Runs one TaskAssignment against the app: (status, flags, headers, body) for its TaskResult.

Error bodies share the orchestrator's shape: ``{"error": <reason phrase>, "detail": <what was
wrong>, ...}``. A failing handler becomes a 500 with its traceback on stderr; the worker goes on.

A route whose handler takes no Request, in an app without middleware, is "plain": ``execute``
binds, calls and encodes it inline, which is the whole per-request cost of a synchronous worker.
Other routes run through a chain built once per route: the app's middleware, outermost first,
around an endpoint that binds the Request's arguments and calls the handler; each layer turns
its outcome into a Response, so middleware sees every response, errors included.
"""

import os
import inspect
import sys
import traceback
from types import AsyncGeneratorType, GeneratorType
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from ...app import App, Route, is_async_callable
from ...errors import RouteError
from ...request import Request
from ...response import HTTPException, Response, reason_phrase
from ...streaming import EVENT_STREAM, ClientDisconnect, StreamingResponse
from .binding import ArgumentBinder, BodyTooLarge, InvalidArguments, InvalidBody
from .jsondata import encode_json
from .protocol import HANDLER_FAILED, TaskAssignment
from .streams import HEADER_TOO_LARGE_DETAIL, HeaderTooLarge, Stream

Result = Tuple[int, int, List[Tuple[str, str]], bytes]
#: What running a task gives: a Result (a TaskResult to send), or a Stream to send.
Outcome = Union[Result, Stream]
#: Runs a synchronous callable with one argument off the event loop (the worker's sync thread).
Offload = Callable[[Callable[[Any], Any], Any], Awaitable[Any]]

_OCTET_STREAM = "application/octet-stream"
_TEXT_PLAIN = "text/plain; charset=utf-8"
_JSON = "application/json"


# ------------------------------------------------------------------------------ results


class NotSerializable(Exception):
    pass


def render(result: Any, status: int = 200, media_type: Optional[str] = None) -> Outcome:
    """A handler's return value as a result (``status``, ``media_type``: the route's), or a
    Stream for a generator. Raises NotSerializable."""
    cls = type(result)
    if cls is not dict and cls is not list:
        if isinstance(result, Response):
            return render_response(result)
        if cls is bytes or cls is bytearray or cls is memoryview:
            return status, 0, [("content-type", _OCTET_STREAM)], bytes(result)
        if cls is GeneratorType or cls is AsyncGeneratorType:
            return render_response(StreamingResponse(result, status, media_type=media_type))
    try:
        return status, 0, [], encode_json(result).encode()
    except Exception as exc:  # TypeError, circular reference, NaN, too deep...
        raise NotSerializable(str(exc)) from None


def render_response(response: Response) -> Outcome:
    body = response.body
    media = response.media_type
    if isinstance(response, StreamingResponse):
        return _stream(response)
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        media = media or _OCTET_STREAM
    elif isinstance(body, str):
        data = body.encode("utf-8")
        if media is None:
            media = _TEXT_PLAIN
        elif media.startswith("text/") and "charset" not in media:
            media += "; charset=utf-8"
    else:
        try:
            data = encode_json(body).encode()
        except Exception as exc:
            raise NotSerializable(str(exc)) from None
        media = media or _JSON
    headers = response.headers.raw()
    if media and "content-type" not in response.headers:
        headers.append(("content-type", media))
    return response.status, response._flags, headers, data


def _stream(response: StreamingResponse) -> Stream:
    media = response.media_type or _TEXT_PLAIN
    if media.startswith("text/") and media != EVENT_STREAM and "charset" not in media:
        media += "; charset=utf-8"
    # Event streams' no-cache and no-buffering headers are the orchestrator's, for every runtime.
    headers = response.headers.raw()
    if "content-type" not in response.headers:
        headers.append(("content-type", media))
    return Stream(response.status, response._flags, headers, response.body)


def error_result(
    status: int, detail: Any, flags: int = 0, headers: Any = None, **extra: Any
) -> Result:
    obj = {"error": reason_phrase(status), "detail": detail}
    obj.update(extra)
    try:
        body = encode_json(obj)
    except Exception:  # an HTTPException's detail that JSON cannot carry: say what it was
        obj["detail"] = _safe_str(detail)
        body = encode_json(obj)
    return status, flags, list(headers or []), body.encode()


def http_exception_result(exc: HTTPException) -> Result:
    return error_result(exc.status, exc.detail, headers=exc.headers.raw())


def _as_response(result: Result) -> Response:
    """A result as the Response a middleware's call_next returns: body bytes, type named."""
    status, flags, headers, body = result
    response = Response(body, status, headers)
    if "content-type" not in response.headers:
        response.headers["content-type"] = _JSON
    response._flags = flags
    return response


# ------------------------------------------------------------------------------ the table


class RouteEntry:
    """What the executor needs for one route, computed once when the worker starts.

    ``plain``: no Request and no middleware, bound and called inline. ``chain``: the callable
    (request -> Response, or an awaitable of one when ``chain_async``) for the others.
    ``in_thread``: the route runs synchronously from end to end (a sync handler under no async
    middleware); an async worker runs such a route on its sync thread. ``headers``: the route
    reads the request (RouteRegistry "headers"); ``sync``: its handler is synchronous.
    ``awaits``: calling the handler gives an awaitable (not so for an async generator).
    ``stream_body``, ``websocket``: the route's RouteRegistry flags of the same names.
    """

    __slots__ = ("route", "path", "name", "handler", "methods", "allow", "binder", "is_async",
                 "plain", "chain", "chain_async", "in_thread", "headers", "sync", "status",
                 "media", "awaits", "stream_body", "websocket")

    def __init__(self, route: Route, middleware: List[Callable], offload: Optional[Offload]
                 ) -> None:
        route.prepare()
        if route.websocket:
            middleware = []  # HTTP middleware has no say in a WebSocket's messages
        self.route = route
        self.path = route.path
        self.name = route.name
        self.handler = route.handler
        self.status = route.status_code
        self.media = route.media_type
        self.awaits = route.is_async and not inspect.isasyncgenfunction(route.handler)
        self.stream_body = route.stream_body
        self.websocket = route.websocket
        self.methods = frozenset(route.methods)
        self.allow = ", ".join(route.methods)
        self.binder: ArgumentBinder = route.binder
        self.is_async = route.is_async
        self.headers = bool(middleware) or self.binder.wants_request or self.websocket
        self.plain = not self.headers and not self.stream_body
        self.sync = not self.is_async
        chain: Any = _async_endpoint(self) if self.is_async else _sync_endpoint(self)
        chain_async = self.is_async
        for mw in reversed(middleware):  # the first registered ends up outermost
            name = getattr(mw, "__name__", None) or type(mw).__name__
            if is_async_callable(mw):
                if not chain_async:
                    chain = _offloaded(chain, offload)
                chain = _async_middleware(mw, name, chain)
                chain_async = True
            elif chain_async:
                raise RouteError(
                    f"route {route.path!r}: middleware {name!r} is synchronous and cannot wrap "
                    f"the async handler {route.name!r}; declare it with async def and await "
                    "call_next(request)"
                )
            else:
                chain = _sync_middleware(mw, name, chain)
        self.chain = chain
        self.chain_async = chain_async
        self.in_thread = not chain_async


def build_route_table(app: App, offload: Optional[Offload] = None) -> Dict[str, RouteEntry]:
    """Route path -> RouteEntry, keyed by the path the worker lists in RouteRegistry.

    Raises RouteError for a route that cannot work. ``offload`` runs a sync callable off the
    event loop, for sync handlers under async middleware (by default: inline).
    """
    middleware = app.middlewares
    return {path: RouteEntry(app.get_route(path), middleware, offload or _inline)
            for path in app.list_routes()}


async def _inline(fn: Callable[[Any], Any], arg: Any) -> Any:
    return fn(arg)


def _make_request(entry: RouteEntry, task: TaskAssignment, body: Any = None) -> Request:
    client = (task.client_host, task.client_port) if task.client_host else None
    # The body is a view into the worker's receive buffer: the Request may outlive it.
    request = Request(task.method, task.path, task.query, task.headers, client, bytes(task.body),
                      task.request_id, dict(task.params), entry.path)
    request._stream = body
    return request


def find_route(table: Dict[str, RouteEntry], task: TaskAssignment) -> Any:
    """The task's RouteEntry, or the 404/405 Result when it has none."""
    entry = table.get(task.route)
    if entry is None:
        return error_result(404, f"no route {task.route!r} in this app")
    if task.method not in entry.methods:
        detail = (f"method {task.method} is not allowed for route {entry.path!r} "
                  f"(allowed: {entry.allow})")
        return error_result(405, detail, headers=[("allow", entry.allow)])
    return entry


def execute(table: Dict[str, RouteEntry], task: TaskAssignment, body: Any = None) -> Outcome:
    """Runs a task synchronously: any route of a sync app, the in_thread routes of an async one.

    ``body``: the request body's stream, for a route that streams it (``request.stream()``).
    """
    entry = table.get(task.route)
    if entry is None or task.method not in entry.methods:
        return find_route(table, task)
    if entry.plain:
        stage = BIND
        try:
            args, kwargs = entry.binder.bind(task.query, task.params, task.body, None,
                                             _content_type(task.headers))
            stage = CALL
            result = entry.handler(*args, **kwargs)
            stage = RENDER
            cls = type(result)
            if cls is dict or cls is list:  # render()'s common case, without its call
                return entry.status, 0, [], encode_json(result).encode()
            return render(result, entry.status, entry.media)
        except Exception as exc:
            return failure_result(exc, stage, entry.name, task.method, task.path,
                                  request_id=task.request_id)
    return _finish(entry.chain(_make_request(entry, task, body)), entry.name, task)


async def execute_async(table: Dict[str, RouteEntry], task: TaskAssignment, body: Any = None
                        ) -> Outcome:
    """Runs a task whose route has an async handler or async middleware."""
    entry = table.get(task.route)
    if entry is None or task.method not in entry.methods:
        return find_route(table, task)
    if entry.plain:
        stage = BIND
        try:
            args, kwargs = entry.binder.bind(task.query, task.params, task.body, None,
                                             _content_type(task.headers))
            stage = CALL
            result = entry.handler(*args, **kwargs)
            if entry.awaits:
                result = await result
            stage = RENDER
            return render(result, entry.status, entry.media)
        except Exception as exc:
            return failure_result(exc, stage, entry.name, task.method, task.path,
                                  request_id=task.request_id)
    return _finish(await entry.chain(_make_request(entry, task, body)), entry.name, task)


def _finish(response: Response, name: str, task: TaskAssignment) -> Outcome:
    try:
        return render_response(response)
    except Exception as exc:
        return failure_result(exc, RENDER, name, task.method, task.path,
                              request_id=task.request_id)


# ------------------------------------------------------------------------------ the chain


def _content_type(headers: List[Tuple[str, str]]) -> str:
    """The Content-Type among a task's headers: sent to a route that does not read the request
    only when the body is a form."""
    for name, value in headers:
        if name == "content-type":
            return value
    return ""


def _bind_request(entry: RouteEntry, request: Request) -> Tuple[tuple, Dict[str, Any]]:
    return entry.binder.bind(request.query, list(request.path_params.items()), request.body,
                             request, request.headers.get("content-type", ""))


def _sync_endpoint(entry: RouteEntry) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        stage = BIND
        try:
            args, kwargs = _bind_request(entry, request)
            stage = CALL
            result = entry.handler(*args, **kwargs)
            stage = RENDER
            return _returned(result, entry.status, entry.media)
        except Exception as exc:
            return _as_response(failure_result(exc, stage, entry.name, request.method,
                                               request.path, request_id=request.request_id))

    return endpoint


def _async_endpoint(entry: RouteEntry) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        stage = BIND
        try:
            args, kwargs = _bind_request(entry, request)
            stage = CALL
            result = entry.handler(*args, **kwargs)
            if entry.awaits:
                result = await result
            stage = RENDER
            return _returned(result, entry.status, entry.media)
        except Exception as exc:
            return _as_response(failure_result(exc, stage, entry.name, request.method,
                                               request.path, request_id=request.request_id))

    return endpoint


def _returned(result: Any, status: int = 200, media_type: Optional[str] = None) -> Response:
    """A handler's or middleware's return value as a Response; raises what render raises.
    A generator becomes a StreamingResponse, which middleware passes through."""
    if isinstance(result, Response):
        return result
    cls = type(result)
    if cls is GeneratorType or cls is AsyncGeneratorType:
        return StreamingResponse(result, status, media_type=media_type)
    return _as_response(render(result, status))


def _sync_middleware(mw: Callable, name: str, call_next: Callable[[Request], Response]
                     ) -> Callable[[Request], Response]:
    def layer(request: Request) -> Response:
        stage = CALL
        try:
            result = mw(request, call_next)
            stage = RENDER
            return _returned(result)
        except Exception as exc:
            return _as_response(failure_result(exc, stage, name, request.method, request.path,
                                               "middleware", request.request_id))

    return layer


def _async_middleware(mw: Callable, name: str,
                      call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Callable[[Request], Awaitable[Response]]:
    async def layer(request: Request) -> Response:
        stage = CALL
        try:
            result = await mw(request, call_next)
            stage = RENDER
            return _returned(result)
        except Exception as exc:
            return _as_response(failure_result(exc, stage, name, request.method, request.path,
                                               "middleware", request.request_id))

    return layer


def _offloaded(chain: Callable[[Request], Response], offload: Optional[Offload]
               ) -> Callable[[Request], Awaitable[Response]]:
    run = offload or _inline

    async def call(request: Request) -> Response:
        return await run(chain, request)

    return call


# ------------------------------------------------------------------------------ failures

# Where a request failed; failure_result turns the exception into its response accordingly.
BIND, CALL, RENDER = 0, 1, 2


def failure_result(exc: Exception, stage: int, name: str, method: str, path: str,
                   what: str = "handler", request_id: str = "") -> Result:
    """The one mapping from what went wrong to the response, for every way a route runs."""
    if stage == BIND:
        if isinstance(exc, InvalidArguments):
            return error_result(422, exc.detail, errors=exc.errors)
        if isinstance(exc, BodyTooLarge):
            return error_result(413, str(exc))
        if isinstance(exc, InvalidBody):
            return error_result(400, str(exc))
    elif stage == CALL and isinstance(exc, HTTPException):
        return http_exception_result(exc)
    elif stage == CALL and isinstance(exc, ClientDisconnect):
        # Nobody to answer and nothing to fix: the orchestrator discards it, the log stays quiet.
        return error_result(499, "the client went away before the request body was read")
    elif stage == RENDER and not isinstance(exc, HeaderTooLarge):
        return _not_serializable(name, method, path, exc)
    return _failed(name, method, path, exc, what, request_id)


#: NEUTRINO_DEBUG=1 (the orchestrator's --debug): a 500 shows the exception and its traceback.
DEBUG = os.environ.get("NEUTRINO_DEBUG") == "1"


def _failed(name: str, method: str, path: str, exc: BaseException, what: str = "handler",
            request_id: str = "") -> Result:
    text = report_failure(f"{what} {name!r}", method, path, request_id, exc)
    return crash_result(exc, text, what, request_id)


def crash_result(exc: BaseException, text: str, what: str, request_id: str) -> Result:
    """The 500 for an exception, for every kind of app (native, ASGI, WSGI). By default the
    client learns only that ``what`` failed and the request id to find ``text``, the traceback, in
    the log: the exception's text may hold anything (a password in a connection string). With
    --debug it gets the exception, its message and the traceback."""
    ids = {"request_id": request_id} if request_id else {}
    if isinstance(exc, HeaderTooLarge):  # no secret in it, and the app's author needs to know
        return error_result(500, HEADER_TOO_LARGE_DETAIL, HANDLER_FAILED, **ids)
    if not DEBUG:
        return error_result(500, f"the {what} failed; the server log has the details",
                            HANDLER_FAILED, **ids)
    kind = type(exc).__name__
    message = _safe_str(exc)
    detail = f"{kind}: {message}" if message else kind
    return error_result(500, detail, HANDLER_FAILED, exception=kind, traceback=text, **ids)


def _not_serializable(name: str, method: str, path: str, exc: Exception) -> Result:
    detail = f"return value of handler {name!r} is not JSON-serializable: {exc}"
    sys.stderr.write(f"neutrino: {method} {path}: {detail}\n")
    return error_result(500, detail, HANDLER_FAILED)


def _safe_str(exc: Any) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception message could not be printed>"


def report_failure(who: str, method: str, path: str, request_id: str, exc: BaseException,
                   doing: str = "") -> str:
    """Logs the failure with its traceback and the request id the client was given (the
    operator needs where it happened); returns the traceback."""
    tb = exc.__traceback__
    text = "".join(traceback.format_exception(type(exc), exc, tb.tb_next if tb else None))
    request = f" (request {request_id})" if request_id else ""
    sys.stderr.write(f"neutrino: {who} failed{' ' + doing if doing else ''} on {method} {path}"
                     f"{request}\n" + text)
    sys.stderr.flush()
    return text
