"""Blocking framed I/O on the worker's socket: the hot path's reads and writes.

A synchronous worker has nothing to do while it waits for the next task, so a blocking socket
is both the simplest and the fastest choice. Frames are received into one reusable buffer and
decoded in place: a TaskAssignment's body is a view into that buffer, valid until the next read.

Idle heartbeats ride on the same blocking receive: a kernel receive timeout (SO_RCVTIMEO) ends a
wait that lasted a heartbeat interval, the worker sends its Heartbeat and waits again. Unlike
socket.settimeout, which makes CPython poll() before every recv and send, this costs the hot path
no extra system call, and it never fires while a handler runs, because only a receive can time out.
"""

import socket
import struct
from typing import Any, Optional, Sequence, Tuple

from .protocol import (
    DEFAULT_MAX_FRAME,
    ProtocolError,
    check_frame_length,
    decode_payload,
    encode_body_chunk_head,
    encode_task_result_head,
)
from .streams import header_too_large, too_large

#: What poll_message returns when no whole frame has arrived yet.
NOTHING = object()

_BUFFER_SIZE = 256 * 1024  # holds a typical request whole, so one recv_into is enough
_COPY_LIMIT = 64 * 1024  # smaller bodies are joined to their head: one cheap copy, one syscall
_LENGTH = struct.Struct(">I")
# struct timeval as two native longs: exact on 64-bit Linux; on macOS (long, int32 + padding)
# the little-endian layout puts tv_usec in the right place.
_TIMEVAL = struct.Struct("@ll")
_MAX_TIMEOUT = 2**31 - 1  # seconds; keeps any interval's tv_sec inside a 32-bit long


class Connection:
    def __init__(self, sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._sock = sock
        self._max_frame = max_frame
        self._buf = bytearray(_BUFFER_SIZE)
        self._view = memoryview(self._buf)
        self._start = 0  # first unread byte
        self._end = 0  # end of the received bytes
        self._idle_frame = b""  # sent whenever a receive times out; see enable_heartbeat

    def enable_heartbeat(self, interval: float, frame: bytes) -> None:
        """From now on, sends `frame` each time `interval` seconds pass with nothing received."""
        interval = min(interval, _MAX_TIMEOUT)
        seconds = int(interval)
        # At least 1 us: a zero timeval would mean "no timeout" to the kernel.
        micros = max(int(round((interval - seconds) * 1e6)), 0 if seconds else 1)
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, 0
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(seconds, micros))
        self._idle_frame = frame

    def read_message(self, wait: bool = True) -> Any:
        """The next message; None at end of stream between frames. Raises ProtocolError.

        With ``wait`` false it never blocks: NOTHING when no whole frame has arrived yet (a
        streaming task looks for window updates and cancels between its chunks).
        """
        if self._end - self._start < 4:
            if len(self._buf) > _BUFFER_SIZE:
                self._reallocate(_BUFFER_SIZE)  # a large frame is done with: free its memory
            filled = self._fill(4, wait)
            if not filled:
                return None if filled is False else NOTHING
        start = self._start
        (length,) = _LENGTH.unpack_from(self._buf, start)
        check_frame_length(length, self._max_frame)
        end = start + 4 + length
        if self._end < end:
            if self._fill(4 + length, wait) is None:
                return NOTHING
            start = self._start  # _fill may have moved the pending bytes
            end = start + 4 + length
        if end == self._end:
            self._start = self._end = 0  # buffer drained: the next frame lands at its start
        else:
            self._start = end
        return decode_payload(self._buf[start + 4], self._view[start + 5 : end])

    def poll_message(self) -> Any:
        """The next message if a whole one has arrived, else NOTHING; never blocks."""
        return self.read_message(False)

    def send(self, frame: bytes) -> None:
        self._sock.sendall(frame)

    def send_result(
        self, task_id: int, status: int, flags: int, headers: Sequence[Tuple[str, str]], body: bytes,
        task: Any = None,
    ) -> None:
        """``task``: the TaskAssignment, for the log should the result not fit the protocol."""
        try:
            head = encode_task_result_head(task_id, status, flags, headers, len(body))
        except ValueError:  # a header too long for the protocol
            status, flags, headers, body = header_too_large(task_id, headers, task)
            head = encode_task_result_head(task_id, status, flags, headers, len(body))
        if len(head) - 4 + len(body) > self._max_frame:
            # The orchestrator would refuse the frame, and the worker with it: say what to do.
            status, flags, headers, body = too_large(task_id, len(head) - 4 + len(body), task)
            head = encode_task_result_head(task_id, status, flags, headers, len(body))
        if len(body) <= _COPY_LIMIT:
            self._sock.sendall(head + body)
        else:
            self._send_pair(head, body)

    def send_chunk(self, task_id: int, data: Any) -> None:
        """A BodyChunk, its data sent without a copy when large."""
        head = encode_body_chunk_head(task_id, len(data))
        if len(data) <= _COPY_LIMIT:
            self._sock.sendall(head + data)
        else:
            self._send_pair(head, data)

    def _send_pair(self, head: bytes, body: Any) -> None:
        # A large body goes out without being copied behind its head.
        sent = self._sock.sendmsg([head, body])
        if sent < len(head):
            self._sock.sendall(head[sent:])
            sent = len(head)
        if sent < len(head) + len(body):
            self._sock.sendall(memoryview(body)[sent - len(head) :])

    def _fill(self, size: int, wait: bool = True) -> Optional[bool]:
        """Receives until `size` bytes are buffered from _start; False at EOF between frames.
        Without ``wait``, None as soon as the socket has nothing more to give."""
        pending = self._end - self._start
        if self._start + size > len(self._buf):
            if size > len(self._buf):
                self._reallocate(size)
            else:
                # Move the partial frame to the front so the rest fits behind it.
                self._view[:pending] = self._view[self._start : self._end]
                self._start, self._end = 0, pending
        recv_into = self._sock.recv_into
        view = self._view
        while self._end - self._start < size:
            try:
                if wait:
                    received = recv_into(view[self._end :])
                else:
                    received = recv_into(view[self._end :], 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if not wait:
                    return None
                # SO_RCVTIMEO expired (EAGAIN on a blocking socket): a whole interval idle.
                # Even between the pieces of a frame: no task is in flight until it is whole.
                if not self._idle_frame:
                    raise
                self._sock.sendall(self._idle_frame)
                continue
            if received == 0:
                if self._end == self._start:
                    return False
                raise ProtocolError(
                    "truncated",
                    f"stream ended inside a frame ({self._end - self._start} bytes left over)",
                )
            self._end += received
        return True

    def _reallocate(self, size: int) -> None:
        # A new buffer rather than a resize: views of the old one (a body) may still be alive.
        pending = self._end - self._start
        buf = bytearray(size)
        buf[:pending] = self._view[self._start : self._end]
        self._buf, self._view = buf, memoryview(buf)
        self._start, self._end = 0, pending
