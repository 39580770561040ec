"""The serving loop of a worker that runs a synchronous app on a pool of threads: a WSGI app
given ``--worker-concurrency N`` above 1, as gunicorn's gthread worker.

One thread reads the socket; N threads run the tasks, each task on ONE thread from the app's call
to its last chunk (an app keeps per-request state in thread locals, and a streamed response's
iterable is stepped where it was made). A thread announces TaskStarted as it takes a task, so the
tasks still queued here are the ones the orchestrator may give to another worker if this one dies.
Frames go out whole, under one lock.

A thread cannot be interrupted, so:

- CancelTask for a queued task drops it and answers at once; for a running one (its request
  timed out or its client left; the client has had its answer) it is noted, and the app's own
  result, when it returns, frees the slot. A cancelled stream stops at its next chunk.
- Heartbeats go out only while no thread is inside the app, as in the sequential worker: a worker
  whose threads are stuck falls silent once no other result goes out, and the orchestrator's
  ``--worker-timeout`` replaces it. The requests it had started get a 504, those still queued in
  it go to another worker.
"""

import os
import sys
import threading
import traceback
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional

from .connection import Connection
from .protocol import (
    BODY_INCOMPLETE,
    HANDLER_FAILED,
    BodyChunk,
    BodyEnd,
    INITIAL_WINDOW,
    CancelTask,
    DiscoverRoutes,
    ProtocolError,
    Shutdown,
    TaskAssignment,
    WindowUpdate,
    encode_body_end,
    encode_response_head,
    encode_task_started,
)
from .streams import pieces, report_stream_failure, request_label

_CANCELLED = (504, HANDLER_FAILED, [], b'{"error": "Gateway Timeout", "detail": "the task was cancelled"}')


class _Task:
    __slots__ = ("msg", "started", "cancelled", "window")

    def __init__(self, msg: TaskAssignment) -> None:
        self.msg = msg
        self.started = False
        self.cancelled = False
        self.window = INITIAL_WINDOW  # the streamed response's, once it streams


class _Stop(Exception):
    pass


class ThreadPoolWorker:
    """``execute(task, body) -> Result | Stream`` (body always None: bodies come whole) run on
    ``threads`` threads; ``serve()`` returns the exit status."""

    def __init__(self, conn: Connection, execute: Callable[[TaskAssignment, Any], Any],
                 registry: Callable[[], bytes], threads: int, heartbeat: Optional[bytes] = None,
                 interval: Optional[float] = None, worker_id: str = "") -> None:
        self._conn = conn
        self._execute = execute
        self._registry = registry
        self._threads = threads
        self._heartbeat = heartbeat
        self._interval = interval
        self._worker_id = worker_id
        self._lock = threading.Lock()  # the tasks, the queue, windows and cancels
        self._work = threading.Condition(self._lock)  # a task was queued
        self._credit = threading.Condition(self._lock)  # a window grew, or a stream was cancelled
        self._write = threading.Lock()  # one frame at a time on the socket
        self._tasks: Dict[int, _Task] = {}  # assigned and not yet answered
        self._queue: Deque[_Task] = deque()  # at most `threads` long: the orchestrator's limit
        self._in_app: List[bool] = [False] * threads  # per thread: inside the app's code now
        self._stopping = False  # a graceful Shutdown came
        self._done = threading.Event()
        self._code = 0

    @property
    def busy(self) -> bool:
        return any(self._in_app)

    def serve(self) -> int:
        for index in range(self._threads):
            threading.Thread(target=self._run, args=(index,), name=f"neutrino-wsgi-{index}",
                             daemon=True).start()
        if self._heartbeat and self._interval:
            threading.Thread(target=self._beat, name="neutrino-heartbeat", daemon=True).start()
        threading.Thread(target=self._read, name="neutrino-reader", daemon=True).start()
        self._done.wait()
        return self._code

    def _finish(self, code: int) -> None:
        if not self._done.is_set():
            self._code = code
            self._done.set()

    # ----------------------------------------------------------------------------- reading

    def _read(self) -> None:
        try:
            while not self._done.is_set():
                msg = self._conn.read_message()
                if msg is None:
                    return self._finish(0)  # the orchestrator closed the socket or died
                self._handle(msg)
        except ProtocolError as exc:
            sys.stderr.write(
                f"neutrino worker {self._worker_id}: protocol error ({exc.kind}): {exc}\n")
            self._finish(2)
        except OSError:
            self._finish(0)
        except BaseException:  # a failure of ours: say so and exit, rather than hang unread
            sys.stderr.write(f"neutrino worker {self._worker_id}: the reader failed\n")
            traceback.print_exc()
            self._finish(1)

    def _handle(self, msg: Any) -> None:
        kind = type(msg)
        if kind is TaskAssignment:
            msg.body = bytes(msg.body)  # a view into the receive buffer, which the next read reuses
            task = _Task(msg)
            with self._lock:
                if self._stopping:
                    raise ProtocolError("malformed", f"task {msg.task_id} assigned after Shutdown")
                if msg.task_id in self._tasks:
                    raise ProtocolError("malformed", f"task {msg.task_id} is already in flight")
                self._tasks[msg.task_id] = task
                self._queue.append(task)
                self._work.notify()
        elif kind is WindowUpdate or kind is CancelTask:
            with self._lock:
                task = self._tasks.get(msg.task_id)
                if task is None:
                    return  # over already: they crossed on the wire
                if kind is WindowUpdate:
                    task.window += msg.increment
                    self._credit.notify_all()
                    return
                task.cancelled = True
                queued = not task.started
                if queued:
                    self._queue.remove(task)
                    del self._tasks[msg.task_id]
                else:
                    self._credit.notify_all()  # a stream waiting for its window stops
            if queued:
                self._send_result(msg.task_id, _CANCELLED)
                self._idle_check()
        elif kind is DiscoverRoutes:
            self._send(self._registry())
        elif kind is Shutdown:
            if not msg.graceful:
                return self._finish(0)
            with self._lock:
                self._stopping = True
            self._idle_check()
        elif kind is BodyChunk or kind is BodyEnd:
            pass  # bodies come whole here: frames for a task already answered
        else:
            raise ProtocolError("malformed", f"unexpected {kind.__name__} from the orchestrator")

    def _idle_check(self) -> None:
        with self._lock:
            idle = self._stopping and not self._tasks
        if idle:
            self._finish(0)

    # ----------------------------------------------------------------------------- running

    def _run(self, index: int) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._work.wait()
                task = self._queue.popleft()
                task.started = True
            task_id = task.msg.task_id
            try:
                self._send(encode_task_started(task_id))
                self._in_app[index] = True
                try:
                    outcome = self._execute(task.msg, None)
                finally:
                    self._in_app[index] = False
                if type(outcome) is tuple:
                    self._send_result(task_id, outcome, task.msg)
                else:
                    self._stream(index, task, outcome)
            except OSError:
                return self._finish(0)  # the orchestrator is gone
            except BaseException as exc:  # SystemExit from the app, or a failure of ours
                sys.stderr.write(f"neutrino worker {self._worker_id}: {request_label(task.msg)}: "
                                 f"{exc!r} stops the worker\n")
                traceback.print_exc()
                sys.stderr.flush()
                return self._finish(1)
            with self._lock:
                del self._tasks[task_id]
            self._idle_check()

    def _stream(self, index: int, task: _Task, stream: Any) -> None:
        """ResponseHead, a BodyChunk per piece under the window, then BodyEnd: bit 0 when the
        content raised (traceback logged) or the task was cancelled (content closed first)."""
        task_id = task.msg.task_id
        where = request_label(task.msg)
        self._send(encode_response_head(task_id, stream.status, stream.flags, stream.headers))
        iterator = iter(stream.content)
        flags = BODY_INCOMPLETE
        try:
            while not task.cancelled:
                self._in_app[index] = True
                try:
                    item = next(iterator)
                except StopIteration:
                    flags = 0
                    break
                finally:
                    self._in_app[index] = False
                for piece in pieces(item):
                    with self._lock:
                        while task.window <= 0 and not task.cancelled:
                            self._credit.wait()
                        if task.cancelled:
                            raise _Stop()
                        task.window -= len(piece)
                    with self._write:
                        self._conn.send_chunk(task_id, piece)
        except _Stop:
            pass  # the client left, or the stream stalled past --timeout
        except OSError:
            raise
        except Exception as exc:  # the app's content failed: the head is out, cut it short
            report_stream_failure(task_id, exc, where)
        close = getattr(iterator, "close", None)
        if close is not None:
            self._in_app[index] = True
            try:
                close()  # PEP 3333: always; runs the app's finally blocks
            except Exception as exc:
                report_stream_failure(task_id, exc, where)
            finally:
                self._in_app[index] = False
        self._send(encode_body_end(task_id, flags))

    # ----------------------------------------------------------------------------- writing

    def _send(self, frame: bytes) -> None:
        with self._write:
            self._conn.send(frame)

    def _send_result(self, task_id: int, result: Any, task: Any = None) -> None:
        status, flags, headers, body = result
        with self._write:
            self._conn.send_result(task_id, status, flags, headers, body, task)

    def _beat(self) -> None:
        """While no thread is inside the app: see the module's docstring."""
        assert self._interval is not None and self._heartbeat is not None
        while not self._done.wait(self._interval):
            if not self.busy:
                try:
                    self._send(self._heartbeat)
                except OSError:
                    return self._finish(0)


def serve_threads(conn: Connection, execute: Callable[[TaskAssignment, Any], Any],
                  registry: Callable[[], bytes], threads: int, heartbeat: Optional[bytes],
                  interval: Optional[float], worker_id: str = "") -> int:
    """Serves until Shutdown, end of stream or a protocol error; returns the exit status, or
    exits at once (os._exit) when threads are still inside the app: they cannot be stopped, and
    must not delay the exit (a Shutdown without grace, or the orchestrator gone)."""
    worker = ThreadPoolWorker(conn, execute, registry, threads, heartbeat, interval, worker_id)
    code = worker.serve()
    if worker.busy:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
