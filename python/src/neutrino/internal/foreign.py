"""Apps the user already has, served as they are: which kind an object is (``--interface``,
NEUTRINO_INTERFACE), and what the ASGI and WSGI adapters share.

``auto`` tries, in order: a neutrino App; an ASGI 3 app (an ``async`` callable of scope, receive,
send, or an object whose ``__call__`` is one); a WSGI app (a callable of environ,
start_response). The adapters themselves (asgi.py, wsgi.py) are imported only for their kind.
"""

import functools
import inspect
import os
from typing import Any, Optional, Tuple

INTERFACE_ENV = "NEUTRINO_INTERFACE"
INTERFACES = ("auto", "neutrino", "asgi", "wsgi", "fetch")
#: ``--root-path``: where the app is mounted behind a proxy that strips it ("" for none).
ROOT_PATH_ENV = "NEUTRINO_ROOT_PATH"
#: The largest response body an adapter sends as one TaskResult; a larger one goes as a stream
#: (a frame holds at most 64 MiB, and a smaller piece reaches the client sooner).
BUFFER_LIMIT = 8 * 1024 * 1024
#: The pseudo-header that starts a TaskAssignment's headers when the request is not HTTP/1.1.
_VERSION_MARK = ":version"


def http_version(task: Any) -> str:
    """The request's HTTP version ("1.0", "1.1", "2"). The orchestrator names it, for routes
    listed with ``http_version``, only when it is not 1.1, in a ``:version`` pair first in the
    headers: taken out here, it is not the app's."""
    headers = task.headers
    if headers and headers[0][0] == _VERSION_MARK:
        return headers.pop(0)[1]
    return "1.1"


def interface_from_env() -> str:
    return os.environ.get(INTERFACE_ENV, "").strip().lower() or "auto"


def is_asgi(obj: Any) -> bool:
    """An ASGI 3 app: a coroutine function of three arguments (or an object whose __call__ is)."""
    if not callable(obj) or isinstance(obj, type):
        return False
    target = obj if _is_coroutine_function(obj) else getattr(obj, "__call__", None)
    return target is not None and _is_coroutine_function(target) and _takes(target, 3)


def is_wsgi(obj: Any) -> bool:
    """A WSGI app: a callable of two arguments (environ, start_response)."""
    if not callable(obj) or isinstance(obj, type) or is_asgi(obj):
        return False
    target = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else obj.__call__
    return not _is_coroutine_function(target) and _takes(target, 2)


def _is_coroutine_function(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn)


def _takes(fn: Any, count: int) -> bool:
    """Whether ``fn`` can be called with ``count`` positional arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or extension type: nothing to read
        return False
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def adapter(obj: Any, kind: str) -> Any:
    """The adapter that serves ``obj`` as ``kind`` (asgi or wsgi)."""
    root_path = os.environ.get(ROOT_PATH_ENV, "").strip().rstrip("/")
    if kind == "asgi":
        from .asgi import AsgiAdapter

        return AsgiAdapter(obj, root_path)
    from .wsgi import WsgiAdapter

    return WsgiAdapter(obj, root_path)


def host_and_port(value: str, default_port: int) -> Tuple[str, int]:
    """A Host header's (host, port): ``example.com:8000``, ``[::1]:8000``, ``example.com``."""
    value = value.strip()
    if value.startswith("["):  # an IPv6 literal
        end = value.find("]")
        host, rest = value[:end + 1], value[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.partition(":")
    return host, int(port) if port.isdigit() else default_port


def is_secure(task: Any) -> bool:
    """Whether the client came over TLS, to Neutrino or to a trusted proxy: the orchestrator puts
    the scheme it resolved in exactly one x-forwarded-proto header."""
    return header(task.headers, "x-forwarded-proto") == "https"


def valid_status(status: int, interface: str) -> int:
    """An app's response status: HTTP has them from 100 to 599. Anything else (0, 999, 70000) is
    the app's error: its request gets a 500 and the log the traceback, where the status would
    otherwise reach a client it may confuse, or not fit the protocol (a 1xx goes on, to the
    orchestrator's 502 for an interim status given as the answer)."""
    if not 100 <= status <= 599:
        raise ValueError(f"{interface}: a response status must be from 100 to 599, got {status}")
    return status


def body_bytes(data: Any, interface: str) -> bytes:
    """A piece of an app's response body. A bytes-like object is taken (bytes as they are, without a
    copy); anything else is the app's error, a TypeError (a 500, as in uvicorn and gunicorn), not
    converted: ``bytes(5)`` is five NUL bytes, ``bytes([104, 105])`` is "hi", and a ``str`` would
    fail with "string argument without an encoding", which names neither the app nor the body."""
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{interface}: a response body must be bytes, not {type(data).__name__}")


def header(headers: Any, name: str) -> Optional[str]:
    for key, value in headers:
        if key == name:
            return value
    return None
