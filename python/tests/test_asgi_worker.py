"""An ASGI app's worker over its socket, as the orchestrator drives it: the frames of many tasks
(gathered into one write per loop turn) keep each task's order, TaskStarted goes out before the
app runs, and CancelTask stops the app (or, when the client left, tells it so)."""

import os
import tempfile
import unittest

from neutrino.internal.worker.protocol import (
    CANCEL_CLIENT_GONE,
    HANDLER_FAILED,
    TaskResult,
    TaskStarted,
    WorkerReady,
    encode_cancel_task,
    encode_shutdown,
    encode_task_assignment,
)

from .test_async_worker import wait_for_file
from .test_worker_main import Worker

APP = "tests.fixtures.asgi_paths_app:app"


def assignment(task_id, path, query=""):
    return encode_task_assignment(task_id, "GET", "/*", path, query, [("host", "h")], [],
                                  f"r{task_id}", "127.0.0.1", 1, b"")


class AsgiWorkerTest(unittest.TestCase):
    def start(self):
        w = Worker(APP)
        self.addCleanup(w.kill)
        self.assertIsInstance(w.receive(), WorkerReady)
        return w

    def test_pipelined_tasks_each_start_before_their_result(self):
        w = self.start()
        w.send(b"".join(assignment(i, f"/item/{i}") for i in range(1, 51)))  # one write
        started, answered = set(), {}
        while len(answered) < 50:
            m = w.receive(skip_heartbeats=True)
            if isinstance(m, TaskStarted):
                self.assertNotIn(m.task_id, answered)
                started.add(m.task_id)
                continue
            self.assertIsInstance(m, TaskResult, m)
            self.assertIn(m.task_id, started)
            answered[m.task_id] = (m.status, bytes(m.body))
        self.assertEqual(answered, {i: (200, f"/item/{i}".encode()) for i in range(1, 51)})
        w.send(encode_shutdown(True))
        self.assertEqual(w.finish()[0], 0)

    def test_task_started_goes_out_before_the_app_blocks_the_loop(self):
        w = self.start()
        with tempfile.TemporaryDirectory() as tmp:
            gate = os.path.join(tmp, "gate")
            w.send(assignment(1, "/block", f"until={gate}"))
            # Held back until the app has run, it would never come: the app waits for us.
            m = w.receive(skip_heartbeats=True)
            self.assertEqual((type(m), m.task_id), (TaskStarted, 1))
            with open(gate, "w"):
                pass
            m = w.receive(skip_heartbeats=True)
            self.assertEqual((type(m), m.task_id, m.status), (TaskResult, 1, 200))

    def cancelled(self, tmp, path, flags=0):
        """A worker sent CancelTask (with ``flags``) for task 1, ``path``, which writes to the
        marker file it returns."""
        w = self.start()
        marker = os.path.join(tmp, "marker")
        w.send(assignment(1, path, f"marker={marker}"))
        self.assertIsInstance(w.receive(skip_heartbeats=True), TaskStarted)
        w.send(encode_cancel_task(1, flags))
        return w, marker

    def assert_id_free_again(self, w):
        w.send(assignment(1, "/again"))
        self.assertIsInstance(w.receive(skip_heartbeats=True), TaskStarted)
        self.assertEqual(bytes(w.receive(skip_heartbeats=True).body), b"/again")

    def test_cancel_task_cancels_the_apps_call(self):
        with tempfile.TemporaryDirectory() as tmp:
            w, marker = self.cancelled(tmp, "/forever")
            m = w.receive(skip_heartbeats=True)
            self.assertEqual((type(m), m.task_id, m.status, m.flags),
                             (TaskResult, 1, 504, HANDLER_FAILED))
            wait_for_file(marker)  # the app saw its cancellation
        self.assert_id_free_again(w)

    def test_cancel_task_for_a_client_gone_tells_the_app_and_lets_it_end(self):
        with tempfile.TemporaryDirectory() as tmp:
            w, marker = self.cancelled(tmp, "/listen", CANCEL_CLIENT_GONE)
            wait_for_file(marker)
            with open(marker) as heard:
                self.assertEqual(heard.read(), "http.disconnect")
            # Its answer (send() raised: nobody to send it to) ends the task and frees the slot.
            m = w.receive(skip_heartbeats=True)
            self.assertEqual((type(m), m.task_id), (TaskResult, 1))
        self.assert_id_free_again(w)

if __name__ == "__main__":
    unittest.main()
