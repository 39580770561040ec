"""The serving loop of a worker whose app has ``async def`` handlers or middleware.

Such a worker announces NEUTRINO_WORKER_CONCURRENCY (default 64) in WorkerReady and runs an
asyncio event loop: each async task is an asyncio Task, and results go back in any order. An app
with no async route never comes here: main's blocking loop serves it, at a fraction of the cost.

Synchronous handlers of a mixed app run on ONE dedicated thread, one at a time (SyncThread).

Streams (docs/protocol.md, "Streams") run on the loop too: a streamed response is sent by a task
of its own (an async iterable on the loop, a sync one a next() at a time on the sync thread), a
streamed request body is a BodyStream, a WebSocket a SocketChannel; each counts as a task in
flight until the frame that ends it goes out.
"""

import asyncio
import functools
import os
import queue
import socket
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

from ...streaming import ClientDisconnect
from ...websocket import WebSocket, WebSocketDisconnect
from .bodies import BodyStream, body_follows
from .concurrency import CONCURRENCY_ENV, DEFAULT_CONCURRENCY, concurrency_from_env  # noqa: F401
from .executor import (
    BIND,
    Outcome,
    Result,
    RouteEntry,
    report_failure,
    error_result,
    execute,
    execute_async,
    failure_result,
    find_route,
)
from .protocol import (
    BODY_INCOMPLETE,
    CANCEL_CLIENT_GONE,
    DEFAULT_MAX_FRAME,
    HANDLER_FAILED,
    BodyChunk,
    BodyEnd,
    CancelTask,
    DiscoverRoutes,
    FrameDecoder,
    ProtocolError,
    Shutdown,
    TaskAssignment,
    WebSocketClose,
    WebSocketMessage,
    WindowUpdate,
    encode_body_chunk_head,
    encode_body_end,
    encode_response_head,
    encode_task_result_head,
    encode_task_started,
    encode_window_update,
)
from .sockets import Credit, SocketChannel, choose_subprotocol, is_upgrade, valid_close_code
from .streams import (Stream, header_too_large, pieces, report_stream_failure, request_label,
                      too_large)

_CANCELLED_BODY = b'{"error": "Gateway Timeout", "detail": "the task was cancelled"}'


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
                 heartbeat: Optional[bytes], interval: Optional[float], worker_id: str = "",
                 foreign: Any = None) -> None:
        self._worker_id = worker_id
        # An ASGI app's adapter: every task goes to ``await foreign.execute_async(task, body,
        # socket)`` (body: a BodyStream for a route listed "stream_body"; socket: a SocketChannel
        # for a handshake to one listed "websocket"), which gives a Result or a Stream, or None
        # once the socket it accepted is closed.
        self._foreign = foreign
        self._foreign_bodies: Any = frozenset()
        self._foreign_large_bodies: Any = frozenset()
        self._foreign_sockets: Any = frozenset()
        if foreign is not None:
            routes = foreign.registry()
            self._foreign_bodies = {r["path"] for r in routes if r.get("stream_body")}
            self._foreign_large_bodies = {r["path"] for r in routes if r.get("stream_large_body")}
            self._foreign_sockets = {r["path"] for r in routes if r.get("websocket")}
        self._loop = loop
        self._table = table
        self._registry = registry
        self._runner = runner
        self._execute_sync = functools.partial(execute, table)
        self._decoder = FrameDecoder()
        self._transport: Any = None
        # task_id -> its asyncio Task or its SyncThread job, until answered (its stream's Task
        # once it streams).
        self._inflight: Dict[int, Any] = {}
        self._credits: Dict[int, Credit] = {}  # streamed responses and WebSockets: out windows
        self._bodies: Dict[int, BodyStream] = {}  # streamed request bodies
        self._sockets: Dict[int, SocketChannel] = {}  # WebSockets
        self._paused: "Optional[asyncio.Future[None]]" = None  # the socket's buffer is full
        self._out: List[bytes] = []  # frames for the next loop turn's one write (_queue)
        self._flush_scheduled = False  # a _flush_soon is on the loop's ready queue
        self._started = False  # this read started tasks (data_received)
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
            return
        if self._started:
            # The TaskStarted frames of this read go out now, before any of its tasks takes its
            # first step (steps run after this callback). The results of those that finish in
            # that step go out in one write once they all have run, in this same loop turn.
            self._started = False
            self._flush()
            self._flush_later()

    def eof_received(self) -> bool:
        self._finish(0)  # the orchestrator closed the socket or died
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._finish(0)
        self._resume()

    def pause_writing(self) -> None:
        if self._paused is None:
            self._paused = self._loop.create_future()

    def resume_writing(self) -> None:
        self._resume()

    def _resume(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)

    async def _drained(self) -> None:
        """Streams wait here while the socket's buffer is over its high-water mark."""
        while self._paused is not None and not self.exit_code.done():
            await asyncio.shield(self._paused)

    # messages ---------------------------------------------------------------------------------

    def _handle(self, msg: Any) -> None:
        kind = type(msg)
        if kind is TaskAssignment:
            self._start(msg)
        elif kind is DiscoverRoutes:
            self._write_now(self._registry())
        elif kind is WindowUpdate:
            credit = self._credits.get(msg.task_id)
            if credit is not None:  # else the stream is over: they crossed on the wire
                credit.grant(msg.increment)
        elif kind is BodyChunk:
            body = self._bodies.get(msg.task_id)
            if body is not None:
                body.feed(msg.data)
        elif kind is BodyEnd:
            body = self._bodies.get(msg.task_id)
            if body is not None:
                body.end(not msg.flags & BODY_INCOMPLETE)
        elif kind is WebSocketMessage:
            channel = self._sockets.get(msg.task_id)
            if channel is not None:
                channel.message(msg.binary, msg.data)
        elif kind is WebSocketClose:
            channel = self._sockets.get(msg.task_id)
            if channel is not None:
                channel.peer_close(msg.code, msg.reason)
        elif kind is CancelTask:
            self._cancel(msg.task_id, msg.flags & CANCEL_CLIENT_GONE != 0)
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
        if self._foreign is not None:
            self._start_foreign(task)
            return
        found = find_route(self._table, task)
        if type(found) is tuple:  # 404 or 405: answered at once
            self._send(task_id, found)
            return
        body = None
        if found.stream_body:
            body = BodyStream(self._loop, functools.partial(self._grant, task_id))
            self._bodies[task_id] = body
        if found.websocket:
            handle = future = self._loop.create_task(self._run_websocket(task_id, found, task))
        elif found.in_thread:
            # When the thread will start it is not known here: said started now, so that it is
            # never run twice (TaskStarted).
            self._write_now(encode_task_started(task_id))
            run = self._execute_sync if body is None else functools.partial(
                execute, self._table, body=body)
            job = self._runner.submit(run, task)
            handle = job
            future = job.future
        else:
            # TaskStarted before the handler runs: if a handler then blocks the loop and the
            # worker is declared hung, the tasks it never started can go to another worker.
            self._say_started(task_id)
            handle = future = self._loop.create_task(execute_async(self._table, task, body))
        self._inflight[task_id] = handle
        future.add_done_callback(functools.partial(self._done, task, handle))

    def _done(self, assignment: TaskAssignment, handle: Any, future: "asyncio.Future[Any]"
              ) -> None:
        task_id = assignment.task_id
        if self._inflight.get(task_id) is not handle:
            return  # cancelled, and already answered
        if future.cancelled():
            outcome: Any = (504, HANDLER_FAILED, [], _CANCELLED_BODY)
        elif future.exception() is not None:
            detail = f"the worker failed: {future.exception()!r}"
            outcome = error_result(500, detail, HANDLER_FAILED)
        else:
            outcome = future.result()
        if type(outcome) is Stream:
            outcome.where = request_label(assignment)
            self._start_stream(task_id, outcome)
            return
        self._end(task_id)
        if outcome is not None:  # None: a WebSocket, ended by its own WebSocketClose
            self._send(task_id, outcome, assignment)
        if self._shutting_down:
            self._exit_when_idle()

    def _end(self, task_id: int) -> None:
        """The task is over for the orchestrator: forget it."""
        self._inflight.pop(task_id, None)
        if self._credits or self._bodies:  # the common task streams nothing: skip the rest
            self._credits.pop(task_id, None)
            self._bodies.pop(task_id, None)
            self._sockets.pop(task_id, None)

    def _grant(self, task_id: int, increment: int) -> None:
        """The handler has read that much of the task's request body: let more come."""
        if task_id in self._bodies and not self.exit_code.done():
            self._write_now(encode_window_update(task_id, increment))

    # streamed responses -----------------------------------------------------------------------

    def _start_stream(self, task_id: int, stream: Stream) -> None:
        self._write_now(encode_response_head(task_id, stream.status, stream.flags,
                                             stream.headers))
        credit = self._credits[task_id] = Credit(self._loop)
        ended: List[bool] = []
        task = self._loop.create_task(self._stream(task_id, stream, credit, ended))
        self._inflight[task_id] = task
        task.add_done_callback(functools.partial(self._stream_done, task_id, task, ended))

    async def _stream(self, task_id: int, stream: Stream, credit: Credit, ended: List[bool]
                      ) -> None:
        """BodyChunk frames under the window, then BodyEnd: bit 0 when the content raised
        (traceback logged) or the task was cancelled (the content is closed first, so the
        handler's finally blocks run)."""
        flags = BODY_INCOMPLETE
        is_async = stream.is_async
        iterator = stream.content.__aiter__() if is_async else iter(stream.content)
        write = self._transport.writelines  # after the head, which flushed what was queued
        try:
            while True:
                if is_async:
                    try:
                        item = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                else:
                    item = await self._runner.offload(_next_item, iterator)
                    if item is _EXHAUSTED:
                        break
                for piece in pieces(item):
                    if credit.window <= 0:
                        await credit.wait()
                    if self._paused is not None:
                        await self._drained()
                    write((encode_body_chunk_head(task_id, len(piece)), piece))
                    credit.window -= len(piece)
            flags = 0
        except (asyncio.CancelledError, ClientDisconnect):
            pass  # CancelTask: the client left, or the stream stalled past --timeout
        except Exception as exc:
            report_stream_failure(task_id, exc, stream.where)
        await self._close_content(task_id, iterator, is_async, stream.where)
        ended.append(True)
        self._write_now(encode_body_end(task_id, flags))

    async def _close_content(self, task_id: int, iterator: Any, is_async: bool, where: str
                             ) -> None:
        try:
            if is_async:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
            elif getattr(iterator, "close", None) is not None:
                # On the sync thread, after a next() that may still be running there.
                await self._runner.offload(_close, iterator)
        except Exception as exc:  # a finally block that raised
            report_stream_failure(task_id, exc, where)

    def _stream_done(self, task_id: int, task: Any, ended: List[bool], _: Any) -> None:
        if not ended and not self.exit_code.done():
            # Cancelled before it ran, or a failure of ours: the stream still has to end.
            self._write_now(encode_body_end(task_id, BODY_INCOMPLETE))
        if self._inflight.get(task_id) is task:
            self._end(task_id)
        if self._shutting_down:
            self._exit_when_idle()

    # WebSockets -------------------------------------------------------------------------------

    async def _run_websocket(self, task_id: int, entry: RouteEntry, task: TaskAssignment
                             ) -> Optional[Result]:
        """Accepts, runs the handler, and closes: 1000 when it returns (or the peer closed),
        1011 when it raises (traceback logged), 1001 when the task is cancelled."""
        self._write_now(encode_task_started(task_id))
        channel = self._channel(task_id)
        subprotocol = choose_subprotocol(entry.route.subprotocols, task.headers)
        client = (task.client_host, task.client_port) if task.client_host else None
        ws = WebSocket(channel, subprotocol or None, method=task.method, path=task.path,
                       query=task.query, headers=task.headers, client=client,
                       request_id=task.request_id, path_params=dict(task.params),
                       route=entry.path)
        try:
            args, kwargs = entry.binder.bind(task.query, task.params, b"", ws)
        except Exception as exc:  # the handshake is refused with the 422 (or 400)
            return failure_result(exc, BIND, entry.name, task.method, task.path)
        channel.accept(subprotocol)
        code = 1000
        try:
            await entry.handler(*args, **kwargs)
            if channel.peer_closed is not None and valid_close_code(channel.peer_closed[0]):
                code = channel.peer_closed[0]
        except WebSocketDisconnect:
            pass
        except asyncio.CancelledError:
            code = 1001
        except Exception as exc:
            report_failure(f"websocket handler {entry.name!r}", task.method, task.path,
                           task.request_id, exc)
            code = 1011
        channel.end(code)
        return None

    def _channel(self, task_id: int) -> SocketChannel:
        return SocketChannel(self._loop, task_id, self._write, self._drained,
                             self._socket_accepted, self._socket_closed)

    def _socket_accepted(self, task_id: int, channel: SocketChannel) -> None:
        self._sockets[task_id] = channel
        self._credits[task_id] = channel.credit

    # foreign (ASGI) apps ----------------------------------------------------------------------

    def _start_foreign(self, task: TaskAssignment) -> None:
        task_id = task.task_id
        body = channel = None
        if task.route in self._foreign_bodies or (
                task.route in self._foreign_large_bodies and body_follows(task)):
            body = self._bodies[task_id] = BodyStream(self._loop,
                                                      functools.partial(self._grant, task_id))
        if task.route in self._foreign_sockets and is_upgrade(task.headers):
            channel = self._channel(task_id)
        if channel is None:  # plain HTTP, the hot path: the app's exchange is the handle
            self._say_started(task_id)
            try:
                self._inflight[task_id] = self._foreign.start(task, body, self._foreign_done,
                                                              self._loop)
                return
            except Exception as exc:  # answered as a failed task, as one raised in a task is
                handle = self._loop.create_future()
                handle.set_exception(exc)
        else:
            handle = self._loop.create_task(self._run_foreign(task_id, task, body, channel))
        self._inflight[task_id] = handle
        handle.add_done_callback(functools.partial(self._done, task, handle))

    def _foreign_done(self, exchange: Any) -> None:
        """An ASGI exchange's outcome is settled (called from within the app's send)."""
        self._done(exchange.assignment, exchange, exchange.outcome)

    async def _run_foreign(self, task_id: int, task: TaskAssignment, body: Any,
                           channel: Optional[SocketChannel]) -> Outcome:
        self._write_now(encode_task_started(task_id))
        try:
            outcome = await self._foreign.execute_async(task, body, channel)
        except asyncio.CancelledError:
            if channel is None or not channel.accepted:
                raise
            channel.end(1001)
            return None
        except Exception as exc:
            if channel is None or not channel.accepted:
                raise
            report_stream_failure(task_id, exc, request_label(task))
            channel.end(1011)
            return None
        if channel is not None and channel.accepted:
            channel.end(1000)  # once: a no-op if the app closed it
            return None
        return outcome

    def _write(self, data: Any) -> None:
        if self.exit_code.done():
            return
        self._flush()
        if type(data) is tuple:
            self._transport.writelines(data)
        else:
            self._transport.write(data)

    def _socket_closed(self, task_id: int) -> None:
        """Our WebSocketClose went out: the task is over, whether or not the handler returned."""
        self._end(task_id)
        if self._shutting_down:
            self._exit_when_idle()

    def _cancel(self, task_id: int, client_gone: bool) -> None:
        """CancelTask: the request timed out or its client left. Its TaskResult (discarded by the
        orchestrator) frees the slot: at once for an async task, which stops at its next await,
        and for a sync one still queued; a sync handler already running cannot be interrupted, so
        its slot is freed by its own result when it returns."""
        handle = self._inflight.get(task_id)
        if handle is None:
            return  # it finished while the CancelTask was on its way
        if task_id in self._credits:
            handle.cancel()  # streaming, or a WebSocket: it ends itself (BodyEnd, WebSocketClose)
            return
        body = self._bodies.get(task_id)
        client_left = getattr(handle, "client_left", None) if client_gone else None
        if client_left is not None:
            # An ASGI app's exchange: the app runs on, as under uvicorn. receive() says
            # http.disconnect and send() raises, so it ends itself, and its result frees the
            # slot; if it does not end, the orchestrator cancels it for good at its --timeout.
            if body is not None:
                body.disconnect()
            client_left()
            return
        if body is not None and body.disconnect():
            return  # ClientDisconnect where the handler waits for the body; its result follows
        if isinstance(handle, _Job):
            if not self._runner.try_cancel(handle):
                return
            handle.future.cancel()
        else:
            handle.cancel()
        self._end(task_id)
        self._send(task_id, (504, HANDLER_FAILED, [], _CANCELLED_BODY))
        if self._shutting_down:
            self._exit_when_idle()

    # output -----------------------------------------------------------------------------------

    def _queue(self, *frames: Any) -> None:
        """TaskStarted and TaskResult frames: gathered into one write per loop turn, not one or
        two syscalls per task. A TaskStarted still goes out before its handler runs: the read
        that started the task flushes them (data_received)."""
        self._out.extend(frames)
        if not self._flush_scheduled:
            self._flush_later()

    def _say_started(self, task_id: int) -> None:
        """TaskStarted, written at the end of the read that brought the task, before its first
        step runs (data_received)."""
        self._out.append(encode_task_started(task_id))
        self._started = True

    def _flush_later(self) -> None:
        self._flush_scheduled = True
        self._loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        out = self._out
        if out:
            self._out = []
            self._transport.writelines(out)

    def _write_now(self, data: bytes) -> None:
        """Any other frame: after what is queued, so that a task's frames keep their order."""
        if self._out:
            self._flush()
        self._transport.write(data)

    def _send(self, task_id: int, result: Result, task: Optional[TaskAssignment] = None) -> None:
        """``task``: the assignment, for the log should the result not fit the protocol."""
        status, flags, headers, body = result
        try:
            head = encode_task_result_head(task_id, status, flags, headers, len(body))
        except ValueError:  # a header too long for the protocol
            status, flags, headers, body = header_too_large(task_id, headers, task)
            head = encode_task_result_head(task_id, status, flags, headers, len(body))
        if len(head) - 4 + len(body) > DEFAULT_MAX_FRAME:
            # The orchestrator would refuse the frame, and the worker with it: say what to do.
            status, flags, headers, body = too_large(task_id, len(head) - 4 + len(body), task)
            head = encode_task_result_head(task_id, status, flags, headers, len(body))
        self._queue(head, body)

    def _beat(self) -> None:
        """Heartbeats come from the loop, so they stop when a handler blocks it, which is what
        --worker-timeout detects. They also pause while a sync handler runs on the sync thread:
        the worker timeout bounds sync handlers here as in a worker without async routes."""
        if self.exit_code.done():
            return
        if not self._runner.busy:
            self._write_now(self._heartbeat)
        self._loop.call_later(self._interval, self._beat)

    def _exit_when_idle(self) -> None:
        if not self._inflight:
            self._finish(0)

    def _finish(self, code: int) -> None:
        if not self.exit_code.done():
            self.exit_code.set_result(code)

    @property
    def stopping(self) -> bool:
        """A graceful Shutdown came: the worker stops once idle, letting what runs finish."""
        return self._shutting_down

    @property
    def busy(self) -> bool:
        return bool(self._inflight) or self._runner.busy


_EXHAUSTED = object()


def _next_item(iterator: Any) -> Any:
    """next() on the sync thread: a sync generator's code may block."""
    return next(iterator, _EXHAUSTED)


def _close(iterator: Any) -> None:
    iterator.close()


def serve_async(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                table: Dict[str, RouteEntry], registry: Callable[[], bytes], runner: SyncThread,
                heartbeat: Optional[bytes], interval: Optional[float], worker_id: str = "",
                foreign: Any = None) -> int:
    """Serves until Shutdown, end of stream or a protocol error; returns the exit status.

    The caller must exit without waiting when ``worker.busy`` is still true (a Shutdown that is
    not graceful): see main.
    """
    asyncio.set_event_loop(loop)
    worker = AsyncWorker(loop, table, registry, runner, heartbeat, interval, worker_id, foreign)

    async def run() -> int:
        await loop.create_unix_connection(lambda: worker, sock=sock)
        code = await worker.exit_code
        if foreign is not None:
            if worker.stopping:
                await foreign.drain()  # an ASGI app's background tasks, before its shutdown
            await foreign.shutdown()  # an ASGI app's lifespan shutdown (bounded by the adapter)
        return code

    try:
        code = loop.run_until_complete(run())
    finally:
        if worker._transport is not None:
            worker._flush()
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
