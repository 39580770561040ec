"""WebSocket and WebSocketDisconnect: what an ``@app.websocket`` handler talks through."""

import json
from typing import Any, Union

from .request import Request


class WebSocketDisconnect(Exception):
    """The peer closed the connection (``code``: its close code, 1006 when the connection
    dropped without a close frame; ``reason``: its text)."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed by the peer ({self.code}{': ' + self.reason if self.reason else ''})"


class WebSocket(Request):
    """One WebSocket connection, accepted when its handler starts.

    It is also the upgrade request: ``path``, ``query_params``, ``headers``, ``client``,
    ``path_params``. ``subprotocol`` is the one chosen from the route's ``subprotocols`` (None
    if none). Messages are ``str`` (text) or ``bytes`` (binary), whole.
    """

    __slots__ = ("subprotocol", "_channel")

    def __init__(self, channel: Any, subprotocol: Any = None, **request: Any) -> None:
        super().__init__(**request)
        self.subprotocol = subprotocol
        self._channel = channel

    async def receive(self) -> Union[str, bytes]:
        """The next message; raises WebSocketDisconnect once the peer has closed (after the
        messages it sent before)."""
        return await self._channel.receive()

    async def send(self, data: Union[str, bytes]) -> None:
        """Sends a text (str) or binary (bytes) message; waits while the peer is slow to read.
        Raises WebSocketDisconnect if the peer has closed."""
        if not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"WebSocket.send takes str or bytes, got {type(data).__name__}"
                            " (send_json encodes other values)")
        await self._channel.send(data)

    async def receive_json(self) -> Any:
        message = await self.receive()
        return json.loads(message)

    async def send_json(self, value: Any) -> None:
        await self.send(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closes the connection (``reason``: at most 123 bytes of UTF-8). Returning from the
        handler closes it with 1000; raising, with 1011."""
        await self._channel.close(code, reason)

    def __aiter__(self) -> Any:
        return self._messages()

    async def _messages(self) -> Any:
        """Each message until the peer closes (the loop then ends without an error)."""
        while True:
            try:
                message = await self.receive()
            except WebSocketDisconnect:
                return
            yield message

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} id={self.request_id!r}>"
