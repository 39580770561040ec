"""The serving loop of a worker whose app has ``async def`` handlers or middleware.

Such a worker announces NEUTRINO_WORKER_CONCURRENCY (default 64) in WorkerReady and runs an
asyncio event loop: each async task is an asyncio Task, and results go back in any order. An app
with no async route never comes here: main's blocking loop serves it, at a fraction of the cost.

Synchronous handlers of a mixed app run on ONE dedicated thread, one at a time (SyncThread).
"""

import asyncio
import functools
import os
import queue
import socket
import sys
import threading
from typing import Any, Callable, Dict, Optional

from .executor import Result, RouteEntry, error_result, execute, execute_async, find_route
from .protocol import (
    HANDLER_FAILED,
    CancelTask,
    DiscoverRoutes,
    FrameDecoder,
    ProtocolError,
    Shutdown,
    TaskAssignment,
    encode_task_result_head,
    encode_task_started,
)

CONCURRENCY_ENV = "NEUTRINO_WORKER_CONCURRENCY"
DEFAULT_CONCURRENCY = 64

_CANCELLED_BODY = b'{"error": "Gateway Timeout", "detail": "the task was cancelled"}'


def concurrency_from_env(worker_id: str) -> int:
    """NEUTRINO_WORKER_CONCURRENCY (the orchestrator's --worker-concurrency), default 64."""
    raw = os.environ.get(CONCURRENCY_ENV, "").strip()
    if not raw:
        return DEFAULT_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        sys.stderr.write(
            f"neutrino worker {worker_id}: ignoring {CONCURRENCY_ENV}={raw!r} (not a whole number"
            f" of 1 or more); using {DEFAULT_CONCURRENCY}\n"
        )
        return DEFAULT_CONCURRENCY
    return value


class _Job:
    __slots__ = ("fn", "arg", "future", "started", "cancelled")

    def __init__(self, fn: Callable[[Any], Any], arg: Any, future: "asyncio.Future[Any]") -> None:
        self.fn = fn
        self.arg = arg
        self.future = future
        self.started = False
        self.cancelled = False

    def settle(self, value: Any, error: Optional[BaseException]) -> None:  # on the loop
        if self.future.done():  # its awaiter was cancelled meanwhile
            return
        if error is None:
            self.future.set_result(value)
        else:
            self.future.set_exception(error)


class SyncThread:
    """Runs an async worker's synchronous handlers: one thread, one handler at a time, FIFO.

    Why a thread and not inline on the event loop: inline, a sync handler would stop the loop,
    and with it every async request in flight and the heartbeats, for as long as it runs. Why
    one thread and not a pool: sync handlers stay one at a time per worker, as in a worker
    without async routes. Their code may rely on it (module globals, a non-thread-safe client),
    and the orchestrator counts on it when it gives a worker at most one sync task
    (RouteRegistry "sync"). The thread is a daemon: a handler that never returns cannot keep the
    process from exiting on Shutdown.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: "queue.SimpleQueue[Optional[_Job]]" = queue.SimpleQueue()
        self._lock = threading.Lock()  # job.started vs job.cancelled
        self.busy = False  # a handler is running now
        self._thread = threading.Thread(target=self._run, name="neutrino-sync", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> _Job:
        job = _Job(fn, arg, self._loop.create_future())
        self._queue.put(job)
        return job

    def try_cancel(self, job: _Job) -> bool:
        """Drops a job that has not started; False once it runs (it cannot be interrupted)."""
        with self._lock:
            if job.started:
                return False
            job.cancelled = True
            return True

    async def offload(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Awaits fn(arg) run on this thread (a sync handler under async middleware)."""
        job = self.submit(fn, arg)
        try:
            return await job.future
        except asyncio.CancelledError:
            self.try_cancel(job)
            raise

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.cancelled:
                    continue
                job.started = True
            self.busy = True
            value: Any = None
            error: Optional[BaseException] = None
            try:
                value = job.fn(job.arg)
            except BaseException as exc:  # execute() catches the handler's; this is ours
                error = exc
            finally:
                self.busy = False
            try:
                self._loop.call_soon_threadsafe(job.settle, value, error)
            except RuntimeError:  # the loop is closed: the worker is exiting
                return


class AsyncWorker(asyncio.Protocol):
    """The worker's end of the socket: reads tasks, runs them concurrently, writes results."""

    def __init__(self, loop: asyncio.AbstractEventLoop, table: Dict[str, RouteEntry],
                 registry: Callable[[], bytes], runner: SyncThread,
                 heartbeat: Optional[bytes], interval: Optional[float], worker_id: str = "") -> None:
        self._worker_id = worker_id
        self._loop = loop
        self._table = table
        self._registry = registry
        self._runner = runner
        self._execute_sync = functools.partial(execute, table)
        self._decoder = FrameDecoder()
        self._transport: Any = None
        # task_id -> its asyncio Task or its SyncThread job, until answered.
        self._inflight: Dict[int, Any] = {}
        self._shutting_down = False
        self.exit_code: "asyncio.Future[int]" = loop.create_future()
        self._heartbeat = heartbeat
        self._interval = interval

    # asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        if self._heartbeat and self._interval:
            self._loop.call_later(self._interval, self._beat)

    def data_received(self, data: bytes) -> None:
        try:
            for message in self._decoder.feed(data):
                self._handle(message)
        except ProtocolError as exc:
            sys.stderr.write(
                f"neutrino worker {self._worker_id}: protocol error ({exc.kind}): {exc}\n")
            self._finish(2)

    def eof_received(self) -> bool:
        self._finish(0)  # the orchestrator closed the socket or died
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._finish(0)

    # messages ---------------------------------------------------------------------------------

    def _handle(self, msg: Any) -> None:
        kind = type(msg)
        if kind is TaskAssignment:
            self._start(msg)
        elif kind is DiscoverRoutes:
            self._transport.write(self._registry())
        elif kind is CancelTask:
            self._cancel(msg.task_id)
        elif kind is Shutdown:
            if not msg.graceful:
                self._finish(0)
            else:
                self._shutting_down = True
                self._exit_when_idle()
        else:
            raise ProtocolError("malformed", f"unexpected {kind.__name__} from the orchestrator")

    def _start(self, task: TaskAssignment) -> None:
        task_id = task.task_id
        if self._shutting_down:
            raise ProtocolError("malformed", f"task {task_id} assigned after Shutdown")
        if task_id in self._inflight:
            raise ProtocolError("malformed", f"task {task_id} is already in flight")
        found = find_route(self._table, task)
        if type(found) is tuple:  # 404 or 405: answered at once
            self._send(task_id, found)
            return
        if found.in_thread:
            # When the thread will start it is not known here: said started now, so that it is
            # never run twice (TaskStarted).
            self._transport.write(encode_task_started(task_id))
            job = self._runner.submit(self._execute_sync, task)
            handle: Any = job
            future: Any = job.future
        else:
            handle = future = self._loop.create_task(self._run_async(task_id, task))
        self._inflight[task_id] = handle
        future.add_done_callback(functools.partial(self._done, task_id, handle))

    async def _run_async(self, task_id: int, task: TaskAssignment) -> Result:
        # TaskStarted before the handler runs: if a handler then blocks the loop and the worker is
        # declared hung, the tasks it never started can go to another worker.
        self._transport.write(encode_task_started(task_id))
        return await execute_async(self._table, task)

    def _done(self, task_id: int, handle: Any, future: "asyncio.Future[Result]") -> None:
        if self._inflight.get(task_id) is not handle:
            return  # cancelled, and already answered
        del self._inflight[task_id]
        if future.cancelled():
            result: Result = (504, HANDLER_FAILED, [], _CANCELLED_BODY)
        elif future.exception() is not None:
            detail = f"the worker failed: {future.exception()!r}"
            result = error_result(500, detail, HANDLER_FAILED)
        else:
            result = future.result()
        self._send(task_id, result)
        if self._shutting_down:
            self._exit_when_idle()

    def _cancel(self, task_id: int) -> None:
        """CancelTask: the request timed out. Its TaskResult (discarded by the orchestrator)
        frees the slot: at once for an async task, which stops at its next await, and for a sync
        one still queued; a sync handler already running cannot be interrupted, so its slot is
        freed by its own result when it returns."""
        handle = self._inflight.get(task_id)
        if handle is None:
            return  # it finished while the CancelTask was on its way
        if isinstance(handle, _Job):
            if not self._runner.try_cancel(handle):
                return
            handle.future.cancel()
        else:
            handle.cancel()
        del self._inflight[task_id]
        self._send(task_id, (504, HANDLER_FAILED, [], _CANCELLED_BODY))
        if self._shutting_down:
            self._exit_when_idle()

    # output -----------------------------------------------------------------------------------

    def _send(self, task_id: int, result: Result) -> None:
        status, flags, headers, body = result
        head = encode_task_result_head(task_id, status, flags, headers, len(body))
        self._transport.writelines((head, body))

    def _beat(self) -> None:
        """Heartbeats come from the loop, so they stop when a handler blocks it, which is what
        --worker-timeout detects. They also pause while a sync handler runs on the sync thread:
        the worker timeout bounds sync handlers here as in a worker without async routes."""
        if self.exit_code.done():
            return
        if not self._runner.busy:
            self._transport.write(self._heartbeat)
        self._loop.call_later(self._interval, self._beat)

    def _exit_when_idle(self) -> None:
        if not self._inflight:
            self._finish(0)

    def _finish(self, code: int) -> None:
        if not self.exit_code.done():
            self.exit_code.set_result(code)

    @property
    def busy(self) -> bool:
        return bool(self._inflight) or self._runner.busy


def serve_async(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                table: Dict[str, RouteEntry], registry: Callable[[], bytes], runner: SyncThread,
                heartbeat: Optional[bytes], interval: Optional[float], worker_id: str = "") -> int:
    """Serves until Shutdown, end of stream or a protocol error; returns the exit status.

    The caller must exit without waiting when ``worker.busy`` is still true (a Shutdown that is
    not graceful): see main.
    """
    asyncio.set_event_loop(loop)
    worker = AsyncWorker(loop, table, registry, runner, heartbeat, interval, worker_id)

    async def run() -> int:
        await loop.create_unix_connection(lambda: worker, sock=sock)
        return await worker.exit_code

    try:
        code = loop.run_until_complete(run())
    finally:
        if worker._transport is not None:
            worker._transport.close()
    abandoned = worker.busy
    runner.stop()
    if abandoned:
        # Handlers still running (Shutdown without grace, or the orchestrator gone): exit now,
        # as the protocol asks, rather than wait for them or warn about each pending task.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    loop.close()
    return code
