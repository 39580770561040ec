"""A streamed request body in the async worker: BodyChunk frames in, ``request.stream()`` out.

The event loop feeds it (``feed``, ``end``, ``disconnect``); the handler reads it, with
``async for`` on the loop or ``for`` on the sync thread. The orchestrator sends at most the
window it was granted, and the window is granted back only as the handler reads: what waits
here is bounded by the window (1 MiB, plus one frame).
"""

import asyncio
import threading
from collections import deque
from typing import Any, Callable, Deque, Optional

from ...streaming import ClientDisconnect

_END, _LEFT = "end", "left"
#: The pseudo-header that ends the headers of a task whose body follows in BodyChunk frames.
_STREAMED_BODY_MARK = ":body"


def body_follows(task: Any) -> bool:
    """For a route listed with ``stream_large_body``: whether this task's body follows in
    BodyChunk frames (the orchestrator marked it so) rather than in the TaskAssignment. Removes
    the mark, which is not the app's."""
    headers = task.headers
    if headers and headers[-1][0] == _STREAMED_BODY_MARK:
        headers.pop()
        return True
    return False


class BodyStream:
    """``grant(n)``: sends WindowUpdate(n) for this task; called on the loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, grant: Callable[[int], None]) -> None:
        self._loop = loop
        self._grant = grant
        self._chunks: Deque[bytes] = deque()
        self._state: Optional[str] = None  # _END once BodyEnd came, _LEFT if the client left
        self._cond = threading.Condition()  # the sync thread waits on it
        self._waiter: Optional["asyncio.Future[None]"] = None  # an async reader waits on it
        self._opened = False

    # the loop's side ---------------------------------------------------------------------------

    def feed(self, data: Any) -> None:
        with self._cond:
            if self._state is None and len(data):
                self._chunks.append(bytes(data))
            self._wake()

    def end(self, complete: bool) -> None:
        with self._cond:
            if self._state is None:
                self._state = _END if complete else _LEFT
            self._wake()

    def disconnect(self) -> bool:
        """The task was cancelled: a reader raises ClientDisconnect. True when one was waiting
        for a chunk (it will see the disconnect there)."""
        with self._cond:
            waiting = self._waiter is not None or self._sync_waiting
            self._state = _LEFT
            self._chunks.clear()
            self._wake()
        return waiting

    _sync_waiting = False

    def _wake(self) -> None:
        self._cond.notify_all()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # the handler's side ------------------------------------------------------------------------

    def open(self) -> "BodyStream":
        if self._opened:
            raise RuntimeError("the request body stream has already been read")
        self._opened = True
        return self

    def _take(self) -> Optional[bytes]:  # under the lock
        if self._state == _LEFT:
            raise ClientDisconnect("the client went away before sending the whole body")
        if self._chunks:
            return self._chunks.popleft()
        if self._state == _END:
            return b""
        return None

    def __aiter__(self) -> Any:
        return self._read_async()

    async def read(self) -> bytes:
        """The next chunk, its bytes granted back; b"" at the end. Raises ClientDisconnect."""
        while True:
            with self._cond:
                chunk = self._take()
            if chunk is not None:
                break
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if chunk:
            self._grant(len(chunk))
        return chunk

    async def _read_async(self) -> Any:
        while True:
            chunk = await self.read()
            if not chunk:
                return
            yield chunk

    def __iter__(self) -> Any:
        while True:
            with self._cond:
                chunk = self._take()
                while chunk is None:
                    self._sync_waiting = True
                    try:
                        self._cond.wait()
                    finally:
                        self._sync_waiting = False
                    chunk = self._take()
            if not chunk:
                return
            self._loop.call_soon_threadsafe(self._grant, len(chunk))
            yield chunk
