"""Streamed responses and request bodies: StreamingResponse, ServerSentEvent, ClientDisconnect."""

import json
from typing import Any, Optional

from .request import HeadersInit
from .response import Response

EVENT_STREAM = "text/event-stream"


class StreamingResponse(Response):
    """A response whose body is sent piece by piece, as ``content`` yields it.

    ``content``: an iterable or async iterable (a generator, an async generator) of ``str``
    (sent as UTF-8) or ``bytes``; in a ``text/event-stream`` stream, ServerSentEvent items
    too. The default media type is ``text/plain; charset=utf-8``. Middleware sees it like any
    Response and may change its status and headers; ``body`` is the iterable, passed through.
    """

    __slots__ = ()

    def __init__(self, content: Any, status: int = 200, headers: HeadersInit = None,
                 media_type: Optional[str] = None) -> None:
        if not (hasattr(content, "__iter__") or hasattr(content, "__aiter__")) or isinstance(
                content, (str, bytes, bytearray, memoryview)):
            raise TypeError("StreamingResponse content must be an iterable or async iterable of "
                            f"str or bytes, got {type(content).__name__}")
        super().__init__(content, status, headers, media_type)

    @property
    def content(self) -> Any:
        return self.body

    def __repr__(self) -> str:
        kind = self.headers.get("content-type", self.media_type)
        return f"<StreamingResponse {self.status} {kind}>"


class ServerSentEvent:
    """One Server-Sent Event, for a ``text/event-stream`` StreamingResponse (or a generator of a
    route declared with that media type) to yield.

    ``data``: a str (several lines become several ``data:`` lines), or any other JSON value,
    sent JSON-encoded. ``event``, ``id``: the event's type and id; ``retry``: the reconnection
    delay the client should use, in milliseconds.
    """

    __slots__ = ("data", "event", "id", "retry")

    def __init__(self, data: Any = None, event: Optional[str] = None, id: Optional[str] = None,
                 retry: Optional[int] = None) -> None:
        for name, value in (("event", event), ("id", id)):
            if value is not None and any(c in str(value) for c in "\r\n\0"):
                raise ValueError(f"ServerSentEvent {name} must be one line, got {value!r}")
        if retry is not None and (type(retry) is not int or retry < 0):
            raise ValueError(f"ServerSentEvent retry must be an int >= 0, got {retry!r}")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def encode(self) -> bytes:
        """The event in the text/event-stream format, blank line included."""
        lines = []
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            text = self.data if isinstance(self.data, str) else json.dumps(
                self.data, separators=(",", ":"), ensure_ascii=False)
            # Every line break the format knows (\r\n, \r, \n) starts a new data: line.
            lines.extend(f"data: {line}" for line in text.replace("\r\n", "\n").replace(
                "\r", "\n").split("\n"))
        return ("\n".join(lines) + "\n\n").encode("utf-8")

    def __repr__(self) -> str:
        return f"ServerSentEvent({self.data!r}, event={self.event!r}, id={self.id!r})"


class ClientDisconnect(Exception):
    """Raised in a handler reading ``request.stream()`` when the client went away before
    sending the whole body (or the request was cancelled)."""
