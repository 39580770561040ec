"""The user-facing App: a registry of routes and middleware that the worker serves."""

import inspect
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from .errors import RouteError

DEFAULT_METHODS = ("GET", "POST")

_PATH_PARAM = re.compile(r"\{([^{}]*)\}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: a subprotocol's name


def path_parameters(path: str) -> List[str]:
    """The ``{name}`` parts of a route path, in order; RouteError for a bad or repeated name."""
    names: List[str] = []
    for name in _PATH_PARAM.findall(path):
        if not name.isidentifier() or not name.isascii():
            raise RouteError(
                f"route {path!r}: path parameter {{{name}}} must be a Python identifier "
                "(letters, digits and _)"
            )
        if name in names:
            raise RouteError(f"route {path!r}: path parameter {{{name}}} appears twice")
        names.append(name)
    return names


def is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


class Route:
    """One registered handler. Calling the route calls the handler.

    ``binder`` is the handler's ArgumentBinder, built when the route is declared (which refuses
    routes that cannot work) or, if its type hints name a class defined further down the
    module, when the worker starts.
    """

    __slots__ = ("path", "methods", "handler", "name", "path_params", "is_async", "binder",
                 "status_code", "responses", "media_type", "stream_body", "websocket",
                 "subprotocols")

    def __init__(self, path: str, methods: List[str], handler: Callable, status_code: int = 200,
                 responses: Optional[Dict[int, Any]] = None,
                 media_type: Optional[str] = None, stream_body: bool = False,
                 websocket: bool = False, subprotocols: Iterable[str] = ()) -> None:
        self.stream_body = stream_body
        self.websocket = websocket
        self.subprotocols = list(subprotocols)
        self.status_code = status_code
        self.responses = dict(responses or {})
        self.media_type = media_type
        self.path = path
        self.methods = methods
        self.handler = handler
        self.name = getattr(handler, "__name__", None) or type(handler).__name__
        self.path_params = path_parameters(path)
        # An async generator handler streams on the event loop: its app is an async one.
        self.is_async = is_async_callable(handler) or inspect.isasyncgenfunction(handler)
        self.binder: Any = None
        self._bind(strict_hints=True)

    def _bind(self, strict_hints: bool) -> None:
        from .internal.worker.binding import ArgumentBinder, UnresolvedHints

        try:
            body_route = all(m.upper() in ("POST", "PUT", "PATCH") for m in self.methods)
            self.binder = ArgumentBinder(self.handler, self.path_params, self.path, strict_hints,
                                         body_route and not self.stream_body)
        except UnresolvedHints:
            self.binder = None  # a class defined below the route: prepare() tries again
            return
        if self.websocket and not self.binder.wants_request:
            raise RouteError(f"websocket route {self.path!r}: handler {self.name!r} must take a "
                             "parameter annotated WebSocket")

    def prepare(self) -> None:
        """Builds the binder if declaring the route could not (RouteError if it cannot work)."""
        if self.binder is None:
            self._bind(strict_hints=False)

    def __call__(self, *args, **kwargs):
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={self.methods!r}, handler={self.name})"


class App:
    """Collects routes with ``@app.route(path, methods=None)`` and middleware with
    ``@app.middleware``."""

    def __init__(self) -> None:
        # Dicts keep insertion order: list_routes() reports routes in registration order.
        self._routes: Dict[str, Route] = {}
        self._middleware: List[Callable] = []

    def route(
        self, path: str, methods: Optional[Union[str, Iterable[str]]] = None, *,
        status_code: int = 200, responses: Optional[Dict[int, Any]] = None,
        media_type: Optional[str] = None, stream_body: bool = False,
    ) -> Callable[[Callable], Callable]:
        """Registers the decorated function for ``path``; returns the function unchanged.

        ``path`` may hold parameters, ``/users/{user_id}``, each of which the handler must take.
        ``status_code``: the status of a plain return value (a Response keeps its own).
        ``responses``: other statuses the route answers with, for /openapi.json: status ->
        description, or an OpenAPI Response object. ``media_type``: the content type of the
        success response when it is not JSON (a handler returning ``Response(..., media_type=)``,
        or a generator: then the stream's content type, ``text/event-stream`` for events).
        ``stream_body``: the handler reads the request body as it arrives, with
        ``request.stream()`` (no ``--max-body-size``; ``request.body`` stays empty).
        Errors raise at import time, so a broken app fails when the worker loads it rather than
        on the first request.
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"route path must be a string starting with '/', got {path!r}")
        if path in self._routes:
            raise ValueError(
                f"route {path!r} is already registered (handler {self._routes[path].name!r})"
            )
        normalized = _normalize_methods(path, methods)
        if type(status_code) is not int or not 200 <= status_code <= 299 or status_code in (
                204, 205):
            raise ValueError(f"route {path!r}: status_code must be a 2xx status that carries a "
                             f"body (not 204 or 205), got {status_code!r}")
        for status in responses or {}:
            if type(status) is not int or not 100 <= status <= 599:
                raise ValueError(f"route {path!r}: responses keys must be HTTP statuses (int "
                                 f"100-599), got {status!r}")
        path_parameters(path)  # a bad path fails here, before the decorated function is read
        return self._register(path, normalized, status_code=status_code, responses=responses,
                              media_type=media_type, stream_body=bool(stream_body))

    def websocket(self, path: str, *, subprotocols: Optional[Iterable[str]] = None
                  ) -> Callable[[Callable], Callable]:
        """Registers ``async def handler(ws: WebSocket, ...)`` for WebSocket connections to
        ``path`` (path parameters and query arguments bind as for ``route``).

        The connection is accepted when the handler starts; ``subprotocols``: those the route
        speaks, by preference: the first the client also asks for is chosen (``ws.subprotocol``).
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"route path must be a string starting with '/', got {path!r}")
        if path in self._routes:
            raise ValueError(
                f"route {path!r} is already registered (handler {self._routes[path].name!r})"
            )
        offered = [subprotocols] if isinstance(subprotocols, str) else list(subprotocols or [])
        for name in offered:
            if not isinstance(name, str) or not name or not _TOKEN.fullmatch(name):
                raise ValueError(f"websocket route {path!r}: subprotocol must be a token, "
                                 f"got {name!r}")
        path_parameters(path)
        register = self._register(path, ["GET"], websocket=True, subprotocols=offered)

        def check(handler: Callable) -> Callable:
            if not inspect.iscoroutinefunction(handler):
                raise RouteError(f"websocket route {path!r}: handler "
                                 f"{getattr(handler, '__name__', handler)!r} must be async def")
            return register(handler)

        return check

    def _register(self, path: str, methods: List[str], **options: Any
                  ) -> Callable[[Callable], Callable]:
        def register(handler: Callable) -> Callable:
            if not callable(handler):
                raise TypeError(f"@route({path!r}) must decorate a callable, got {handler!r}")
            # Checked again: another route may have taken the path between route() and here.
            if path in self._routes:
                raise ValueError(f"route {path!r} is already registered")
            self._routes[path] = Route(path, methods, handler, **options)
            return handler

        return register

    def middleware(self, fn: Any = None) -> Any:
        """Registers ``fn(request, call_next)``, run around every handler; returns it unchanged.

        ``call_next(request)`` runs the rest of the chain and returns a Response; the middleware
        returns that Response (changed or not) or one of its own. Sync middleware (``def``)
        wraps sync handlers; ``async def`` middleware awaits ``call_next`` and wraps both kinds.
        The first registered runs outermost. Also usable as ``@app.middleware("http")``.
        """
        if isinstance(fn, str):  # @app.middleware("http"), as in FastAPI
            return self.middleware
        if not callable(fn):
            raise TypeError(f"@app.middleware must decorate a callable, got {fn!r}")
        self._middleware.append(fn)
        return fn

    @property
    def middlewares(self) -> List[Callable]:
        return list(self._middleware)

    def list_routes(self) -> List[str]:
        """The registered paths, in registration order."""
        return list(self._routes)

    def get_route(self, path: str) -> Route:
        """The route registered for ``path``; KeyError if there is none."""
        try:
            return self._routes[path]
        except KeyError:
            raise KeyError(f"no route registered for {path!r}") from None

    @property
    def is_async(self) -> bool:
        """Whether the app has an ``async def`` route or middleware: its workers run an
        asyncio loop with many requests in flight."""
        return any(r.is_async for r in self._routes.values()) or any(
            is_async_callable(m) for m in self._middleware
        )

    def __repr__(self) -> str:
        return f"App(routes={self.list_routes()!r})"


def _normalize_methods(path: str, methods: Optional[Union[str, Iterable[str]]]) -> List[str]:
    if methods is None:
        return list(DEFAULT_METHODS)
    if isinstance(methods, str):  # methods="GET" would otherwise become ["G", "E", "T"]
        methods = [methods]
    out: List[str] = []
    for method in methods:
        if not isinstance(method, str) or not method.strip():
            raise ValueError(
                f"route {path!r}: HTTP method must be a non-empty string, got {method!r}"
            )
        method = method.strip().upper()
        if method not in out:
            out.append(method)
    if not out:
        raise ValueError(f"route {path!r}: methods must not be empty")
    return out
