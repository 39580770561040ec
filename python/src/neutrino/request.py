"""The Request a handler gets by annotating a parameter with it, and the Headers it carries."""

import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union
from urllib.parse import parse_qsl

HeadersInit = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]


class Headers(Mapping[str, str]):
    """HTTP headers: a case-insensitive mapping that keeps repeated names.

    ``headers["Content-Type"]`` and ``.get()`` give the first value of a name, ``get_all`` every
    value; iteration gives each name once, in lower case. A Response's headers can be changed:
    ``headers[name] = value`` (replaces), ``add(name, value)`` (appends), ``del headers[name]``.
    """

    __slots__ = ("_pairs",)

    def __init__(self, headers: HeadersInit = None) -> None:
        if headers is None:
            pairs: List[Tuple[str, str]] = []
        elif isinstance(headers, Headers):
            pairs = list(headers._pairs)
        elif isinstance(headers, Mapping):
            pairs = [(str(k), str(v)) for k, v in headers.items()]
        else:
            pairs = [(str(k), str(v)) for k, v in headers]
        self._pairs = pairs

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for n, v in self._pairs:
            if n.lower() == key:
                return v
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(n.lower() == key for n, _ in self._pairs)

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for n, _ in self._pairs:
            key = n.lower()
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return len({n.lower() for n, _ in self._pairs})

    def get_all(self, name: str) -> List[str]:
        key = name.lower()
        return [v for n, v in self._pairs if n.lower() == key]

    def __setitem__(self, name: str, value: str) -> None:
        self._remove(name)
        self._pairs.append((name, str(value)))

    def set(self, name: str, value: str) -> None:
        self[name] = value

    def add(self, name: str, value: str) -> None:
        self._pairs.append((name, str(value)))

    def __delitem__(self, name: str) -> None:
        if not self._remove(name):
            raise KeyError(name)

    def pop(self, name: str, default: Any = None) -> Any:
        try:
            value = self[name]
        except KeyError:
            return default
        self._remove(name)
        return value

    def raw(self) -> List[Tuple[str, str]]:
        """Every (name, value) pair, in order, names as they were given."""
        return list(self._pairs)

    def _remove(self, name: str) -> bool:
        key = name.lower()
        kept = [(n, v) for n, v in self._pairs if n.lower() != key]
        removed = len(kept) != len(self._pairs)
        self._pairs = kept
        return removed

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class QueryParams(Mapping[str, str]):
    """The parsed query string: ``params[name]`` is the last value of a name, ``get_all`` all."""

    __slots__ = ("_pairs", "_last")

    def __init__(self, query: str) -> None:
        self._pairs = parse_qsl(query, keep_blank_values=True)
        self._last: Dict[str, str] = dict(self._pairs)

    def __getitem__(self, name: str) -> str:
        return self._last[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def get_all(self, name: str) -> List[str]:
        return [v for n, v in self._pairs if n == name]

    def __repr__(self) -> str:
        return f"QueryParams({self._pairs!r})"


class Address(NamedTuple):
    host: str
    port: int


class Request:
    """One HTTP request, as the orchestrator received it.

    A handler parameter annotated ``Request`` (whatever its name) gets it; middleware always does.
    ``path`` is still percent-encoded and ``query`` is the raw query string (``query_params``
    parses it); ``headers`` are case-insensitive; ``client`` is the peer's ``(host, port)``;
    ``body`` is the raw body (``json()`` parses it); ``request_id`` is the X-Request-Id the
    response carries; ``path_params`` the route's ``{name}`` parts, decoded; ``cookies`` the
    Cookie header's name/value pairs. ``stream()``
    gives the body in pieces: as they arrive on a route declared with ``stream_body=True``
    (whose ``body`` is then empty), or the whole body at once on the others.
    """

    __slots__ = (
        "method", "path", "query", "headers", "client", "body", "request_id", "path_params",
        "route", "_query_params", "_cookies", "_stream",
    )

    def __init__(
        self,
        method: str = "GET",
        path: str = "/",
        query: str = "",
        headers: HeadersInit = None,
        client: Optional[Tuple[str, int]] = None,
        body: bytes = b"",
        request_id: str = "",
        path_params: Optional[Mapping[str, str]] = None,
        route: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.client = None if client is None else Address(*client)
        self.body = body
        self.request_id = request_id
        self.path_params: Dict[str, str] = dict(path_params or {})
        self.route = route  # the route's path pattern, e.g. /users/{user_id}
        self._query_params: Optional[QueryParams] = None
        self._cookies: Optional[Dict[str, str]] = None
        self._stream: Any = None  # set by the worker on a route that streams its body

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self.query)
        return self._query_params

    @property
    def cookies(self) -> Dict[str, str]:
        """The cookies the client sent (every Cookie header); the first of a repeated name wins."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.get_all("cookie"))
        return self._cookies

    def stream(self) -> Any:
        """The body as an iterable of bytes: ``for chunk in request.stream()`` in a sync
        handler, ``async for chunk in request.stream()`` in an async one. On a route declared
        with ``stream_body=True`` the chunks come as the client sends them, once (a second
        call raises RuntimeError), and ClientDisconnect is raised if the client goes away."""
        if self._stream is not None:
            return self._stream.open()
        return _WholeBody(self.body)

    def json(self) -> Any:
        """The body parsed as JSON (ValueError if it is not, or nests too deeply)."""
        from .internal.worker.jsondata import decode_json

        return decode_json(self.body)

    def __repr__(self) -> str:
        target = self.path + ("?" + self.query if self.query else "")
        return f"<Request {self.method} {target} id={self.request_id!r}>"


def parse_cookies(headers: List[str]) -> Dict[str, str]:
    """Cookie headers as a dict, leniently as browsers send them (RFC 6265 section 5.4): pairs
    split on ";", a pair without "=" is a value with an empty name, quotes are removed."""
    from http.cookies import _unquote  # type: ignore[attr-defined]

    cookies: Dict[str, str] = {}
    for header in headers:
        for part in header.split(";"):
            name, eq, value = part.partition("=")
            if not eq:
                name, value = "", name
            name, value = name.strip(), value.strip()
            if (name or value) and name not in cookies:
                cookies[name] = _unquote(value)
    return cookies


class _WholeBody:
    """request.stream() of a buffered body: the body, in one piece (none if empty)."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = bytes(body)

    def __iter__(self) -> Iterator[bytes]:
        if self._body:
            yield self._body

    def __aiter__(self) -> Any:
        return self._chunks()

    async def _chunks(self) -> Any:
        if self._body:
            yield self._body
