"""A test client that calls an app in process: no server, no worker, the standard library only.

    from neutrino.testing import TestClient

    client = TestClient(app)
    response = client.get("/add", params={"x": 2, "y": 3})
    assert response.status_code == 200 and response.json() == {"result": 5}

Requests go through what a worker does with them (the app's middleware, argument binding and
conversion, its error rules) after the routing the orchestrator does (path templates, 404, 405
with Allow, HEAD answered by GET), so the answers are the server's, bodies included. A streamed
response is collected whole (``response.events()`` parses a ``text/event-stream`` one); a
route declared ``stream_body=True`` reads the request body from ``request.stream()`` in one piece.
WebSocket routes need a real server and a WebSocket client.
"""

import asyncio
import json as _json
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import unquote, urlencode, urlsplit

from .app import App
from .internal.worker.executor import RouteEntry, build_route_table, error_result, execute
from .internal.worker.executor import execute_async
from .internal.worker.protocol import TaskAssignment
from .internal.worker.streams import Stream, pieces
from .request import Headers

__all__ = ["TestClient", "TestResponse"]

Params = Union[Mapping[str, Any], Iterable[Tuple[str, Any]], str, None]


class TestResponse:
    """What the server would have sent: ``status_code``, ``headers``, ``content`` (bytes),
    ``text`` and ``json()``."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, status_code: int, headers: List[Tuple[str, str]], content: bytes) -> None:
        self.status_code = status_code
        self.headers = Headers(headers)
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def events(self) -> List[Dict[str, Any]]:
        """A text/event-stream body's events: dicts of the fields each has (``data`` joins its
        data lines with newlines, as a browser's EventSource does)."""
        out: List[Dict[str, Any]] = []
        for block in re.split(r"\r\n\r\n|\n\n|\r\r", self.text):
            event: Dict[str, Any] = {}
            for line in re.split(r"\r\n|\n|\r", block):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    event["data"] = event["data"] + "\n" + value if "data" in event else value
                elif name in ("event", "id", "retry"):
                    event[name] = value
            if event:
                out.append(event)
        return out

    def json(self) -> Any:
        return _json.loads(self.content)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code}>"


class _Template:
    """One route's path as a pattern: ``{name}`` matches one non-empty segment."""

    def __init__(self, entry: RouteEntry) -> None:
        self.entry = entry
        parts = re.split(r"(\{[^{}]*\})", entry.path)
        pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p)
                          for p in parts)
        self.regex = re.compile(pattern + r"\Z")
        # The router prefers a static segment to a parameter at the first place they differ.
        self.rank = tuple(1 if "{" in segment else 0 for segment in entry.path.split("/"))


class TestClient:
    """Sends requests to ``app`` in process; see the module's doc.

    ``headers``: sent with every request. An app with async routes runs each request in its
    own ``asyncio.run``, so call the client from synchronous test code.
    """

    __test__ = False

    def __init__(self, app: App, headers: Optional[Mapping[str, str]] = None) -> None:
        self.app = app
        self.headers = dict(headers or {})
        self._table = build_route_table(app)  # RouteError here for a route that cannot work
        self._templates = sorted((_Template(e) for e in self._table.values()),
                                 key=lambda t: t.rank)
        self._next_id = 0

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("OPTIONS", path, **kwargs)

    def request(self, method: str, path: str, *, params: Params = None, json: Any = None,
                data: Any = None, content: Union[bytes, str, None] = None,
                headers: Optional[Mapping[str, str]] = None) -> TestResponse:
        """``params``: the query string (a mapping whose list values repeat the name, pairs, or
        text), added to any in ``path``. The body: ``json`` (encoded, and content-type
        application/json), ``data`` (a mapping is form-encoded; bytes or text as they are) or
        ``content`` (bytes or text)."""
        method = method.upper()
        target = urlsplit(path)
        route_path = target.path or "/"
        query = "&".join(q for q in (target.query, _query(params)) if q)
        header_pairs = [(k.lower(), str(v)) for k, v in {**self.headers, **(headers or {})}.items()]
        body = _body(json, data, content, header_pairs)
        self._next_id += 1
        request_id = f"test-{self._next_id}"
        found = self._route(method, route_path)
        streamed = False
        if len(found) == 4:  # the 404 or 405 result
            status, _flags, out_headers, out_body = found
        else:
            entry, worker_method, path_params = found
            stream = None
            if entry.stream_body:
                stream, body = _BodyOnce(body), b""
            task = TaskAssignment(self._next_id, worker_method, entry.path, route_path, query,
                                  path_params, header_pairs, request_id, "testclient", 50000,
                                  body)
            if entry.websocket:
                result = error_result(426, f"{entry.path} is a WebSocket route: connect to it "
                                      "with a WebSocket client through a server")
            elif entry.in_thread:
                result = execute(self._table, task, stream)
            else:
                result = asyncio.run(execute_async(self._table, task, stream))
            if isinstance(result, Stream):
                streamed = True
                result = (result.status, result.flags, result.headers, _collect(result.content))
            status, _flags, out_headers, out_body = result
        names = {name.lower() for name, _ in out_headers}
        out_headers = list(out_headers)
        if "content-type" not in names and out_body and not streamed:  # as the orchestrator does
            out_headers.append(("content-type", "application/json"))
        out_headers.append(("x-request-id", request_id))
        if method == "HEAD":
            out_body = b""
        return TestResponse(status, out_headers, bytes(out_body))

    def _route(self, method: str, path: str) -> Any:
        """(entry, the method the handler sees, path parameters), or the 404/405 result."""
        for template in self._templates:
            match = template.regex.match(path)
            if match is None:
                continue
            entry = template.entry
            allowed = list(entry.route.methods)
            auto_head = "GET" in allowed and "HEAD" not in allowed
            if method in entry.methods:
                worker_method = method
            elif method == "HEAD" and auto_head:
                worker_method = "GET"
            else:
                allow = ", ".join(allowed + (["HEAD"] if auto_head else []))
                return error_result(405, f"{method} is not allowed on {entry.path} "
                                         f"(allowed: {allow})", headers=[("allow", allow)])
            params = [(name, unquote(value)) for name, value in match.groupdict().items()]
            return entry, worker_method, params
        return error_result(404, f"no route for {method} {path}")


class _BodyOnce:
    """request.stream() of a stream_body route: the whole body, once."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._opened = False

    def open(self) -> Any:
        if self._opened:
            raise RuntimeError("the request body stream has already been read")
        self._opened = True
        from .request import _WholeBody

        return _WholeBody(self._body)


def _collect(content: Any) -> bytes:
    """A streamed body, whole: what the client would have read."""
    out = bytearray()
    if hasattr(content, "__aiter__"):
        async def read() -> None:
            async for item in content:
                for piece in pieces(item):
                    out.extend(piece)

        asyncio.run(read())
    else:
        for item in content:
            for piece in pieces(item):
                out.extend(piece)
    return bytes(out)


def _query(params: Params) -> str:
    if params is None:
        return ""
    if isinstance(params, str):
        return params
    items = params.items() if isinstance(params, Mapping) else params
    pairs: List[Tuple[str, str]] = []
    for name, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs.extend((name, _text(v)) for v in values)
    return urlencode(pairs)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(json_value: Any, data: Any, content: Any, headers: List[Tuple[str, str]]) -> bytes:
    def set_type(media: str) -> None:
        if not any(name == "content-type" for name, _ in headers):
            headers.append(("content-type", media))

    if json_value is not None:
        set_type("application/json")
        return _json.dumps(json_value).encode()
    if isinstance(data, Mapping):
        set_type("application/x-www-form-urlencoded")
        return _query(data).encode()
    raw = data if data is not None else content
    if raw is None:
        return b""
    return raw.encode() if isinstance(raw, str) else bytes(raw)
