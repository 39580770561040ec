"""What both worker loops share about streams (docs/protocol.md, "Streams"): the streamed outcome
of a task, turning what a stream yields into BodyChunk data, and the limit on buffered bodies.

The loops differ in how they wait (main's sequential loop blocks on its socket, the async worker
awaits), so each sends a Stream its own way: sync_streams.py and async_worker.py.
"""

import sys
import traceback
from typing import Any, Iterator, List, Tuple

from ...streaming import ServerSentEvent
from .protocol import HANDLER_FAILED, MAX_CHUNK, oversized_header

TOO_LARGE_DETAIL = "response too large to buffer: stream it"
HEADER_TOO_LARGE_DETAIL = "a response header is too large to send (over 65,535 bytes)"


class HeaderTooLarge(ValueError):
    """A response header the protocol cannot carry, found before the head was sent."""


class Stream:
    """A task's streamed outcome: ResponseHead (status, flags, headers), then ``content``.

    ``content``: what the handler gave, an iterable or an async iterable (``is_async``).
    """

    __slots__ = ("status", "flags", "headers", "content", "is_async", "where")

    def __init__(self, status: int, flags: int, headers: List[Tuple[str, str]],
                 content: Any) -> None:
        self.status = status
        self.flags = flags
        self.headers = headers
        self.content = content
        self.is_async = hasattr(content, "__aiter__")
        # The request, for the log should the content fail (request_label); set by the worker.
        self.where = ""
        # Checked while the handler can still be told (it raises there): once a head fails to
        # encode, the task has no answer to give.
        problem = oversized_header(headers)
        if problem is not None:
            raise HeaderTooLarge(f"the response has {problem}: a header name or value may "
                                 "have at most 65,535 bytes")


def pieces(item: Any) -> Iterator[memoryview]:
    """One yielded item as BodyChunk data of at most MAX_CHUNK bytes each (none if empty)."""
    if isinstance(item, str):
        data: Any = item.encode("utf-8")
    elif isinstance(item, (bytes, bytearray, memoryview)):
        data = item
    elif isinstance(item, ServerSentEvent):
        data = item.encode()
    else:
        raise TypeError(f"a stream must yield str or bytes, got {type(item).__name__}")
    view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
    for start in range(0, len(view), MAX_CHUNK):
        yield view[start:start + MAX_CHUNK]


def request_label(task: Any) -> str:
    """A task's request as the log names it, with the id the client and the access log have."""
    return f"{task.method} {task.path} (request {task.request_id})"


def report_stream_failure(task_id: int, exc: BaseException, where: str = "") -> None:
    """A stream that raised after its head went out: the client's response is cut short.
    ``where``: the request (request_label), else the task is named."""
    tb = exc.__traceback__
    lines = traceback.format_exception(type(exc), exc, tb.tb_next if tb else None)
    sys.stderr.write(f"neutrino: the streamed response of {where or f'task {task_id}'} failed "
                     "mid-way\n" + "".join(lines))
    sys.stderr.flush()


def _named(task_id: int, task: Any) -> str:
    """The request of a task for the log (request_label), or the task alone when it is not known."""
    return request_label(task) if task is not None else f"task {task_id}"


def header_too_large(task_id: int, headers: List[Tuple[str, str]], task: Any = None
                     ) -> Tuple[int, int, List[Tuple[str, str]], bytes]:
    """The result that replaces a buffered response whose headers the protocol cannot carry:
    without it the task would have no answer, and its client would wait for --timeout.
    ``task``: its TaskAssignment, for the log."""
    from .executor import error_result

    sys.stderr.write(f"neutrino: {_named(task_id, task)}: the response has "
                     f"{oversized_header(headers)}; a header name or value may have at most "
                     "65,535 bytes\n")
    return error_result(500, HEADER_TOO_LARGE_DETAIL, HANDLER_FAILED)


def too_large(task_id: int, frame_length: int, task: Any = None
              ) -> Tuple[int, int, List[Tuple[str, str]], bytes]:
    """The result that replaces a buffered response too large for one frame."""
    from .executor import error_result

    sys.stderr.write(f"neutrino: {_named(task_id, task)}: a response of {frame_length} bytes "
                     "does not fit one frame; return a StreamingResponse (or a generator) to send "
                     "it\n")
    return error_result(500, TOO_LARGE_DETAIL, HANDLER_FAILED)
