"""The worker of an app with async routes, driven over its socket like the orchestrator does:
concurrency, overlap, sync handlers one at a time, CancelTask, heartbeats, shutdown."""

import json
import os
import tempfile
import time
import unittest

from neutrino.internal.worker.protocol import (
    HANDLER_FAILED,
    Heartbeat,
    StartupError,
    TaskResult,
    TaskStarted,
    WorkerReady,
    encode_cancel_task,
    encode_discover_routes,
    encode_shutdown,
    encode_task_assignment,
)

from .test_worker_main import TIMEOUT, Worker

APP = "tests.fixtures.async_app:app"


def assign(w, task_id, route, query=""):
    w.send(encode_task_assignment(task_id, "GET", route, route, query, [], [], f"r{task_id}", "",
                                  0, b""))


def results(w, count):
    """The next `count` TaskResults (heartbeats and TaskStarted skipped), in arrival order. Each
    TaskStarted must come before its task's result."""
    out = []
    while len(out) < count:
        message = w.receive(skip_heartbeats=True)
        if isinstance(message, TaskStarted):
            w.started.add(message.task_id)
            continue
        assert isinstance(message, TaskResult), message
        out.append(message)
    return out


def body(result):
    return json.loads(bytes(result.body))


def wait_for_file(path, timeout=TIMEOUT):
    """Waits until a handler has written `path` (the fixture's `started` or cleanup marker)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} was not written in {timeout} s")
        time.sleep(0.01)


class AsyncWorkerTest(unittest.TestCase):
    def start(self, env=None):
        w = Worker(APP, env=env)
        w.started = set()
        self.addCleanup(w.kill)
        ready = w.receive()
        self.assertIsInstance(ready, WorkerReady)
        return w, ready

    def test_concurrency_announced(self):
        _, ready = self.start()
        self.assertEqual(ready.concurrency, 64)
        _, ready = self.start({"NEUTRINO_WORKER_CONCURRENCY": "8"})
        self.assertEqual(ready.concurrency, 8)
        w, ready = self.start({"NEUTRINO_WORKER_CONCURRENCY": "lots"})
        self.assertEqual(ready.concurrency, 64)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertIn("ignoring NEUTRINO_WORKER_CONCURRENCY='lots'", stderr)

    def test_registry_marks_sync_routes(self):
        w, _ = self.start()
        w.send(encode_discover_routes())
        routes = {r["path"]: r for r in w.receive().routes}
        self.assertNotIn("sync", routes["/wait"])
        self.assertIs(routes["/block"]["sync"], True)
        self.assertIn("openapi", routes["/wait"])

    def test_async_tasks_overlap_and_answer_in_any_order(self):
        w, _ = self.start()
        started = time.monotonic()
        for i in range(10):
            assign(w, i, "/wait", f"seconds=0.3&tag={i}")
        got = results(w, 10)
        self.assertLess(time.monotonic() - started, 2.0, "ten 0.3 s sleeps ran one after another")
        self.assertEqual(sorted(r.task_id for r in got), list(range(10)))
        assign(w, 20, "/wait", "seconds=0.5")
        assign(w, 21, "/wait", "seconds=0.01")
        self.assertEqual([r.task_id for r in results(w, 2)], [21, 20])

    def test_sync_handlers_one_at_a_time_on_one_thread_while_async_ones_go_on(self):
        w, _ = self.start()
        for i in range(4):
            assign(w, i, "/block", "seconds=0.1")
        assign(w, 10, "/block", "seconds=0.6")
        assign(w, 11, "/wait", "seconds=0.01")
        got = {r.task_id: r for r in results(w, 6)}
        for i in (0, 1, 2, 3, 10):
            self.assertEqual(body(got[i])["most_at_once"], 1)
            self.assertEqual(body(got[i])["thread"], "neutrino-sync")
        self.assertEqual(body(got[11])["slept"], 0.01)
        # The async task was not stuck behind the sync ones.
        assign(w, 12, "/block", "seconds=0.5")
        assign(w, 13, "/wait", "seconds=0")
        self.assertEqual([r.task_id for r in results(w, 2)], [13, 12])
        assign(w, 14, "/add", "x=1&y=2")
        self.assertEqual(results(w, 1)[0].status, 200)

    def test_errors(self):
        w, _ = self.start()
        assign(w, 1, "/nope")
        [r] = results(w, 1)
        self.assertEqual((r.status, r.flags, body(r)), (403, 0, {"error": "Forbidden",
                                                                  "detail": {"why": "async says no"}}))
        assign(w, 2, "/async-boom")
        [r] = results(w, 1)
        self.assertEqual((r.status, r.flags, body(r)["detail"]), (500, HANDLER_FAILED, "the handler failed; the server log has the details"))
        assign(w, 3, "/missing")
        self.assertEqual(results(w, 1)[0].status, 404)
        assign(w, 4, "/wait", "seconds=x")
        self.assertEqual(results(w, 1)[0].status, 422)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertIn("handler 'async_boom' failed on GET /async-boom", stderr)
        self.assertIn("RuntimeError: async kaboom", stderr)

    def test_cancel_async_task(self):
        w, _ = self.start()
        with tempfile.TemporaryDirectory() as tmp:
            marker, started = os.path.join(tmp, "cancelled"), os.path.join(tmp, "started")
            assign(w, 1, "/forever")
            assign(w, 2, "/cleanup", f"path={marker}&started={started}")
            wait_for_file(started)  # both handlers run (they start in the order they came)
            w.send(encode_cancel_task(1))
            w.send(encode_cancel_task(2))
            got = results(w, 2)
            self.assertEqual(sorted((r.task_id, r.status, r.flags) for r in got),
                             [(1, 504, HANDLER_FAILED), (2, 504, HANDLER_FAILED)])
            wait_for_file(marker)  # the handler saw its cancellation
        # The slots are free, the ids reusable, and no second result comes for them.
        assign(w, 1, "/wait", "seconds=0")
        self.assertEqual(results(w, 1)[0].status, 200)
        w.send(encode_cancel_task(1))  # crossed on the wire: ignored
        self.assertTrue(w.nothing_sent_for(0.3))
        w.send(encode_shutdown(True))
        self.assertEqual(w.finish()[0], 0)

    def test_cancel_sync_tasks(self):
        w, _ = self.start()
        with tempfile.TemporaryDirectory() as tmp:
            started = os.path.join(tmp, "started")
            assign(w, 1, "/block", f"seconds=1.5&started={started}")
            assign(w, 2, "/block", "seconds=0.1")
            wait_for_file(started)  # task 1 runs; task 2 waits for the one sync slot
        w.send(encode_cancel_task(2))  # still queued: dropped and answered at once
        w.send(encode_cancel_task(1))  # running: cannot be stopped, answered when it returns
        first, second = results(w, 2)
        self.assertEqual((first.task_id, first.status), (2, 504))
        self.assertEqual((second.task_id, second.status), (1, 200))
        self.assertTrue(w.nothing_sent_for(0.4))  # task 2 never ran, so never answers again

    def test_task_started_comes_before_each_tasks_result(self):
        w, _ = self.start()
        assign(w, 1, "/wait", "seconds=0.1")
        self.assertEqual(w.receive(skip_heartbeats=True).task_id, 1)  # TaskStarted first
        self.assertEqual(results(w, 1)[0].task_id, 1)
        assign(w, 2, "/forever")
        assign(w, 3, "/wait", "seconds=0.1")
        got = results(w, 1)
        self.assertEqual(got[0].task_id, 3)
        self.assertEqual(w.started, {2, 3})
        w.send(encode_cancel_task(2))
        self.assertEqual(results(w, 1)[0].task_id, 2)

    def test_heartbeats_while_async_tasks_run_but_not_while_a_sync_one_does(self):
        w, _ = self.start({"NEUTRINO_HEARTBEAT_INTERVAL": "0.05"})
        assign(w, 1, "/wait", "seconds=0.5")
        beats = 0
        while True:
            message = w.receive()
            if isinstance(message, Heartbeat):
                beats += 1
            elif not isinstance(message, TaskStarted):
                self.assertEqual(message.task_id, 1)
                break
        self.assertGreaterEqual(beats, 3)
        assign(w, 2, "/block", "seconds=1.5")
        deadline = time.monotonic() + 0.5  # let the sync thread start; drain earlier beats
        while time.monotonic() < deadline:
            w.nothing_sent_for(0.05)
        w._pending = [m for m in w._pending if not isinstance(m, Heartbeat)]
        self.assertTrue(w.nothing_sent_for(0.5), "heartbeats while a sync handler runs")
        self.assertEqual(results(w, 1)[0].task_id, 2)
        w._pending.clear()
        self.assertFalse(w.nothing_sent_for(0.5), "heartbeats resume once it returns")

    def test_graceful_shutdown_finishes_in_flight_tasks(self):
        w, _ = self.start()
        assign(w, 1, "/wait", "seconds=0.3")
        assign(w, 2, "/block", "seconds=0.3")
        w.send(encode_shutdown(True))
        self.assertEqual(sorted(r.status for r in results(w, 2)), [200, 200])
        self.assertIsNone(w.receive(skip_heartbeats=True))
        self.assertEqual(w.finish()[0], 0)

    def test_immediate_shutdown_abandons_tasks(self):
        w, _ = self.start()
        with tempfile.TemporaryDirectory() as tmp:
            started = os.path.join(tmp, "started")
            assign(w, 1, "/forever")
            assign(w, 2, "/block", f"seconds=30&started={started}")
            wait_for_file(started)
        w.send(encode_shutdown(False))
        # It exits without answering either task (waiting for the 30 s one would outlast TIMEOUT):
        # after the TaskStarted of each, the stream ends.
        message = w.receive(skip_heartbeats=True)
        while isinstance(message, TaskStarted):
            message = w.receive(skip_heartbeats=True)
        self.assertIsNone(message)
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertNotIn("Task was destroyed", stderr)

    def test_end_of_stream(self):
        w, _ = self.start()
        assign(w, 1, "/forever")
        w.sock.shutdown(0x1)  # SHUT_WR: the orchestrator is gone
        self.assertEqual(w.finish()[0], 0)

    def test_protocol_errors_exit_2(self):
        w, _ = self.start()
        assign(w, 1, "/forever")
        assign(w, 1, "/forever")
        code, stderr = w.finish()
        self.assertEqual(code, 2)
        self.assertIn("task 1 is already in flight", stderr)
        w, _ = self.start()
        assign(w, 1, "/forever")  # in flight, so the worker is still there to read the next
        w.send(encode_shutdown(True))
        assign(w, 5, "/add", "x=1&y=1")
        code, stderr = w.finish()
        self.assertEqual(code, 2)
        self.assertIn("after Shutdown", stderr)


class RouteStartupTest(unittest.TestCase):
    def check(self, app_path):
        w = Worker(app_path)
        self.addCleanup(w.kill)
        message = w.receive()
        self.assertIsInstance(message, StartupError)
        self.assertEqual(w.finish()[0], 1)
        return message

    def test_clash_at_import(self):
        message = self.check("tests.fixtures.clash_app:app")
        self.assertEqual(message.kind, "invalid_route")
        self.assertIn("'/users/{user_id}'", message.message)
        self.assertIn("{user_id}", message.message)
        self.assertIn("clash_app.py", message.traceback)

    def test_clash_when_the_table_is_built(self):
        message = self.check("tests.fixtures.late_clash_app:app")
        self.assertEqual(message.kind, "invalid_route")
        self.assertIn("'timing'", message.message)

    def test_a_model_defined_below_its_route(self):
        w = Worker("tests.fixtures.late_model_app:app")
        self.addCleanup(w.kill)
        self.assertIsInstance(w.receive(), WorkerReady)
        w.send(encode_task_assignment(1, "POST", "/items/{item_id}", "/items/3", "",
                                      [("item_id", "3")], [], "r", "", 0, b'{"name": "pen"}'))
        result = w.receive()
        if isinstance(result, TaskStarted):
            result = w.receive()
        self.assertEqual(bytes(result.body), b'{"item_id": 3, "name": "pen"}')


if __name__ == "__main__":
    unittest.main()
