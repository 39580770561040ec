"""What a handler can return or raise besides a plain value: Response and HTTPException."""

from datetime import datetime, timezone
from email.utils import format_datetime
from http.cookies import SimpleCookie
from typing import Any, Optional, Union

from .request import Headers, HeadersInit

# Node's http.STATUS_CODES, so that Python and TypeScript workers and the orchestrator name every
# status alike (Python's http.HTTPStatus renamed some, 422 and 413 among them, in 3.13).
REASONS = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
    204: "No Content", 205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
    208: "Already Reported", 226: "IM Used",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
    411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large",
    414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    417: "Expectation Failed", 418: "I'm a Teapot", 421: "Misdirected Request",
    422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency", 425: "Too Early",
    426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates", 507: "Insufficient Storage", 508: "Loop Detected",
    509: "Bandwidth Limit Exceeded", 510: "Not Extended", 511: "Network Authentication Required",
}


def reason_phrase(status: int) -> str:
    return REASONS.get(status, "Error")


def _check_status(status: Any) -> int:
    if type(status) is not int or not 100 <= status <= 599:
        raise ValueError(f"HTTP status must be an int from 100 to 599, got {status!r}")
    return status


class Response:
    """A response with its own status, headers or media type.

    ``body``: bytes are sent as they are (default media type application/octet-stream), a str
    as UTF-8 (text/plain; charset=utf-8), None as an empty body; anything else is JSON-encoded
    like a handler's return value (application/json). A ``content-type`` in ``headers`` wins
    over ``media_type``. Middleware gets one from ``call_next``, body already bytes, and may
    change its status, headers or body.
    """

    __slots__ = ("body", "status", "headers", "media_type", "_flags")

    def __init__(
        self, body: Any = None, status: int = 200, headers: HeadersInit = None,
        media_type: Any = None,
    ) -> None:
        self.body = body
        self.status = _check_status(status)
        self.headers = Headers(headers)
        self.media_type = media_type
        self._flags = 0  # TaskResult flags of the outcome this response stands for

    def set_cookie(
        self, key: str, value: str = "", max_age: Optional[int] = None,
        expires: Union[datetime, int, str, None] = None, path: Optional[str] = "/",
        domain: Optional[str] = None, secure: bool = False, httponly: bool = False,
        samesite: Optional[str] = "lax",
    ) -> None:
        """Adds a Set-Cookie header (one per cookie: they are never folded into one line).

        ``expires``: a datetime, or seconds from now; ``samesite``: "lax", "strict", "none" or
        None to leave it out.
        """
        cookie: SimpleCookie = SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            morsel["expires"] = (format_datetime(expires.astimezone(timezone.utc), usegmt=True)
                                 if isinstance(expires, datetime) else expires)
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("lax", "strict", "none"):
                raise ValueError(f"samesite must be 'lax', 'strict' or 'none', got {samesite!r}")
            morsel["samesite"] = samesite.capitalize()
        self.headers.add("set-cookie", morsel.OutputString())

    def delete_cookie(
        self, key: str, path: Optional[str] = "/", domain: Optional[str] = None,
        secure: bool = False, httponly: bool = False, samesite: Optional[str] = "lax",
    ) -> None:
        """Asks the client to drop a cookie (the path and domain must match how it was set)."""
        self.set_cookie(key, "", max_age=0, expires=0, path=path, domain=domain, secure=secure,
                        httponly=httponly, samesite=samesite)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.headers.get('content-type', self.media_type)}>"


class HTTPException(Exception):
    """Raise it to answer with ``status`` and ``{"error": <reason phrase>, "detail": detail}``.

    ``detail`` may be any JSON value (the reason phrase when omitted); ``headers`` are added to
    the response. Raised from a handler or a middleware; no traceback is logged.
    """

    def __init__(self, status: int, detail: Any = None, headers: HeadersInit = None) -> None:
        self.status = _check_status(status)
        self.detail = reason_phrase(status) if detail is None else detail
        self.headers = Headers(headers)
        super().__init__(status, self.detail)

    @property
    def status_code(self) -> int:  # FastAPI's name for it
        return self.status

    def __str__(self) -> str:
        return f"{self.status} {reason_phrase(self.status)}: {self.detail}"

    def __repr__(self) -> str:
        return f"HTTPException({self.status!r}, {self.detail!r})"
