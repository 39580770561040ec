"""The real worker process, driven over a Unix socket the way the orchestrator drives it."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from neutrino.internal.worker.protocol import (
    FrameDecoder,
    RouteRegistry,
    StartupError,
    TaskResult,
    WorkerReady,
    encode_discover_routes,
    encode_shutdown,
    encode_task_assignment,
)

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(PYTHON_DIR)
SDK_DIR = os.path.join(PYTHON_DIR, "src")
TIMEOUT = 20


class Worker:
    """One worker process and the orchestrator's end of its socket."""

    def __init__(self, app_path: str, cwd: str = PYTHON_DIR, worker_id: str = "w0") -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="neutrino-test-")
        os.chmod(self._dir.name, 0o700)
        path = os.path.join(self._dir.name, f"{worker_id}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        env = dict(os.environ, PYTHONPATH=SDK_DIR, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neutrino.internal.worker.main", path, worker_id, app_path],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            self.sock, _ = listener.accept()
        finally:
            listener.close()
            os.unlink(path)  # as the orchestrator does: nobody else may connect
        self.sock.settimeout(TIMEOUT)
        self._decoder = FrameDecoder()
        self._pending = []

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def receive(self):
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                self._decoder.end()
                return None
            self._pending.extend(self._decoder.feed(data))
        return self._pending.pop(0)

    def task(self, task_id, method, route, query="", body=b""):
        self.send(encode_task_assignment(task_id, method, route, route, query, [], [], body))
        result = self.receive()
        assert isinstance(result, TaskResult), result
        return result

    def finish(self):
        """(exit code, stderr) once the process has exited."""
        try:
            _, stderr = self.proc.communicate(timeout=TIMEOUT)
        finally:
            self.sock.close()
            self._dir.cleanup()
        return self.proc.returncode, stderr.decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


class ServingTest(unittest.TestCase):
    def setUp(self):
        self.worker = Worker("tests.fixtures.good_app:app")
        self.addCleanup(self.worker.kill)

    def test_session(self):
        w = self.worker
        self.assertEqual(w.receive(), WorkerReady("w0", w.proc.pid, "python", 1))

        w.send(encode_discover_routes())
        self.assertEqual(w.receive(), RouteRegistry([
            ("/add", ["GET", "POST"]),
            ("/process", ["POST"]),
            ("/greet", ["GET"]),
            ("/boom", ["GET", "POST"]),
            ("/unserializable", ["GET", "POST"]),
        ]))

        ok = w.task(1, "POST", "/add", body=b'{"x": 2, "y": 3}')
        self.assertEqual(ok, TaskResult(1, 200, 0, [], b'{"result": 5}'))

        invalid = w.task(2, "GET", "/add", query="x=2")
        self.assertEqual((invalid.task_id, invalid.status, invalid.flags), (2, 422, 0))
        self.assertEqual(json.loads(bytes(invalid.body))["detail"], "missing argument 'y'")

        failed = w.task(3, "GET", "/boom")
        self.assertEqual((failed.task_id, failed.status, failed.flags), (3, 500, 1))
        self.assertEqual(json.loads(bytes(failed.body))["exception"], "ZeroDivisionError")

        again = w.task(0xFFFFFFFF, "GET", "/add", query="x=1&y=1")  # still serving
        self.assertEqual(again, TaskResult(0xFFFFFFFF, 200, 0, [], b'{"result": 2}'))

        bad_json = w.task(5, "POST", "/add", body=b"{oops")
        self.assertEqual((bad_json.status, bad_json.flags), (400, 0))

        large = {"data": {"blob": "é" * 300_000}}  # bigger than the worker's receive buffer
        processed = w.task(6, "POST", "/process", body=json.dumps(large).encode())
        self.assertEqual(json.loads(bytes(processed.body)), {"processed": large["data"]})

        w.send(encode_shutdown(True))
        self.assertIsNone(w.receive())  # the worker closes its end
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertIn("handler 'boom' failed on GET /boom", stderr)
        self.assertIn("ZeroDivisionError: division by zero", stderr)

    def test_immediate_shutdown(self):
        self.worker.receive()
        self.worker.send(encode_shutdown(False))
        self.assertEqual(self.worker.finish()[0], 0)

    def test_exits_at_end_of_stream(self):
        self.worker.receive()
        self.worker.sock.shutdown(socket.SHUT_WR)  # the orchestrator is gone
        self.assertEqual(self.worker.finish(), (0, ""))

    def test_ignores_sigint(self):
        self.worker.receive()
        self.worker.proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        self.assertEqual(self.worker.task(1, "GET", "/add", query="x=1&y=2").status, 200)

    def test_protocol_error_exits_2(self):
        self.worker.receive()
        self.worker.send(bytes.fromhex("000000047f616263"))  # unknown message type
        code, stderr = self.worker.finish()
        self.assertEqual(code, 2)
        self.assertIn("protocol error (unknown_type)", stderr)

    def test_unexpected_message_exits_2(self):
        self.worker.receive()
        self.worker.send(bytes.fromhex("00000013047b22776f726b65725f6964223a227733227d"))  # Heartbeat
        code, stderr = self.worker.finish()
        self.assertEqual(code, 2)
        self.assertIn("unexpected Heartbeat", stderr)


class ExampleAppTest(unittest.TestCase):
    def test_seed_plan_example(self):
        """The plan's goal: POST /add with {"x": 2, "y": 3} answers {"result": 5}."""
        for cwd, app_path in ((REPO_DIR, "examples/myapp:app"),
                              (os.path.join(REPO_DIR, "examples"), "myapp:app")):
            with self.subTest(app_path=app_path):
                w = Worker(app_path, cwd=cwd)
                self.addCleanup(w.kill)
                self.assertIsInstance(w.receive(), WorkerReady)
                w.send(encode_discover_routes())
                self.assertEqual(w.receive(), RouteRegistry([("/add", ["GET", "POST"]),
                                                             ("/process", ["POST"])]))
                self.assertEqual(bytes(w.task(1, "POST", "/add", body=b'{"x": 2, "y": 3}').body),
                                 b'{"result": 5}')
                w.send(encode_shutdown(True))
                self.assertEqual(w.finish()[0], 0)


class StartupErrorTest(unittest.TestCase):
    def check(self, app_path, kind):
        w = Worker(app_path)
        self.addCleanup(w.kill)
        message = w.receive()
        self.assertIsInstance(message, StartupError)
        self.assertEqual(message.kind, kind, message.message)
        self.assertIsNone(w.receive())
        code, stderr = w.finish()
        self.assertEqual(code, 1)
        self.assertNotIn(message.message, stderr)  # sent, so not printed a second time
        return message

    def test_kinds(self):
        self.check("tests.fixtures.good_app", "bad_app_path")
        self.check("no_such_module_anywhere:app", "module_not_found")
        self.check("tests.fixtures.good_app:nope", "attribute_not_found")
        self.check("tests.fixtures.good_app:helper", "not_an_app")

    def test_import_error_has_traceback(self):
        message = self.check("tests.fixtures.raising_app:app", "import_error")
        self.assertIn("ZeroDivisionError: division by zero", message.message)
        self.assertIn("raising_app.py", message.traceback)


class CommandLineTest(unittest.TestCase):
    def run_worker(self, *args):
        env = dict(os.environ, PYTHONPATH=SDK_DIR)
        return subprocess.run(
            [sys.executable, "-m", "neutrino.internal.worker.main", *args],
            env=env, capture_output=True, timeout=TIMEOUT,
        )

    def test_usage(self):
        done = self.run_worker("only-one-argument")
        self.assertEqual(done.returncode, 2)
        self.assertIn(b"usage:", done.stderr)

    def test_socket_missing(self):
        with tempfile.TemporaryDirectory() as tmp:
            done = self.run_worker(os.path.join(tmp, "none.sock"), "w9", "myapp:app")
        self.assertEqual(done.returncode, 1)
        self.assertIn(b"cannot connect", done.stderr)


if __name__ == "__main__":
    unittest.main()
