"""The real worker process, driven over a Unix socket the way the orchestrator drives it."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from neutrino.internal.worker.protocol import (
    FrameDecoder,
    Heartbeat,
    Hello,
    RouteRegistry,
    StartupError,
    TaskResult,
    WorkerReady,
    encode_cancel_task,
    encode_discover_routes,
    encode_hello,
    encode_shutdown,
    encode_task_assignment,
)

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(PYTHON_DIR)
SDK_DIR = os.path.join(PYTHON_DIR, "src")
TIMEOUT = 20


class Worker:
    """One worker process and the orchestrator's end of its socket.

    Like the orchestrator, it writes the secret to the worker's stdin (or hands it `stdin`
    instead) and requires a Hello with that secret and the worker id as the first frame.
    """

    def __init__(self, app_path: str, cwd: str = PYTHON_DIR, worker_id: str = "w0",
                 env=None, stdin=None, expected_secret=None) -> None:
        self.secret = secrets.token_hex(16)
        self._dir = tempfile.TemporaryDirectory(prefix="neutrino-test-")
        os.chmod(self._dir.name, 0o700)
        path = os.path.join(self._dir.name, f"{worker_id}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        full_env = dict(os.environ, PYTHONPATH=SDK_DIR, PYTHONUNBUFFERED="1")
        full_env.pop("NEUTRINO_HEARTBEAT_INTERVAL", None)  # only where a test asks for it
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neutrino.internal.worker.main", path, worker_id, app_path],
            cwd=cwd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin is None else stdin,
        )
        if stdin is None:
            self.proc.stdin.write(f"{self.secret}\n".encode())  # the orchestrator adds a newline
            self.proc.stdin.close()
            self.proc.stdin = None  # or communicate() would flush the closed pipe
        try:
            self.sock, _ = listener.accept()
        finally:
            listener.close()
            os.unlink(path)  # as the orchestrator does: nobody else may connect
        self.sock.settimeout(TIMEOUT)
        self._decoder = FrameDecoder()
        self._pending = []
        expected = self.secret if expected_secret is None else expected_secret
        hello = self.receive()
        if hello != Hello(worker_id, expected):
            self.kill()
            raise AssertionError(f"first frame {hello!r}, expected Hello({worker_id!r}, ...)")

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def receive(self, skip_heartbeats=False):
        while True:
            while not self._pending:
                data = self.sock.recv(65536)
                if not data:
                    self._decoder.end()
                    return None
                self._pending.extend(self._decoder.feed(data))
            message = self._pending.pop(0)
            if not (skip_heartbeats and isinstance(message, Heartbeat)):
                return message

    def task(self, task_id, method, route, query="", body=b"", skip_heartbeats=False):
        self.send(encode_task_assignment(task_id, method, route, route, query, [], [], "r", "", 0, body))
        result = self.receive(skip_heartbeats)
        assert isinstance(result, TaskResult), result
        return result

    def nothing_sent_for(self, seconds):
        """True when the worker sends nothing for that long."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(TIMEOUT)
        self._pending.extend(self._decoder.feed(data))
        return False

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
        registry = w.receive()
        self.assertIsInstance(registry, RouteRegistry)
        self.assertEqual([(r["path"], r["methods"]) for r in registry.routes], [
            ("/add", ["GET", "POST"]),
            ("/process", ["POST"]),
            ("/greet", ["GET"]),
            ("/boom", ["GET", "POST"]),
            ("/unserializable", ["GET", "POST"]),
        ])
        # No route reads the request and the worker takes one task: no "headers", no "sync".
        self.assertEqual({key for r in registry.routes for key in r},
                         {"path", "methods", "openapi"})

        ok = w.task(1, "POST", "/add", body=b'{"x": 2, "y": 3}')
        self.assertEqual(ok, TaskResult(1, 200, 0, [], b'{"result": 5}'))

        invalid = w.task(2, "GET", "/add", query="x=2")
        self.assertEqual((invalid.task_id, invalid.status, invalid.flags), (2, 422, 0))
        self.assertEqual(json.loads(bytes(invalid.body))["detail"], "missing argument 'y'")

        failed = w.task(3, "GET", "/boom")
        self.assertEqual((failed.task_id, failed.status, failed.flags), (3, 500, 1))
        self.assertEqual(json.loads(bytes(failed.body))["detail"], "the handler failed; the server log has the details")

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
        # Ignored, not handled: the kernel drops the signal when it is sent, so nothing can come of it later.
        with open(f"/proc/{self.worker.proc.pid}/status") as f:
            ignored = int(next(line for line in f if line.startswith("SigIgn:")).split()[1], 16)
        self.assertTrue(ignored & (1 << (signal.SIGINT - 1)), "SIGINT is ignored")
        self.worker.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.worker.task(1, "GET", "/add", query="x=1&y=2").status, 200)
        self.assertIsNone(self.worker.proc.poll())

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

    def test_hello_to_the_worker_exits_2(self):
        self.worker.receive()
        self.worker.send(encode_hello("w0", "x"))  # worker -> orchestrator only
        code, stderr = self.worker.finish()
        self.assertEqual(code, 2)
        self.assertIn("unexpected Hello", stderr)

    def test_stray_cancel_task_is_ignored(self):
        """A CancelTask that crossed its task's TaskResult on the wire: not an error."""
        w = self.worker
        w.receive()
        self.assertEqual(w.task(1, "GET", "/add", query="x=1&y=2").status, 200)
        w.send(encode_cancel_task(1))  # the task just answered
        w.send(encode_cancel_task(77))  # one never assigned
        self.assertEqual(w.task(2, "GET", "/add", query="x=2&y=2"),
                         TaskResult(2, 200, 0, [], b'{"result": 4}'))
        self.assertTrue(w.nothing_sent_for(0.2))  # and no answer to the CancelTasks
        w.send(encode_shutdown(True))
        self.assertEqual(w.finish(), (0, ""))


class HelloFirstTest(unittest.TestCase):
    def test_hello_before_the_app_is_imported(self):
        with tempfile.TemporaryDirectory() as tmp:
            gate = os.path.join(tmp, "gate")
            w = Worker("tests.fixtures.gated_app:app", env={"NEUTRINO_TEST_GATE": gate})
            self.addCleanup(w.kill)
            # The harness has the Hello, and the import is still waiting on the gate.
            self.assertIsNone(w.proc.poll())
            open(gate, "w").close()
            self.assertIsInstance(w.receive(), WorkerReady)


class SecretTest(unittest.TestCase):
    """The secret comes from stdin, stripped; without one the Hello carries "" (and the
    orchestrator refuses it), but the worker never waits on a terminal."""

    def check(self, stdin):
        w = Worker("tests.fixtures.good_app:app", stdin=stdin, expected_secret="")  # checks Hello
        self.addCleanup(w.kill)
        self.assertIsInstance(w.receive(), WorkerReady)

    def test_empty_stdin(self):
        self.check(subprocess.DEVNULL)

    @unittest.skipUnless(hasattr(os, "openpty"), "needs a pseudo-terminal")
    def test_terminal_is_not_read(self):
        controller, terminal = os.openpty()
        self.addCleanup(os.close, controller)
        try:
            self.check(terminal)  # nobody ever types into it: reading would block forever
        finally:
            os.close(terminal)

    def test_whitespace_around_the_secret_is_stripped(self):
        with tempfile.TemporaryFile() as stdin:
            stdin.write(b"  \t c0ffee \r\n\n")
            stdin.seek(0)
            w = Worker("tests.fixtures.good_app:app", stdin=stdin, expected_secret="c0ffee")
        self.addCleanup(w.kill)
        self.assertIsInstance(w.receive(), WorkerReady)


class HeartbeatTest(unittest.TestCase):
    INTERVAL = 0.1

    def start(self, app_path="tests.fixtures.good_app:app", interval=str(INTERVAL)):
        w = Worker(app_path, env={"NEUTRINO_HEARTBEAT_INTERVAL": interval})
        self.addCleanup(w.kill)
        self.assertIsInstance(w.receive(), WorkerReady)
        return w

    def test_heartbeats_while_idle(self):
        w = self.start()
        started = time.monotonic()
        for _ in range(3):
            self.assertEqual(w.receive(), Heartbeat("w0"))
        self.assertGreaterEqual(time.monotonic() - started, 2 * self.INTERVAL)
        # Serving goes on between heartbeats (one may cross the request: skip it).
        self.assertEqual(w.task(1, "GET", "/add", query="x=1&y=2", skip_heartbeats=True).status,
                         200)
        self.assertEqual(w.receive(), Heartbeat("w0"))  # idle again
        w.send(encode_shutdown(True))
        self.assertIsNone(w.receive(skip_heartbeats=True))
        self.assertEqual(w.finish(), (0, ""))

    def test_silent_while_a_handler_runs(self):
        w = self.start("tests.fixtures.slow_app:app")
        self.assertEqual(w.receive(), Heartbeat("w0"))  # idle: heartbeats
        # A 1 s handler would allow ~10 heartbeats; at most one may have crossed the request.
        w.send(encode_task_assignment(1, "GET", "/sleep", "/sleep", "seconds=1", [], [], "r", "", 0, b""))
        crossed = 0
        while True:
            message = w.receive()
            if isinstance(message, TaskResult):
                break
            self.assertEqual(message, Heartbeat("w0"))
            crossed += 1
        self.assertEqual((message.task_id, message.status), (1, 200))
        self.assertLessEqual(crossed, 1)
        self.assertEqual(w.receive(), Heartbeat("w0"))  # idle again: heartbeats again

    def test_none_without_the_variable(self):
        w = Worker("tests.fixtures.good_app:app")
        self.addCleanup(w.kill)
        self.assertIsInstance(w.receive(), WorkerReady)
        self.assertTrue(w.nothing_sent_for(0.5))

    def test_bad_value_is_reported_and_ignored(self):
        w = self.start(interval="soon")
        self.assertTrue(w.nothing_sent_for(0.3))
        self.assertEqual(w.task(1, "GET", "/add", query="x=1&y=2").status, 200)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertIn("ignoring NEUTRINO_HEARTBEAT_INTERVAL='soon'", stderr)


class ExampleAppTest(unittest.TestCase):
    def test_post_add_answers_result_5(self):
        """POST /add with {"x": 2, "y": 3} answers exactly {"result": 5}."""
        for cwd, app_path in ((REPO_DIR, "examples/myapp:app"),
                              (os.path.join(REPO_DIR, "examples"), "myapp:app")):
            with self.subTest(app_path=app_path):
                w = Worker(app_path, cwd=cwd)
                self.addCleanup(w.kill)
                self.assertIsInstance(w.receive(), WorkerReady)
                w.send(encode_discover_routes())
                registry = w.receive()
                self.assertEqual([(r["path"], r["methods"]) for r in registry.routes],
                                 [("/add", ["GET", "POST"]), ("/process", ["POST"])])
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
            env=env, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
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
