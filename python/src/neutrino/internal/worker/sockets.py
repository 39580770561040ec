"""The async worker's end of one WebSocket task (docs/protocol.md, "Streams": WebSockets).

Messages from the client queue here until the handler reads them; the window is granted back
as it reads, so the queue holds at most the window (1 MiB) plus one message. Messages to the
client wait for credit (Credit) and for the socket to drain.
"""

import asyncio
from collections import deque
from typing import Any, Awaitable, Callable, Deque, List, Optional, Sequence, Tuple, Union

from ...websocket import WebSocketDisconnect
from .protocol import (
    INITIAL_WINDOW,
    encode_websocket_accept,
    encode_websocket_close,
    encode_websocket_message_head,
    encode_window_update,
)

MAX_REASON = 123  # bytes: what fits a close frame's payload with its code


def valid_close_code(code: Any) -> bool:
    """What a close frame may carry (RFC 6455 7.4; the `ws` library checks the same)."""
    return type(code) is int and (1000 <= code <= 1014 and code not in (1004, 1005, 1006)
                                  or 3000 <= code <= 4999)


def is_upgrade(headers: List[Tuple[str, str]]) -> bool:
    """A WebSocket handshake: ``upgrade: websocket`` and a ``connection`` naming ``upgrade``."""
    upgrade = connection = False
    for name, value in headers:
        if name == "upgrade":
            upgrade = upgrade or value.strip().lower() == "websocket"
        elif name == "connection":
            connection = connection or "upgrade" in value.lower()
    return upgrade and connection


def choose_subprotocol(offered: List[str], headers: List[Tuple[str, str]]) -> str:
    """The first subprotocol the client asked for (in its order) that the route speaks; ""
    for none. The TypeScript SDK chooses the same way."""
    if not offered:
        return ""
    asked = [p.strip() for name, value in headers if name == "sec-websocket-protocol"
             for p in value.split(",")]
    return next((p for p in asked if p in offered), "")


class Credit:
    """The window of one outgoing stream: how much may be sent before the peer grants more."""

    __slots__ = ("window", "_loop", "_waiter", "_ended")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.window = INITIAL_WINDOW
        self._loop = loop
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._ended = False

    def grant(self, increment: int) -> None:
        self.window += increment
        self.wake()

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Until the window is above zero, or ``stop()`` is true after a wake()."""
        while self.window <= 0 and not stop():
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class SocketChannel:
    """One WebSocket task, for the handler (through WebSocket) or an ASGI adapter: ``accept``,
    ``receive`` (str or bytes; WebSocketDisconnect once the peer closed), ``send``, ``close``.

    ``write(frames)``: writes to the orchestrator; ``drained()``: awaits a writable socket;
    ``accepted(task_id, channel)``: WebSocketAccept went out (the worker routes the task's frames
    here from then on); ``closed(task_id)``: our WebSocketClose went out, the task is over."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task_id: int,
                 write: Callable[[Any], None], drained: Callable[[], Awaitable[None]],
                 accepted: Callable[[int, "SocketChannel"], None],
                 closed: Callable[[int], None]) -> None:
        self._loop = loop
        self._task_id = task_id
        self._write = write
        self._drained = drained
        self._on_accepted = accepted
        self._on_closed = closed
        self.accepted = False
        self.credit = Credit(loop)
        self._inbox: Deque[Union[str, bytes]] = deque()
        self._waiter: Optional["asyncio.Future[None]"] = None
        self.peer_closed: Optional[Tuple[int, str]] = None
        self.closed = False  # we sent WebSocketClose

    # from the orchestrator ---------------------------------------------------------------------

    def message(self, binary: bool, data: Any) -> None:
        if self.closed or self.peer_closed is not None:
            return
        self._inbox.append(bytes(data) if binary else bytes(data).decode("utf-8", "replace"))
        self._wake()

    def peer_close(self, code: int, reason: str) -> None:
        if self.peer_closed is None:
            self.peer_closed = (code, reason)
        self._wake()
        self.credit.wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # from the handler --------------------------------------------------------------------------

    def accept(self, subprotocol: str = "", headers: Sequence[Tuple[str, str]] = ()) -> None:
        """Completes the handshake (before it, the task may still answer an HTTP response)."""
        if self.accepted:
            raise RuntimeError("the WebSocket is already accepted")
        # Encoded first: headers too long for the protocol raise to the handler, nothing sent.
        frame = encode_websocket_accept(self._task_id, subprotocol or "", list(headers))
        self.accepted = True
        self._on_accepted(self._task_id, self)
        self._write(frame)

    async def receive(self) -> Union[str, bytes]:
        while True:
            if self.closed:
                raise RuntimeError("the WebSocket is closed")
            if self._inbox:
                message = self._inbox.popleft()
                size = len(message) if isinstance(message, bytes) else len(message.encode())
                self._write(encode_window_update(self._task_id, size))
                return message
            if self.peer_closed is not None:
                raise WebSocketDisconnect(*self.peer_closed)
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def send(self, data: Any) -> None:
        binary = not isinstance(data, str)
        payload = bytes(data) if binary else data.encode("utf-8")
        await self.credit.wait(lambda: self.closed or self.peer_closed is not None)
        await self._drained()
        if self.closed:
            raise RuntimeError("the WebSocket is closed")
        if self.peer_closed is not None:
            raise WebSocketDisconnect(*self.peer_closed)
        self._write((encode_websocket_message_head(self._task_id, binary, len(payload)),
                     payload))
        self.credit.window -= len(payload)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not valid_close_code(code):
            raise ValueError(f"WebSocket close code {code!r} cannot be sent (1000-1014 but "
                             "1004-1006, or 3000-4999)")
        if len(reason.encode("utf-8")) > MAX_REASON:
            raise ValueError(f"WebSocket close reason is over {MAX_REASON} bytes of UTF-8")
        self.end(code, reason)

    def end(self, code: int, reason: str = "") -> None:
        """Sends our WebSocketClose, once: the task is over for the orchestrator."""
        if self.closed:
            return
        self.closed = True
        self._wake()
        self.credit.wake()
        self._write(encode_websocket_close(self._task_id, code, reason))
        self._on_closed(self._task_id)
