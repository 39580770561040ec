"""Serving a WSGI app (Flask, Django, Bottle, Pyramid…) per PEP 3333.

By default one request at a time per worker, in the sequential worker, as gunicorn's sync worker:
a WSGI app may rely on it, and a request that runs past ``--timeout`` gets its worker killed and
replaced, which is the only way to stop synchronous code. With ``--worker-concurrency N`` the
worker runs it on N threads (worker/thread_pool.py, ``wsgi.multithread`` true), as gunicorn's
gthread worker. The body arrives whole in the TaskAssignment (``wsgi.input``).

A response is buffered (one TaskResult, the hot path) when its size is known up front: a list or
tuple, or a ``Content-Length``, of at most BUFFER_LIMIT bytes. Anything else streams
(ResponseHead, then a chunk per piece under the worker's window), its head sent once the first
non-empty piece exists, as PEP 3333 asks. The iterable's ``close()`` is always called.
"""

import io
import sys
from typing import Any, Callable, Iterator, List, Optional, Tuple
from urllib.parse import unquote_to_bytes

from .foreign import BUFFER_LIMIT, body_bytes, host_and_port, http_version, is_secure, valid_status
from .worker.executor import Outcome, crash_result, report_failure
from .worker.protocol import APP_HEADERS, TaskAssignment
from .worker.streams import Stream

_SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def build_environ(task: TaskAssignment, root_path: str = "", multithread: bool = False) -> dict:
    body = bytes(task.body)
    secure = is_secure(task)
    default_port = 443 if secure else 80  # of a Host without a port
    environ = {
        "REQUEST_METHOD": task.method,
        "SCRIPT_NAME": root_path,
        # PEP 3333: the decoded path as bytes, carried in a str by latin-1.
        "PATH_INFO": unquote_to_bytes(task.path).decode("latin-1"),
        "QUERY_STRING": task.query,
        "RAW_URI": task.path + ("?" + task.query if task.query else ""),
        "SERVER_PROTOCOL": "HTTP/" + http_version(task),  # before the headers are read
        "SERVER_NAME": "localhost",
        "SERVER_PORT": str(default_port),
        "REMOTE_ADDR": task.client_host,
        "REMOTE_PORT": str(task.client_port),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if secure else "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in task.headers:
        key = _SPECIAL.get(name)
        if key is None:
            if "_" in name:
                continue  # would pass for a dash once in HTTP_*: a spoofing trick, dropped
            key = "HTTP_" + name.upper().replace("-", "_")
            if name == "host":
                host, port = host_and_port(value, default_port)
                environ["SERVER_NAME"], environ["SERVER_PORT"] = host, str(port)
        if key in environ and key.startswith("HTTP_"):
            joiner = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = environ[key] + joiner + value
        else:
            environ[key] = value
    # The request's id, the orchestrator's when the client sent none or an unusable one: the app
    # logs what the access log says.
    environ["HTTP_X_REQUEST_ID"] = task.request_id
    if body or "CONTENT_LENGTH" in environ:
        environ["CONTENT_LENGTH"] = str(len(body))  # the orchestrator has the body whole
    return environ


class _Response:
    """start_response and write(), and what they were given."""

    def __init__(self) -> None:
        self.status: Optional[int] = None
        self.headers: List[Tuple[str, str]] = []
        self.written: List[bytes] = []  # the legacy write() callable's data
        self.head_sent = False

    def start_response(self, status: str, headers: List[Tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        code = status.split(" ", 1)[0]
        if len(code) != 3 or not code.isdigit():
            raise ValueError(f"WSGI status must start with three digits, got {status!r}")
        self.status = valid_status(int(code), "WSGI")
        self.headers = _header_pairs(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() before start_response")
        self.written.append(body_bytes(data, "WSGI"))

    def length(self) -> Optional[int]:
        for name, value in self.headers:
            if name == "content-length" and value.strip().isdigit():
                return int(value)
        return None


def _header_pairs(headers: Any) -> List[Tuple[str, str]]:
    """start_response's headers, names in lower case. PEP 3333 wants native strings: anything
    else is the app's error (a 500, as gunicorn's TypeError is), not converted; ``str(b"x")``
    would send the text ``b'x'``."""
    pairs = []
    for name, value in headers:
        if not (isinstance(name, str) and isinstance(value, str)):
            what, part = ("name", name) if not isinstance(name, str) else ("value", value)
            # The name says which header; the value itself stays out of the log.
            raise TypeError(f"WSGI: header {name!r}: its {what} is {type(part).__name__}, not str")
        pairs.append((name.lower(), value))
    return pairs


class _Body:
    """A streamed response's content: the pieces already read, then the rest of the app's
    iterable. An object, not a generator, so that its close() (the app's close()) runs even when
    the stream is closed before its first piece."""

    def __init__(self, first: List[bytes], rest: Iterator[Any], iterable: Any) -> None:
        self._first = first
        self._rest = rest
        self._iterable = iterable
        self._closed = False

    def __iter__(self) -> "_Body":
        return self

    def __next__(self) -> bytes:
        if self._first:
            return self._first.pop(0)
        return body_bytes(next(self._rest), "WSGI")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _close(self._iterable)


class WsgiAdapter:
    """A WSGI app, as a worker runs it: ``execute(task) -> Outcome``, on the sequential worker's
    thread or on one of a thread pool's (``multithread``)."""

    kind = "wsgi"
    is_async = False  # never on the event loop

    def __init__(self, app: Callable[..., Any], root_path: str = "") -> None:
        self.app = app
        self.root_path = root_path
        self.multithread = False  # set by the worker before it serves

    def registry(self) -> List[dict]:
        from .introspect import registry

        return registry(self.app, websocket=False)

    def execute(self, task: TaskAssignment, body: Any = None) -> Outcome:
        """``body`` is unused: bodies come whole, in the TaskAssignment."""
        response = _Response()
        try:
            environ = build_environ(task, self.root_path, self.multithread)
            iterable = self.app(environ, response.start_response)
        except Exception as exc:
            return _failed(task, exc)
        streaming = False
        try:
            iterator = iter(iterable)
            first = response.written
            length = response.length()
            if isinstance(iterable, (list, tuple)) or (length is not None
                                                       and length <= BUFFER_LIMIT):
                # Known to be small: read it whole, unless it turns out larger than it said.
                total = sum(len(p) for p in first)
                for piece in iterator:
                    first.append(body_bytes(piece, "WSGI"))
                    total += len(piece)
                    if total > BUFFER_LIMIT:
                        break
                else:
                    return self._result(task, response, b"".join(first))
            else:
                for piece in iterator:  # PEP 3333: no head before the first non-empty piece
                    if piece:
                        first.append(body_bytes(piece, "WSGI"))
                        break
                else:
                    return self._result(task, response, b"".join(first))
            if response.status is None:
                raise AssertionError("the app yielded a body without calling start_response")
            stream = Stream(response.status, 0, response.headers, _Body(first, iterator, iterable))
            response.head_sent = True
            streaming = True
            return stream
        except Exception as exc:
            return _failed(task, exc)
        finally:
            if not streaming:
                try:
                    _close(iterable)
                except Exception as exc:
                    _log(task, exc, "closing its response")

    @staticmethod
    def _result(task: TaskAssignment, response: _Response, body: bytes) -> Outcome:
        if response.status is None:
            raise AssertionError("the app returned without calling start_response")
        # A HEAD answered without its body keeps the app's Content-Length: the orchestrator's
        # rule for APP_HEADERS results (HttpJob.send).
        return response.status, APP_HEADERS, response.headers, body


def _close(iterable: Any) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


def _failed(task: TaskAssignment, exc: BaseException) -> Outcome:
    return crash_result(exc, _log(task, exc, ""), "app", task.request_id)


def _log(task: TaskAssignment, exc: BaseException, doing: str) -> str:
    """Logs what the app raised, with the request id its client was given; the traceback."""
    return report_failure("the WSGI app", task.method, task.path, task.request_id, exc, doing)
