"""Runs one TaskAssignment against the app: (status, flags, headers, body) for its TaskResult.

Error bodies share the orchestrator's shape: ``{"error": <reason phrase>, "detail": <what was
wrong>, ...}``. A failing handler becomes a 500 with its traceback on stderr; the worker goes on.
"""

import json
import json.encoder
import sys
import traceback
from typing import Any, Callable, Dict, List, Tuple

from ...app import App
from .arguments import ArgumentBinder, InvalidArguments, InvalidBody
from .protocol import HANDLER_FAILED, TaskAssignment

Result = Tuple[int, int, List[Tuple[str, str]], bytes]

# Fixed here rather than taken from http.HTTPStatus, whose 422 phrase changed in Python 3.13;
# these match what Node's HTTP server sends.
_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}



def _not_serializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _make_result_encoder() -> Callable[[Any], str]:
    """json.dumps(obj) with allow_nan=False, built once.

    Default separators, so a handler's {"result": 5} reaches the client as the plan shows it;
    NaN and Infinity are refused because they would make the response invalid JSON. json.dumps
    builds its C encoder anew on every call; building it once saves about 1 us per request.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return json.JSONEncoder(allow_nan=False).encode
    # No markers dict: it would have to be emptied after every failed encode. A circular
    # structure still fails, with RecursionError instead of "Circular reference detected".
    iterencode = c_make_encoder(
        None, _not_serializable, json.encoder.encode_basestring_ascii, None, ": ", ", ",
        False, False, False,
    )

    def encode(obj: Any) -> str:
        return "".join(iterencode(obj, 0))

    return encode


_encode_json = _make_result_encoder()


class RouteEntry:
    """What the executor needs for one route, computed once when the worker starts."""

    __slots__ = ("path", "name", "handler", "methods", "allow", "binder")

    def __init__(self, path: str, name: str, handler: Any, methods: List[str]) -> None:
        self.path = path
        self.name = name
        self.handler = handler
        self.methods = frozenset(methods)
        self.allow = ", ".join(methods)
        self.binder = ArgumentBinder(handler)


def build_route_table(app: App) -> Dict[str, RouteEntry]:
    """Route path -> RouteEntry, keyed by the path the worker lists in RouteRegistry."""
    table = {}
    for path in app.list_routes():
        route = app.get_route(path)
        table[path] = RouteEntry(path, route.name, route.handler, route.methods)
    return table


def execute(route_table: Dict[str, RouteEntry], task: TaskAssignment) -> Result:
    entry = route_table.get(task.route)
    if entry is None:
        return error_result(404, f"no route {task.route!r} in this app")
    if task.method not in entry.methods:
        detail = (f"method {task.method} is not allowed for route {entry.path!r} "
                  f"(allowed: {entry.allow})")
        return error_result(405, detail, headers=[("allow", entry.allow)])
    try:
        args, kwargs = entry.binder.bind(task.query, task.params, task.body)
    except InvalidArguments as exc:
        return error_result(422, exc.detail, errors=exc.errors)
    except InvalidBody as exc:
        return error_result(400, str(exc))
    try:
        result = entry.handler(*args, **kwargs)
    except Exception as exc:
        _report_failure(entry, task, exc)
        name = type(exc).__name__
        message = _safe_str(exc)
        detail = f"{name}: {message}" if message else name
        return error_result(500, detail, HANDLER_FAILED, exception=name)
    try:
        body = _encode_json(result).encode()
    except Exception as exc:  # TypeError, circular reference, NaN, too deep...
        detail = f"return value of handler {entry.name!r} is not JSON-serializable: {exc}"
        sys.stderr.write(f"neutrino: {task.method} {task.path}: {detail}\n")
        return error_result(500, detail, HANDLER_FAILED)
    return 200, 0, [], body


def error_result(
    status: int, detail: str, flags: int = 0, headers: Any = None, **extra: Any
) -> Result:
    obj = {"error": _REASONS[status], "detail": detail}
    obj.update(extra)
    return status, flags, headers or [], json.dumps(obj).encode()


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return "<exception message could not be printed>"


def _report_failure(entry: RouteEntry, task: TaskAssignment, exc: BaseException) -> None:
    # The client gets the class and message; the operator needs where it happened.
    tb = exc.__traceback__
    lines = traceback.format_exception(type(exc), exc, tb.tb_next if tb else None)
    sys.stderr.write(
        f"neutrino: handler {entry.name!r} failed on {task.method} {task.path}\n" + "".join(lines)
    )
    sys.stderr.flush()
