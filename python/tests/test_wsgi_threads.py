"""A WSGI app on the worker's thread pool (worker/thread_pool.py), driven over a socket pair as
the orchestrator drives it, with hand-written WSGI callables: no framework needed."""

import io
import json
import os
import socket
import sys
import threading
import unittest

from neutrino.internal.worker.connection import Connection
from neutrino.internal.worker.protocol import (
    BODY_INCOMPLETE,
    BodyChunk,
    BodyEnd,
    Heartbeat,
    ResponseHead,
    RouteRegistry,
    TaskResult,
    TaskStarted,
    encode_cancel_task,
    encode_discover_routes,
    encode_heartbeat,
    encode_route_registry,
    encode_shutdown,
    encode_task_assignment,
    encode_window_update,
)
from neutrino.internal.worker.thread_pool import ThreadPoolWorker
from neutrino.internal.wsgi import WsgiAdapter

from .test_worker_main import Worker

WAIT = 10  # seconds: a bound on every wait, so a broken pool fails instead of hanging


class Pool:
    """A ThreadPoolWorker serving ``app`` on one end of a socket pair; the test is the
    orchestrator on the other."""

    def __init__(self, app, threads, interval=None):
        ours, theirs = socket.socketpair()
        ours.settimeout(WAIT)
        self.sock = ours
        self.conn = Connection(ours)
        adapter = WsgiAdapter(app)
        adapter.multithread = threads > 1
        registry = encode_route_registry([{"path": "/*", "methods": ["GET"]}])
        self.worker = ThreadPoolWorker(Connection(theirs), adapter.execute, lambda: registry,
                                       threads, encode_heartbeat("w1"), interval, "w1")
        self.code = None
        self._theirs = theirs
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.code = self.worker.serve()

    def assign(self, task_id, path="/", query=""):
        self.sock.sendall(encode_task_assignment(task_id, "GET", "/*", path, query, [], [],
                                                 f"r{task_id}", "", 0, b""))

    def send(self, frame):
        self.sock.sendall(frame)

    def receive(self, heartbeats=False):
        while True:
            msg = self.conn.read_message()
            for field in ("body", "data"):  # views into the receive buffer: keep them
                if isinstance(getattr(msg, field, None), memoryview):
                    setattr(msg, field, bytes(getattr(msg, field)))
            if heartbeats or not isinstance(msg, Heartbeat):
                return msg

    def results(self, count):
        """The next ``count`` TaskResults by task id, checking each came after its TaskStarted."""
        started, results = set(), {}
        while len(results) < count:
            msg = self.receive()
            if isinstance(msg, TaskStarted):
                started.add(msg.task_id)
            else:
                assert isinstance(msg, TaskResult), msg
                results[msg.task_id] = msg
        return started, results

    def exit_code(self):
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the pool did not exit"
        return self.code

    def close(self):
        self.sock.close()
        self._thread.join(WAIT)
        self._theirs.close()


def body(msg):
    return json.loads(bytes(msg.body))


class ThreadPoolTest(unittest.TestCase):
    def pool(self, app, threads, interval=None):
        pool = Pool(app, threads, interval)
        self.addCleanup(pool.close)
        return pool

    def test_n_requests_run_at_once_on_n_threads(self):
        barrier = threading.Barrier(4, timeout=WAIT)

        def app(environ, start_response):
            barrier.wait()  # only four requests running at once get past this
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"multithread": environ["wsgi.multithread"],
                                "thread": threading.get_ident()}).encode()]

        pool = self.pool(app, 4)
        for task_id in range(1, 5):
            pool.assign(task_id)
        started, results = pool.results(4)
        self.assertEqual(started, {1, 2, 3, 4})
        self.assertEqual({r.status for r in results.values()}, {200})
        self.assertTrue(all(body(r)["multithread"] for r in results.values()))
        self.assertEqual(len({body(r)["thread"] for r in results.values()}), 4)

    def test_a_queued_task_cancelled_is_answered_at_once_and_never_runs(self):
        release = threading.Event()
        ran = []

        def app(environ, start_response):
            ran.append(environ["PATH_INFO"])
            if environ["PATH_INFO"] == "/hold":
                release.wait(WAIT)
            start_response("200 OK", [])
            return [b"done"]

        pool = self.pool(app, 2)
        pool.assign(1, "/hold")
        pool.assign(2, "/hold")
        pool.assign(3, "/queued")  # both threads busy: it waits, not started
        self.assertIsInstance(pool.receive(), TaskStarted)
        self.assertIsInstance(pool.receive(), TaskStarted)
        pool.send(encode_cancel_task(3))
        answer = pool.receive()
        self.assertIsInstance(answer, TaskResult)
        self.assertEqual((answer.task_id, answer.status), (3, 504))
        # A running task cancelled: it cannot be stopped, its own result frees the slot.
        pool.send(encode_cancel_task(1))
        release.set()
        _, results = pool.results(2)
        self.assertEqual({r.status for r in results.values()}, {200})
        self.assertNotIn("/queued", ran)

    def test_a_stream_runs_on_its_thread_under_the_window_and_is_closed_when_cancelled(self):
        closed = []
        threads = []

        class Forever:
            def __iter__(self):
                while True:
                    threads.append(threading.get_ident())
                    yield b"x" * 65536

            def close(self):
                closed.append(threading.get_ident())

        def app(environ, start_response):
            threads.append(threading.get_ident())
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return Forever()

        pool = self.pool(app, 2)
        pool.assign(1)
        self.assertIsInstance(pool.receive(), TaskStarted)
        self.assertIsInstance(pool.receive(), ResponseHead)
        received = 0
        while received < (1 << 20):  # the whole initial window, and no more without credit
            chunk = pool.receive()
            self.assertIsInstance(chunk, BodyChunk)
            received += len(chunk.data)
        self.assertEqual(received, 1 << 20)
        pool.send(encode_window_update(1, 65536))
        self.assertIsInstance(pool.receive(), BodyChunk)
        pool.send(encode_cancel_task(1))
        while True:
            msg = pool.receive()
            if isinstance(msg, BodyEnd):
                break
        self.assertEqual(msg.flags & BODY_INCOMPLETE, BODY_INCOMPLETE)
        self.assertEqual(len(closed), 1)
        self.assertEqual(set(threads) | set(closed), {threads[0]}, "one thread per task")

    def test_an_exception_is_a_logged_500_and_the_thread_serves_on(self):
        def app(environ, start_response):
            if environ["PATH_INFO"] == "/boom":
                raise RuntimeError("secret internals")
            start_response("200 OK", [])
            return [b"ok"]

        pool = self.pool(app, 2)
        saved, sys.stderr = sys.stderr, io.StringIO()
        try:
            pool.assign(1, "/boom")
            _, results = pool.results(1)
            log = sys.stderr.getvalue()
        finally:
            sys.stderr = saved
        self.assertEqual(results[1].status, 500)
        self.assertNotIn(b"secret internals", bytes(results[1].body))
        self.assertIn("secret internals", log)
        pool.assign(2, "/fine")
        self.assertEqual(pool.results(1)[1][2].status, 200)

    def test_a_graceful_shutdown_lets_every_running_task_finish(self):
        release = threading.Event()

        def app(environ, start_response):
            release.wait(WAIT)
            start_response("200 OK", [])
            return [b"finished"]

        pool = self.pool(app, 3)
        for task_id in (1, 2, 3):
            pool.assign(task_id)
        for _ in range(3):
            self.assertIsInstance(pool.receive(), TaskStarted)
        pool.send(encode_shutdown(True))
        pool.send(encode_discover_routes())  # still reading: the routes come back at once
        self.assertIsInstance(pool.receive(), RouteRegistry)
        self.assertIsNone(pool.code)
        release.set()
        _, results = pool.results(3)
        self.assertEqual([bytes(results[i].body) for i in (1, 2, 3)], [b"finished"] * 3)
        self.assertEqual(pool.exit_code(), 0)

    def test_heartbeats_pause_while_a_thread_runs_the_app(self):
        entered, release = threading.Event(), threading.Event()

        def app(environ, start_response):
            entered.set()
            release.wait(WAIT)
            start_response("200 OK", [])
            return [b""]

        pool = self.pool(app, 2, interval=0.02)
        self.assertIsInstance(pool.receive(heartbeats=True), Heartbeat)  # idle: it beats
        pool.assign(1)
        self.assertTrue(entered.wait(WAIT))
        # Over 0.3 s at a 0.02 s interval an idle worker would beat about 15 times; one may have
        # been on its way as the app was entered.
        beats = 0
        pool.sock.settimeout(0.3)
        try:
            while True:
                msg = pool.receive(heartbeats=True)
                self.assertNotIsInstance(msg, TaskResult)
                beats += isinstance(msg, Heartbeat)
        except socket.timeout:
            pass
        finally:
            pool.sock.settimeout(WAIT)
        self.assertLessEqual(beats, 1)
        release.set()
        msg = pool.receive()
        self.assertIsInstance(msg, TaskResult)
        self.assertIsInstance(pool.receive(heartbeats=True), Heartbeat)  # idle again

    def test_end_of_stream_exits(self):
        pool = Pool(lambda e, s: [], 2)
        pool.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(pool.exit_code(), 0)
        pool.close()


class WorkerProcessTest(unittest.TestCase):
    """The worker process decides: threads only when NEUTRINO_WORKER_CONCURRENCY asks."""

    def serve(self, env):
        w = Worker("tests.fixtures.wsgi_app:app", env=env)
        self.addCleanup(w.kill)
        ready = w.receive()
        w.send(encode_task_assignment(1, "GET", "/*", "/", "", [], [], "r1", "", 0, b""))
        while True:
            result = w.receive(skip_heartbeats=True)
            if isinstance(result, TaskResult):
                break
            self.assertIsInstance(result, TaskStarted)  # only a worker of many threads says so
            self.assertGreater(ready.concurrency, 1)
        w.send(encode_shutdown(True))
        code, _ = w.finish()
        return ready.concurrency, json.loads(bytes(result.body))["multithread"], code

    def test_one_request_at_a_time_unless_asked(self):
        self.assertNotIn("NEUTRINO_WORKER_CONCURRENCY", os.environ)
        self.assertEqual(self.serve({}), (1, False, 0))
        self.assertEqual(self.serve({"NEUTRINO_WORKER_CONCURRENCY": "3"}), (3, True, 0))
        self.assertEqual(self.serve({"NEUTRINO_WORKER_CONCURRENCY": "1"}), (1, False, 0))


if __name__ == "__main__":
    unittest.main()
