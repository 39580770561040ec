"""The user-facing App: a registry of routes that the worker reports to the orchestrator."""

from typing import Callable, Dict, Iterable, List, Optional, Union

DEFAULT_METHODS = ("GET", "POST")


class Route:
    """One registered handler. Calling the route calls the handler."""

    __slots__ = ("path", "methods", "handler", "name")

    def __init__(self, path: str, methods: List[str], handler: Callable) -> None:
        self.path = path
        self.methods = methods
        self.handler = handler
        self.name = getattr(handler, "__name__", repr(handler))

    def __call__(self, *args, **kwargs):
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={self.methods!r}, handler={self.name})"


class App:
    """Collects routes with ``@app.route(path, methods=None)``."""

    def __init__(self) -> None:
        # Dicts keep insertion order: list_routes() reports routes in registration order.
        self._routes: Dict[str, Route] = {}

    def route(
        self, path: str, methods: Optional[Union[str, Iterable[str]]] = None
    ) -> Callable[[Callable], Callable]:
        """Registers the decorated function for ``path``; returns the function unchanged.

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

        def register(handler: Callable) -> Callable:
            if not callable(handler):
                raise TypeError(f"@route({path!r}) must decorate a callable, got {handler!r}")
            # Checked again: another route may have taken the path between route() and here.
            if path in self._routes:
                raise ValueError(f"route {path!r} is already registered")
            self._routes[path] = Route(path, normalized, handler)
            return handler

        return register

    def list_routes(self) -> List[str]:
        """The registered paths, in registration order."""
        return list(self._routes)

    def get_route(self, path: str) -> Route:
        """The route registered for ``path``; KeyError if there is none."""
        try:
            return self._routes[path]
        except KeyError:
            raise KeyError(f"no route registered for {path!r}") from None

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
