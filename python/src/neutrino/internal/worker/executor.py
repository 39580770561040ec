"""Runs one TaskAssignment against the app: (status, flags, headers, body) for its TaskResult.

Error bodies share the orchestrator's shape: ``{"error": <reason phrase>, "detail": <what was
wrong>, ...}``. A failing handler becomes a 500 with its traceback on stderr; the worker goes on.

A route whose handler takes no Request, in an app without middleware, is "plain": ``execute``
binds, calls and encodes it inline, which is the whole per-request cost of a synchronous worker.
Other routes run through a chain built once per route: the app's middleware, outermost first,
around an endpoint that binds the Request's arguments and calls the handler; each layer turns
its outcome into a Response, so middleware sees every response, errors included.
"""

import dataclasses
import datetime as dt
import enum
import json
import json.encoder
import sys
import traceback
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from ...app import App, Route, is_async_callable
from ...errors import RouteError
from ...request import Request
from ...response import HTTPException, Response, reason_phrase
from .arguments import ArgumentBinder, InvalidArguments, InvalidBody, pydantic_model
from .protocol import HANDLER_FAILED, TaskAssignment

Result = Tuple[int, int, List[Tuple[str, str]], bytes]
#: Runs a synchronous callable with one argument off the event loop (the worker's sync thread).
Offload = Callable[[Callable[[Any], Any], Any], Awaitable[Any]]

_OCTET_STREAM = "application/octet-stream"
_TEXT_PLAIN = "text/plain; charset=utf-8"
_JSON = "application/json"


# ------------------------------------------------------------------------------ encoding


def _json_default(obj: Any) -> Any:
    """What JSON cannot say natively: called by the encoder for objects it does not know."""
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if pydantic_model(type(obj)) is not None:
        dump = getattr(obj, "model_dump", None)
        return dump(mode="json") if dump is not None else obj.dict()  # v2, else v1
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _make_result_encoder() -> Callable[[Any], str]:
    """json.dumps(obj, allow_nan=False, default=_json_default), built once.

    Default separators, so a handler's {"result": 5} reaches the client as `{"result": 5}`;
    NaN and Infinity are refused because they would make the response invalid JSON. json.dumps
    builds its C encoder anew on every call; building it once saves about 1 us per request.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return json.JSONEncoder(allow_nan=False, default=_json_default).encode
    # No markers dict: it would have to be emptied after every failed encode. A circular
    # structure still fails, with RecursionError instead of "Circular reference detected".
    iterencode = c_make_encoder(
        None, _json_default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
        False, False, False,
    )

    def encode(obj: Any) -> str:
        return "".join(iterencode(obj, 0))

    return encode


encode_json = _make_result_encoder()


class NotSerializable(Exception):
    pass


def render(result: Any) -> Result:
    """A handler's return value as a 200 result. Raises NotSerializable."""
    cls = type(result)
    if cls is not dict and cls is not list:
        if isinstance(result, Response):
            return render_response(result)
        if cls is bytes or cls is bytearray or cls is memoryview:
            return 200, 0, [("content-type", _OCTET_STREAM)], bytes(result)
    try:
        return 200, 0, [], encode_json(result).encode()
    except Exception as exc:  # TypeError, circular reference, NaN, too deep...
        raise NotSerializable(str(exc)) from None


def render_response(response: Response) -> Result:
    body = response.body
    media = response.media_type
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
    """

    __slots__ = ("route", "path", "name", "handler", "methods", "allow", "binder", "is_async",
                 "plain", "chain", "chain_async", "in_thread", "headers", "sync")

    def __init__(self, route: Route, middleware: List[Callable], offload: Optional[Offload]
                 ) -> None:
        route.prepare()
        self.route = route
        self.path = route.path
        self.name = route.name
        self.handler = route.handler
        self.methods = frozenset(route.methods)
        self.allow = ", ".join(route.methods)
        self.binder: ArgumentBinder = route.binder
        self.is_async = route.is_async
        self.headers = bool(middleware) or self.binder.wants_request
        self.plain = not self.headers
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


def _make_request(entry: RouteEntry, task: TaskAssignment) -> Request:
    client = (task.client_host, task.client_port) if task.client_host else None
    # The body is a view into the worker's receive buffer: the Request may outlive it.
    return Request(task.method, task.path, task.query, task.headers, client, bytes(task.body),
                   task.request_id, dict(task.params), entry.path)


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


def execute(table: Dict[str, RouteEntry], task: TaskAssignment) -> Result:
    """Runs a task synchronously: any route of a sync app, the in_thread routes of an async one."""
    entry = table.get(task.route)
    if entry is None or task.method not in entry.methods:
        return find_route(table, task)
    if entry.plain:
        try:
            args, kwargs = entry.binder.bind(task.query, task.params, task.body)
        except InvalidArguments as exc:
            return error_result(422, exc.detail, errors=exc.errors)
        except InvalidBody as exc:
            return error_result(400, str(exc))
        try:
            result = entry.handler(*args, **kwargs)
        except HTTPException as exc:
            return http_exception_result(exc)
        except Exception as exc:
            return _failed(entry.name, task.method, task.path, exc)
        try:
            cls = type(result)
            if cls is dict or cls is list:  # render()'s common case, without its call
                return 200, 0, [], encode_json(result).encode()
            return render(result)
        except Exception as exc:  # NotSerializable, or encode_json's TypeError, ValueError...
            return _not_serializable(entry.name, task.method, task.path, exc)
    return _finish(entry.chain(_make_request(entry, task)), entry.name, task)


async def execute_async(table: Dict[str, RouteEntry], task: TaskAssignment) -> Result:
    """Runs a task whose route has an async handler or async middleware."""
    entry = table.get(task.route)
    if entry is None or task.method not in entry.methods:
        return find_route(table, task)
    if entry.plain:
        try:
            args, kwargs = entry.binder.bind(task.query, task.params, task.body)
        except InvalidArguments as exc:
            return error_result(422, exc.detail, errors=exc.errors)
        except InvalidBody as exc:
            return error_result(400, str(exc))
        try:
            result = await entry.handler(*args, **kwargs)
        except HTTPException as exc:
            return http_exception_result(exc)
        except Exception as exc:
            return _failed(entry.name, task.method, task.path, exc)
        try:
            return render(result)
        except NotSerializable as exc:
            return _not_serializable(entry.name, task.method, task.path, exc)
    return _finish(await entry.chain(_make_request(entry, task)), entry.name, task)


def _finish(response: Response, name: str, task: TaskAssignment) -> Result:
    try:
        return render_response(response)
    except NotSerializable as exc:
        return _not_serializable(name, task.method, task.path, exc)


# ------------------------------------------------------------------------------ the chain


def _call_with(entry: RouteEntry, request: Request) -> Any:
    """(args, kwargs) bound from the Request, or the error Result."""
    try:
        return entry.binder.bind(request.query, list(request.path_params.items()), request.body,
                                 request)
    except InvalidArguments as exc:
        return error_result(422, exc.detail, errors=exc.errors)
    except InvalidBody as exc:
        return error_result(400, str(exc))


def _sync_endpoint(entry: RouteEntry) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        bound = _call_with(entry, request)
        if len(bound) == 4:  # an error Result
            return _as_response(bound)
        args, kwargs = bound
        try:
            result = entry.handler(*args, **kwargs)
        except HTTPException as exc:
            return _as_response(http_exception_result(exc))
        except Exception as exc:
            return _as_response(_failed(entry.name, request.method, request.path, exc))
        return _returned(result, entry.name, request)

    return endpoint


def _async_endpoint(entry: RouteEntry) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        bound = _call_with(entry, request)
        if len(bound) == 4:
            return _as_response(bound)
        args, kwargs = bound
        try:
            result = await entry.handler(*args, **kwargs)
        except HTTPException as exc:
            return _as_response(http_exception_result(exc))
        except Exception as exc:
            return _as_response(_failed(entry.name, request.method, request.path, exc))
        return _returned(result, entry.name, request)

    return endpoint


def _returned(result: Any, name: str, request: Request) -> Response:
    if isinstance(result, Response):
        return result
    try:
        return _as_response(render(result))
    except NotSerializable as exc:
        return _as_response(_not_serializable(name, request.method, request.path, exc))


def _sync_middleware(mw: Callable, name: str, call_next: Callable[[Request], Response]
                     ) -> Callable[[Request], Response]:
    def layer(request: Request) -> Response:
        try:
            result = mw(request, call_next)
        except HTTPException as exc:
            return _as_response(http_exception_result(exc))
        except Exception as exc:
            return _as_response(_failed(name, request.method, request.path, exc, "middleware"))
        return _returned(result, name, request)

    return layer


def _async_middleware(mw: Callable, name: str,
                      call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Callable[[Request], Awaitable[Response]]:
    async def layer(request: Request) -> Response:
        try:
            result = await mw(request, call_next)
        except HTTPException as exc:
            return _as_response(http_exception_result(exc))
        except Exception as exc:
            return _as_response(_failed(name, request.method, request.path, exc, "middleware"))
        return _returned(result, name, request)

    return layer


def _offloaded(chain: Callable[[Request], Response], offload: Optional[Offload]
               ) -> Callable[[Request], Awaitable[Response]]:
    run = offload or _inline

    async def call(request: Request) -> Response:
        return await run(chain, request)

    return call


# ------------------------------------------------------------------------------ failures


def _failed(name: str, method: str, path: str, exc: BaseException, what: str = "handler"
            ) -> Result:
    _report_failure(name, method, path, exc, what)
    kind = type(exc).__name__
    message = _safe_str(exc)
    detail = f"{kind}: {message}" if message else kind
    return error_result(500, detail, HANDLER_FAILED, exception=kind)


def _not_serializable(name: str, method: str, path: str, exc: Exception) -> Result:
    detail = f"return value of handler {name!r} is not JSON-serializable: {exc}"
    sys.stderr.write(f"neutrino: {method} {path}: {detail}\n")
    return error_result(500, detail, HANDLER_FAILED)


def _safe_str(exc: Any) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception message could not be printed>"


def _report_failure(name: str, method: str, path: str, exc: BaseException, what: str) -> None:
    # The client gets the class and message; the operator needs where it happened.
    tb = exc.__traceback__
    lines = traceback.format_exception(type(exc), exc, tb.tb_next if tb else None)
    sys.stderr.write(f"neutrino: {what} {name!r} failed on {method} {path}\n" + "".join(lines))
    sys.stderr.flush()

