"""The worker process the orchestrator starts, one per socket (docs/protocol.md, "Connection").

    python -m neutrino.internal.worker.main <socket_path> <worker_id> <app_path>

The per-run secret arrives on standard input; NEUTRINO_HEARTBEAT_INTERVAL (seconds), when set,
asks for a Heartbeat at least that often while the worker waits for work.

An app without ``async def`` routes or middleware is served by a blocking loop, one task at a
time (concurrency 1 in WorkerReady): the fast path. Otherwise async_worker serves it with an
asyncio loop and NEUTRINO_WORKER_CONCURRENCY tasks in flight (default 64). A WSGI app runs one
request at a time too, unless NEUTRINO_WORKER_CONCURRENCY asks for more: then thread_pool serves
it on that many threads.

Exit status: 0 after Shutdown or when the orchestrator goes away, 1 when the app cannot be
loaded (after sending StartupError) or the socket cannot be reached, 2 on a protocol error.
"""

import gc
import math
import os
import signal
import socket
import sys
from typing import Any, Callable, Dict, List, Optional, Set

from ...app import App
from ...errors import RouteError
from .app_loader import StartupFailure, load_app
from .connection import Connection
from .executor import RouteEntry, build_route_table, execute
from .streams import request_label
from .sync_streams import Session, WorkerExit
from .protocol import (
    BodyChunk,
    BodyEnd,
    CancelTask,
    DiscoverRoutes,
    ProtocolError,
    Shutdown,
    TaskAssignment,
    WindowUpdate,
    encode_heartbeat,
    encode_hello,
    encode_route_registry,
    encode_startup_error,
    encode_worker_ready,
)

# This worker runs its one task to the end before it reads again, so these are for a task it has
# already answered: a CancelTask, a window or a request body's rest that crossed its end.
_LATE_FRAMES = (CancelTask, WindowUpdate, BodyChunk, BodyEnd)

_USAGE = "usage: python -m neutrino.internal.worker.main <socket_path> <worker_id> <app_path>\n"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


#: Seconds a thread holding the GIL keeps it while another waits for it (Python's default is
#: 0.005). Measured in docs/benchmarks.md ("The GIL's switch interval").
SWITCH_INTERVAL = 0.0005


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write(_USAGE)
        return 2
    socket_path, worker_id, app_path = args
    # Ctrl-C in a terminal reaches the whole process group; the orchestrator drains the
    # workers and then sends Shutdown, so the worker must not die on SIGINT first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    secret = _read_secret()
    interval = _heartbeat_interval(worker_id)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
    except OSError as exc:
        sys.stderr.write(f"neutrino worker {worker_id}: cannot connect to {socket_path}: {exc}\n")
        return 1
    conn = Connection(sock)
    try:
        # Hello before the app is imported, which may take seconds: the orchestrator can then
        # authenticate this connection, and close its socket file to everyone else, at once.
        conn.send(encode_hello(worker_id, secret))
        # A quick request on an event loop that shares the GIL with a busy handler thread (an
        # ASGI app's `def` endpoints, sync routes beside async ones, WSGI threads) waits for it
        # one switch interval at a time, several times per request: 5 ms each by default.
        # Before the app is imported, so that an app that sets its own keeps it.
        sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            app = load_app(app_path)
        except StartupFailure as failure:
            _send_startup_error(conn, worker_id, failure)
            return 1
        # An app that is not an App (an ASGI or WSGI app) comes with its adapter: see Foreign.
        foreign = None if isinstance(app, App) else app
        loop = runner = None
        concurrency = 1
        if foreign is not None and foreign.kind == "wsgi":
            from .concurrency import concurrency_from_env

            # Threads only when asked for: by default one request per worker, as gunicorn's sync.
            concurrency = concurrency_from_env(worker_id, default=1)
            foreign.multithread = concurrency > 1
        elif app.is_async:
            # Imported only here: an app without async routes never pays for asyncio.
            import asyncio

            from .async_worker import SyncThread
            from .concurrency import concurrency_from_env

            new_loop = getattr(foreign, "new_event_loop", None) or asyncio.new_event_loop
            loop = new_loop()
            runner = SyncThread(loop)
            concurrency = concurrency_from_env(worker_id)
        if foreign is None:
            try:
                table = build_route_table(app, runner.offload if runner else None)
            except RouteError as exc:
                _send_startup_error(conn, worker_id, StartupFailure("invalid_route", str(exc)))
                return 1
            registry: Callable[[], bytes] = _Registry(app, table, concurrency > 1)
            streamed = {path for path, entry in table.items() if entry.stream_body}
        else:
            table = {}
            routes = foreign.registry()
            frame = encode_route_registry(routes)
            registry = lambda: frame  # noqa: E731
            streamed = {r["path"] for r in routes if r.get("stream_body")}
            if loop is not None:
                try:
                    loop.run_until_complete(foreign.startup())
                except StartupFailure as failure:
                    _send_startup_error(conn, worker_id, failure)
                    return 1
        conn.send(encode_worker_ready(worker_id, os.getpid(), "python", concurrency))
        # Objects alive now (the app, its imports) live as long as the process: keep the
        # collector from walking them again and again while requests are served.
        gc.freeze()
        heartbeat = encode_heartbeat(worker_id)
        if loop is not None:
            from .async_worker import serve_async

            return serve_async(loop, sock, table, registry, runner, heartbeat, interval,
                               worker_id, foreign)
        if concurrency > 1:  # a WSGI app on threads
            from .thread_pool import serve_threads

            return serve_threads(conn, foreign.execute, registry, concurrency, heartbeat,
                                 interval, worker_id)
        if interval is not None:  # after WorkerReady: a Heartbeat before it would be out of turn
            conn.enable_heartbeat(interval, heartbeat)
        return _serve(conn, table, registry, streamed, foreign)
    except ProtocolError as exc:
        sys.stderr.write(f"neutrino worker {worker_id}: protocol error ({exc.kind}): {exc}\n")
        return 2
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the orchestrator is gone; so is our reason to run
    finally:
        sock.close()


def _send_startup_error(conn: Connection, worker_id: str, failure: StartupFailure) -> None:
    try:
        conn.send(encode_startup_error(failure.kind, failure.message, failure.traceback))
    except OSError:  # nobody to tell: the operator has to read it here
        sys.stderr.write(f"neutrino worker {worker_id}: {failure.message}\n{failure.traceback}")


class _Registry:
    """The RouteRegistry frame, built on the first DiscoverRoutes: only the worker the
    orchestrator asks pays for the OpenAPI operations."""

    def __init__(self, app: Any, table: Dict[str, RouteEntry], concurrent: bool) -> None:
        self._app = app
        self._table = table
        self._concurrent = concurrent
        self._frame: Optional[bytes] = None

    def __call__(self) -> bytes:
        if self._frame is None:
            self._frame = encode_route_registry(
                route_registry(self._table, self._concurrent, sys.stderr))
        return self._frame


def route_registry(table: Dict[str, RouteEntry], concurrent: bool, log: Any = None
                   ) -> List[Dict[str, Any]]:
    """RouteRegistry entries: path, methods, "headers" for routes that read the request,
    "sync" for sync handlers of a worker taking more than one task, "stream_body",
    "websocket", "openapi" (not for a WebSocket route: OpenAPI does not describe them)."""
    from ..openapi import operation

    entries = []
    for entry in table.values():
        item: Dict[str, Any] = {"path": entry.path, "methods": list(entry.route.methods)}
        if entry.headers:
            item["headers"] = True
        if concurrent and entry.sync:
            item["sync"] = True
        if entry.stream_body:
            item["stream_body"] = True
        if entry.websocket:
            item["websocket"] = True
            entries.append(item)
            continue
        try:
            route = entry.route
            item["openapi"] = operation(entry.handler, route.path_params, entry.binder,
                                        entry.name, route.status_code, route.responses,
                                        route.media_type, route.stream_body)
        except Exception as exc:  # never a reason not to serve: the route gets a minimal one
            if log is not None:
                log.write(f"neutrino: no OpenAPI operation for route {entry.path!r}: {exc!r}\n")
        entries.append(item)
    return entries


def _serve(conn: Connection, table: Dict[str, RouteEntry], registry: Callable[[], bytes],
           streamed_bodies: Set[str] = frozenset(), foreign: Any = None) -> int:
    """Serves one task at a time until Shutdown or end of stream. ``streamed_bodies``: the
    routes listed with "stream_body"; ``foreign``: a WSGI app's adapter, which runs every task
    (``execute(task, body) -> Result | Stream``) in place of the route table."""
    session = Session(conn, registry)
    try:
        return _serve_session(session, table, registry, streamed_bodies, foreign)
    except WorkerExit as exit:
        return exit.code


def _serve_session(session: Session, table: Dict[str, RouteEntry],
                   registry: Callable[[], bytes], streamed_bodies: Set[str], foreign: Any
                   ) -> int:
    conn = session.conn
    read_message = conn.read_message
    send_result = conn.send_result
    while True:
        # What a stream read ahead of its time comes first; the hot path is a plain read.
        msg = session.next_message() if session.pending else read_message()
        kind = type(msg)
        if kind is TaskAssignment:
            body = None
            if streamed_bodies and msg.route in streamed_bodies:
                body = session.body(msg.task_id)
            if foreign is None:
                outcome = execute(table, msg, body)
            else:
                outcome = foreign.execute(msg, body)
            if type(outcome) is tuple:
                status, flags, headers, data = outcome
                send_result(msg.task_id, status, flags, headers, data, msg)
            else:
                outcome.where = request_label(msg)
                session.send_stream(msg.task_id, outcome)
            if session.dirty:  # it streamed, or frames were kept for the task ahead
                session.task_done(msg.task_id)
        elif kind in _LATE_FRAMES:
            pass  # for a task already answered: they crossed on the wire
        elif kind is DiscoverRoutes:
            conn.send(registry())
        elif kind is Shutdown:
            # Graceful or not, the same: a synchronous worker has nothing in flight between tasks.
            return 0
        elif msg is None:
            return 0  # end of stream: the orchestrator closed the socket or died
        else:
            raise ProtocolError("malformed", f"unexpected {kind.__name__} from the orchestrator")


def _read_secret() -> str:
    """The per-run secret the orchestrator writes to standard input, then closes.

    Without one (a terminal, an empty or closed stdin) the secret is "": the orchestrator
    refuses that Hello, which is the right end for a worker started by hand.
    """
    try:
        stdin = sys.stdin
        if stdin is None or stdin.isatty():  # a terminal would block until Ctrl-D
            return ""
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
    except (OSError, ValueError):  # fd 0 closed or unreadable
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")  # hex text; anything else will fail the check
    return data.strip()


def _heartbeat_interval(worker_id: str) -> Optional[float]:
    """NEUTRINO_HEARTBEAT_INTERVAL in seconds, or None: no heartbeats."""
    raw = os.environ.get("NEUTRINO_HEARTBEAT_INTERVAL")
    if raw is None or not raw.strip():
        return None
    try:
        interval = float(raw)
    except ValueError:
        interval = math.nan
    if not (0 < interval < math.inf):
        # Say so rather than exit: the worker still serves, and the orchestrator's worker
        # timeout, if any, makes the missing heartbeats visible.
        sys.stderr.write(
            f"neutrino worker {worker_id}: ignoring NEUTRINO_HEARTBEAT_INTERVAL={raw!r}"
            " (not a positive number of seconds)\n"
        )
        return None
    return interval


def _die_with_parent() -> None:
    """Best effort, Linux only: the kernel kills this worker when the orchestrator dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass  # the socket's end of file still stops the worker


if __name__ == "__main__":
    sys.exit(main())
