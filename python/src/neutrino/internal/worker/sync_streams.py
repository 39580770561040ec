"""Streams in the sequential worker (concurrency 1): main's blocking loop, one task at a time.

While a task streams its response or reads its streamed request body, the worker keeps reading
its socket: WindowUpdate and CancelTask for that task between chunks (without blocking), and,
when the window is spent, blocking until credit comes, heartbeats going out meanwhile (a slow
client is not a hung worker). What arrives for later (the one task the orchestrator may send
ahead, frames for it, a graceful Shutdown) is kept and dealt with after the task.
"""

from collections import deque
from typing import Any, Callable, Deque, Dict, Optional

from ...streaming import ClientDisconnect
from .connection import NOTHING, Connection
from .protocol import (
    BODY_INCOMPLETE,
    INITIAL_WINDOW,
    BodyChunk,
    BodyEnd,
    CancelTask,
    DiscoverRoutes,
    ProtocolError,
    Shutdown,
    TaskAssignment,
    WindowUpdate,
    encode_body_end,
    encode_response_head,
    encode_window_update,
)
from .streams import Stream, pieces, report_stream_failure

_TASK_FRAMES = (WindowUpdate, CancelTask, BodyChunk, BodyEnd)


class WorkerExit(BaseException):
    """Stop serving now, with this exit status (the orchestrator is gone, or said so).

    A BaseException, like SystemExit: it may rise through a handler reading its request body,
    whose ``except Exception`` must not swallow it."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Cancelled(Exception):
    pass


class Session:
    """The sequential worker's reads: ``next_message`` for the loop, the rest for a task."""

    def __init__(self, conn: Connection, registry: Callable[[], bytes]) -> None:
        self.conn = conn
        self._registry = registry
        self._next_task: Optional[TaskAssignment] = None  # sent ahead while a task ran
        self.early: Dict[int, Deque[Any]] = {}  # its frames, in order
        self._stop = False  # a graceful Shutdown came while a task ran
        self.pending = False  # next_message has something read ahead
        # The running task's frames, when it streams: its response's window, whether it was
        # cancelled, its request body's frames not read yet (at most the window granted).
        self._task: Optional[int] = None
        self._window = 0
        self._cancelled = False
        self._body: Deque[Any] = deque()
        self.dirty = False  # task_done has something to forget

    def next_message(self) -> Any:
        task = self._next_task
        if task is not None:
            self._next_task = None
            self.pending = self._stop
            return task
        if self._stop:
            return Shutdown(True)
        self.pending = False
        return self.conn.read_message()

    def task_done(self, task_id: int) -> None:
        """Frames kept for the task that it did not read: they crossed its end."""
        self.early.pop(task_id, None)
        self._task = None
        self._body.clear()
        self.dirty = bool(self.early)

    def _begin(self, task_id: int) -> None:
        if self._task != task_id:
            self._task = task_id
            self._window = INITIAL_WINDOW
            self._cancelled = False
            self._body.clear()
            self.dirty = True

    def _pump(self, task_id: int, wait: bool) -> bool:
        """Reads one frame for the task into its state (blocking with ``wait``); False when
        none has come."""
        msg = self._for(task_id, wait)
        if msg is NOTHING:
            return False
        kind = type(msg)
        if kind is WindowUpdate:
            self._window += msg.increment
        elif kind is CancelTask:
            self._cancelled = True
        elif kind is BodyChunk:
            self._body.append(BodyChunk(task_id, bytes(msg.data)))  # a view into the buffer
        else:
            self._body.append(msg)  # BodyEnd
        return True

    # ------------------------------------------------------------------------- frames aside

    def _for(self, task_id: int, wait: bool) -> Any:
        """The next frame for ``task_id``: NOTHING if none has come (without ``wait``), and
        whatever else arrives meanwhile dealt with or kept."""
        early = self.early.get(task_id)
        if early:
            return early.popleft()
        while True:
            msg = self.conn.read_message(wait)
            if msg is NOTHING:
                return msg
            kind = type(msg)
            if kind in _TASK_FRAMES:
                if msg.task_id == task_id:
                    return msg
                later = self.early.get(msg.task_id)
                if later is not None:  # the next task's: its body, or its cancel
                    if kind is BodyChunk:
                        msg = BodyChunk(msg.task_id, bytes(msg.data))  # a view into the buffer
                    later.append(msg)
                # else: for a task already over (they cross on the wire)
            elif msg is None:
                raise WorkerExit(0)  # the orchestrator is gone
            elif kind is TaskAssignment:
                if self._next_task is not None:
                    raise ProtocolError("malformed", "a second task assigned ahead of a "
                                        "worker of concurrency 1")
                msg.body = bytes(msg.body)  # a view into the receive buffer
                self._next_task = msg
                self.pending = True
                self.early[msg.task_id] = deque()
                self.dirty = True
            elif kind is DiscoverRoutes:
                self.conn.send(self._registry())
            elif kind is Shutdown:
                if not msg.graceful:
                    raise WorkerExit(0)
                self._stop = self.pending = True  # once this task (and the one ahead) is done
            else:
                raise ProtocolError("malformed",
                                    f"unexpected {kind.__name__} from the orchestrator")

    # ----------------------------------------------------------------------- streamed response

    def send_stream(self, task_id: int, stream: Stream) -> None:
        """ResponseHead, a BodyChunk per piece under the window, then BodyEnd: bit 0 when the
        content raised (traceback logged) or the task was cancelled (content closed first)."""
        conn = self.conn
        conn.send(encode_response_head(task_id, stream.status, stream.flags, stream.headers))
        step, close = _stepper(stream.content, task_id, stream.where)
        self._begin(task_id)
        flags = BODY_INCOMPLETE
        try:
            while True:
                while self._pump(task_id, False):
                    pass
                if self._cancelled:
                    raise _Cancelled()
                try:
                    item = step()
                except (StopIteration, StopAsyncIteration):
                    break
                for piece in pieces(item):
                    while self._window <= 0:
                        self._pump(task_id, True)
                        if self._cancelled:
                            raise _Cancelled()
                    conn.send_chunk(task_id, piece)
                    self._window -= len(piece)
            flags = 0
        except (_Cancelled, ClientDisconnect):
            pass  # the client left: nothing to report
        except WorkerExit:
            close()
            raise
        except Exception as exc:  # the handler's content failed: the head is out, cut it short
            report_stream_failure(task_id, exc, stream.where)
        close()
        conn.send(encode_body_end(task_id, flags))

    # ---------------------------------------------------------------------- streamed request

    def body(self, task_id: int) -> "BlockingBody":
        self._begin(task_id)
        return BlockingBody(self, task_id)

    def next_body_frame(self, task_id: int) -> Any:
        """The task's next BodyChunk or BodyEnd, blocking; ClientDisconnect once cancelled."""
        while not self._body:
            if self._cancelled:
                raise ClientDisconnect("the request was cancelled")
            self._pump(task_id, True)
        return self._body.popleft()


class BlockingBody:
    """``request.stream()`` of a streamed body in the sequential worker: reads the socket."""

    def __init__(self, session: Session, task_id: int) -> None:
        self._session = session
        self._task_id = task_id
        self._opened = False
        self._done = False

    def open(self) -> "BlockingBody":
        if self._opened:
            raise RuntimeError("the request body stream has already been read")
        self._opened = True
        return self

    def __iter__(self) -> Any:
        session, task_id = self._session, self._task_id
        while not self._done:
            try:
                msg = session.next_body_frame(task_id)
            except ClientDisconnect:
                self._done = True
                raise
            if type(msg) is BodyChunk:
                data = msg.data
                if data:
                    session.conn.send(encode_window_update(task_id, len(data)))
                    yield data
            else:  # BodyEnd
                self._done = True
                if msg.flags & BODY_INCOMPLETE:
                    raise ClientDisconnect("the client went away before sending the whole body")

    def __aiter__(self) -> Any:
        return self._chunks()

    async def _chunks(self) -> Any:
        for chunk in self:
            yield chunk


def _stepper(content: Any, task_id: int, where: str) -> Any:
    """(next item, close) for an iterable or an async iterable driven without a running loop."""
    if not hasattr(content, "__aiter__"):
        iterator = iter(content)

        def close() -> None:
            try:
                closer = getattr(iterator, "close", None)
                if closer is not None:
                    closer()  # runs the generator's finally blocks
            except Exception as exc:
                report_stream_failure(task_id, exc, where)

        return iterator.__next__, close

    import asyncio  # only for an async iterable in a synchronous app

    loop = asyncio.new_event_loop()
    aiterator = content.__aiter__()

    def step() -> Any:
        return loop.run_until_complete(aiterator.__anext__())

    def aclose() -> None:
        try:
            closer = getattr(aiterator, "aclose", None)
            if closer is not None:
                loop.run_until_complete(closer())
        except Exception as exc:
            report_stream_failure(task_id, exc, where)
        finally:
            loop.close()

    return step, aclose
