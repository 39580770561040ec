"""Streams in the sequential worker (concurrency 1), driven over its socket like the orchestrator
does: streamed responses under the window, cancels, failures, a task sent ahead, streamed request
bodies, and buffered bodies too large for a frame."""

import json
import os
import queue
import tempfile
import threading
import unittest

from neutrino.internal.worker.protocol import (
    BODY_INCOMPLETE,
    INITIAL_WINDOW,
    MAX_CHUNK,
    BodyChunk,
    BodyEnd,
    Heartbeat,
    ResponseHead,
    TaskResult,
    WindowUpdate,
    WorkerReady,
    encode_body_chunk,
    encode_body_end,
    encode_cancel_task,
    encode_discover_routes,
    encode_shutdown,
    encode_task_assignment,
    encode_window_update,
)

from .test_worker_main import Worker

APP = "tests.fixtures.stream_sync_app:app"


def assign(w, task_id, route, query="", method="GET", body=b""):
    w.send(encode_task_assignment(task_id, method, route, route, query, [], [], f"r{task_id}", "",
                                  0, body))


def read_stream(w, task_id, grant=True):
    """(ResponseHead, body bytes, BodyEnd) of one task; grants window as the orchestrator
    does once it has written a chunk to its client."""
    head = w.receive(skip_heartbeats=True)
    assert isinstance(head, ResponseHead) and head.task_id == task_id, head
    data = bytearray()
    while True:
        msg = w.receive(skip_heartbeats=True)
        if isinstance(msg, BodyEnd):
            assert msg.task_id == task_id, msg
            return head, bytes(data), msg
        assert isinstance(msg, BodyChunk) and msg.task_id == task_id, msg
        assert 0 < len(msg.data) <= MAX_CHUNK, len(msg.data)
        data += msg.data
        if grant:
            w.send(encode_window_update(task_id, len(msg.data)))


class SequentialStreamTest(unittest.TestCase):
    def start(self, env=None):
        w = Worker(APP, env=env)
        self.addCleanup(w.kill)
        self.assertEqual(w.receive(), WorkerReady("w0", w.proc.pid, "python", 1))
        self.tmp = tempfile.mkdtemp(prefix="neutrino-stream-")
        return w

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_generator_chunks_go_out_as_they_are_yielded(self):
        w = self.start()
        gate = self.path("gate")
        assign(w, 1, "/count", f"n=3&gate={gate}")
        head = w.receive()
        self.assertEqual(head, ResponseHead(1, 200, 0, [("content-type",
                                                          "text/plain; charset=utf-8")]))
        # The first chunk arrives while the generator still waits for the gate.
        self.assertEqual(w.receive(), BodyChunk(1, b"0\n"))
        open(gate, "w").close()
        self.assertEqual(w.receive(), BodyChunk(1, b"1\n"))
        self.assertEqual(w.receive(), BodyChunk(1, b"2\n"))
        self.assertEqual(w.receive(), BodyEnd(1, 0))
        self.assertEqual(w.task(2, "GET", "/pid").status, 200)

    def test_streaming_response_status_headers_media_type_and_async_content(self):
        w = self.start()
        assign(w, 1, "/custom")
        head, data, end = read_stream(w, 1)
        self.assertEqual((head.status, head.flags), (201, 0))
        self.assertEqual(head.headers, [("x-custom", "1"), ("content-type", "text/csv; charset=utf-8")])
        self.assertEqual((data, end.flags), (b"a,b\n1,2\n", 0))
        assign(w, 2, "/async-content")
        _, data, end = read_stream(w, 2)
        self.assertEqual((data, end.flags), (b"from async", 0))

    def test_server_sent_events(self):
        w = self.start()
        assign(w, 1, "/events")
        head, data, _ = read_stream(w, 1)
        self.assertIn(("content-type", "text/event-stream"), head.headers)
        self.assertEqual(data.decode(), "event: tick\nid: 1\ndata: one\n\n"
                         'retry: 500\ndata: {"n":2}\n\n'
                         "data: two\ndata: lines\n\n")

    def test_window_holds_the_stream_back_and_heartbeats_go_on_meanwhile(self):
        w = self.start({"NEUTRINO_HEARTBEAT_INTERVAL": "0.05"})
        assign(w, 1, "/firehose", "chunks=40")  # 2.5 MiB
        self.assertIsInstance(w.receive(skip_heartbeats=True), ResponseHead)
        sent = 0
        while True:  # no window granted: the worker must stop, and wait with heartbeats
            msg = w.receive()
            if isinstance(msg, Heartbeat):
                break
            self.assertIsInstance(msg, BodyChunk)
            sent += len(msg.data)
        self.assertGreaterEqual(sent, INITIAL_WINDOW)
        self.assertLess(sent, INITIAL_WINDOW + 65536)  # below zero by at most one frame
        w.send(encode_window_update(1, sent))
        rest = bytearray()
        while True:
            msg = w.receive(skip_heartbeats=True)
            if isinstance(msg, BodyEnd):
                break
            rest += msg.data
            w.send(encode_window_update(1, len(msg.data)))
        self.assertEqual(sent + len(rest), 40 * 65536)
        self.assertEqual(msg, BodyEnd(1, 0))

    def test_one_large_item_is_split_into_chunks(self):
        w = self.start()
        assign(w, 1, "/big-piece", "size=2500000")
        _, data, end = read_stream(w, 1)
        self.assertEqual((len(data), end.flags), (2_500_000, 0))

    def test_cancel_closes_the_generator_and_frees_the_worker(self):
        w = self.start()
        marker = self.path("closed")
        assign(w, 1, "/firehose", f"chunks=1000&marker={marker}")
        self.assertIsInstance(w.receive(), ResponseHead)
        self.assertIsInstance(w.receive(), BodyChunk)
        w.send(encode_cancel_task(1))
        while True:
            msg = w.receive()
            if isinstance(msg, BodyEnd):
                break
            self.assertIsInstance(msg, BodyChunk)
        self.assertEqual(msg, BodyEnd(1, BODY_INCOMPLETE))
        with open(marker) as f:
            self.assertEqual(f.read(), "closed")  # its finally block ran
        w.send(encode_window_update(1, 65536))  # crossed the end on the wire: ignored
        self.assertEqual(w.task(2, "GET", "/pid").status, 200)

    def test_a_generator_that_raises_ends_the_body_incomplete(self):
        w = self.start()
        assign(w, 1, "/fail-midway")
        head, data, end = read_stream(w, 1)
        self.assertEqual((head.status, data, end.flags), (200, b"partial\n", BODY_INCOMPLETE))
        self.assertEqual(w.task(2, "GET", "/pid").status, 200)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertIn("the streamed response of GET /fail-midway (request r1) failed mid-way", stderr)
        self.assertIn("RuntimeError: the stream broke", stderr)

    def test_a_task_sent_ahead_runs_after_the_stream(self):
        w = self.start()
        assign(w, 1, "/firehose", "chunks=40")
        self.assertIsInstance(w.receive(), ResponseHead)
        assign(w, 2, "/pid")  # the one task ahead, while task 1 streams
        w.send(encode_discover_routes())  # answered at once, even mid-stream
        data = 0
        registry_seen = False
        while True:
            msg = w.receive()
            if isinstance(msg, BodyChunk):
                data += len(msg.data)
                w.send(encode_window_update(1, len(msg.data)))
                continue
            if isinstance(msg, BodyEnd):
                break
            self.assertEqual(type(msg).__name__, "RouteRegistry")
            registry_seen = True
        self.assertTrue(registry_seen)
        self.assertEqual((data, msg.flags), (40 * 65536, 0))
        result = w.receive()
        self.assertIsInstance(result, TaskResult)
        self.assertEqual((result.task_id, result.status), (2, 200))

    def test_graceful_shutdown_mid_stream_finishes_it_first(self):
        w = self.start()
        assign(w, 1, "/firehose", "chunks=20")
        self.assertIsInstance(w.receive(), ResponseHead)
        w.send(encode_shutdown(True))
        data = 0
        while True:
            msg = w.receive()
            if isinstance(msg, BodyEnd):
                break
            data += len(msg.data)
            try:
                w.send(encode_window_update(1, len(msg.data)))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the last grants cross the worker's exit
        self.assertEqual((data, msg.flags), (20 * 65536, 0))
        try:
            self.assertIsNone(w.receive())
        except ConnectionResetError:
            pass  # it exited with our last grants unread: the kernel resets the socket
        self.assertEqual(w.finish()[0], 0)

    def test_buffered_body_too_large_for_a_frame_is_a_500_and_the_worker_survives(self):
        w = self.start()
        result = w.task(1, "GET", "/huge")
        self.assertEqual((result.status, result.flags), (500, 1))
        self.assertEqual(json.loads(bytes(result.body))["detail"],
                         "response too large to buffer: stream it")
        self.assertEqual(w.task(2, "GET", "/pid").status, 200)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertIn("GET /huge (request r): a response of", stderr)
        self.assertIn("does not fit one frame", stderr)

    def test_registry_lists_stream_body(self):
        w = self.start()
        w.send(encode_discover_routes())
        routes = {r["path"]: r for r in w.receive().routes}
        self.assertIs(routes["/upload"]["stream_body"], True)
        self.assertNotIn("stream_body", routes["/whole"])

    def test_streamed_request_body(self):
        w = self.start()
        assign(w, 1, "/upload", method="POST")
        sizes = [100_000, 200_000, 5]
        for size in sizes:
            w.send(encode_body_chunk(1, b"u" * size))
        w.send(encode_body_end(1, 0))
        granted = []
        while True:
            msg = w.receive()
            if isinstance(msg, WindowUpdate):
                self.assertEqual(msg.task_id, 1)
                granted.append(msg.increment)
                continue
            break
        self.assertEqual(granted, sizes)  # the window comes back as the handler reads
        self.assertIsInstance(msg, TaskResult)
        self.assertEqual(json.loads(bytes(msg.body)), {"bytes": sum(sizes), "pieces": 3, "body": 0})

    def test_streamed_request_body_of_a_client_that_left(self):
        w = self.start()
        marker = self.path("left")
        assign(w, 1, "/upload", f"marker={marker}", method="POST")
        w.send(encode_body_chunk(1, b"u" * 10))
        w.send(encode_body_end(1, BODY_INCOMPLETE))
        msg = w.receive()
        self.assertEqual(msg, WindowUpdate(1, 10))
        result = w.receive()
        self.assertEqual(result.status, 499)  # ClientDisconnect: no traceback, nobody to answer
        with open(marker) as f:
            self.assertEqual(f.read(), "disconnected after 10")
        assign(w, 2, "/upload", f"marker={marker}2", method="POST")
        w.send(encode_cancel_task(2))
        self.assertEqual(w.receive().status, 499)
        self.assertTrue(os.path.exists(marker + "2"))
        self.assertEqual(w.task(3, "GET", "/pid").status, 200)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertNotIn("Traceback", stderr)

    def test_immediate_shutdown_while_a_handler_reads_its_body(self):
        w = self.start()
        assign(w, 1, "/upload", method="POST")
        w.send(encode_body_chunk(1, b"abc"))
        self.assertEqual(w.receive(), WindowUpdate(1, 3))
        w.send(encode_shutdown(False))  # the handler waits for more: it must not outlive this
        self.assertIsNone(w.receive())
        self.assertEqual(w.finish()[0], 0)

    def test_body_of_the_task_sent_ahead_is_kept_for_it(self):
        w = self.start()
        assign(w, 1, "/firehose", "chunks=20")
        self.assertIsInstance(w.receive(), ResponseHead)
        assign(w, 2, "/upload", method="POST")
        w.send(encode_body_chunk(2, b"ab"))
        w.send(encode_body_chunk(2, b"cde"))
        w.send(encode_body_end(2, 0))
        while True:
            msg = w.receive()
            if isinstance(msg, BodyEnd):
                break
            w.send(encode_window_update(1, len(msg.data)))
        self.assertEqual(msg, BodyEnd(1, 0))
        self.assertEqual(w.receive(), WindowUpdate(2, 2))
        self.assertEqual(w.receive(), WindowUpdate(2, 3))
        result = w.receive()
        self.assertEqual(json.loads(bytes(result.body))["bytes"], 5)

    def test_echo_interleaves_both_windows(self):
        """The body streams in under the window the handler grants as it reads, the response
        streams out under the window we grant: neither side's frames are lost to the other."""
        w = self.start()
        assign(w, 1, "/echo", method="POST")
        piece = 256 * 1024
        total = 12 * piece  # 3 MiB: three times each window
        # One writer thread, the reads here: like the orchestrator, never blocked on a write
        # while it has frames to read.
        frames = queue.SimpleQueue()

        def writer():
            while True:
                frame = frames.get()
                if frame is None:
                    return
                w.send(frame)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        self.addCleanup(frames.put, None)
        body_window, sent = INITIAL_WINDOW, 0

        def send_body():
            nonlocal body_window, sent
            while body_window > 0 and sent < total:
                frames.put(encode_body_chunk(1, b"e" * piece))
                body_window -= piece
                sent += piece
                if sent == total:
                    frames.put(encode_body_end(1, 0))

        send_body()
        echoed = 0
        while True:
            msg = w.receive()
            if isinstance(msg, WindowUpdate):
                body_window += msg.increment
                send_body()
            elif isinstance(msg, BodyChunk):
                echoed += len(msg.data)
                frames.put(encode_window_update(1, len(msg.data)))
            elif isinstance(msg, BodyEnd):
                break
            else:
                self.assertIsInstance(msg, ResponseHead)
        self.assertEqual((echoed, msg.flags), (total, 0))
        self.assertEqual(w.task(2, "GET", "/pid").status, 200)

    def test_echo_cancelled_ends_quietly(self):
        w = self.start()
        assign(w, 1, "/echo", method="POST")
        w.send(encode_body_chunk(1, b"abc"))
        self.assertIsInstance(w.receive(), ResponseHead)
        self.assertEqual(w.receive(), WindowUpdate(1, 3))
        self.assertEqual(w.receive(), BodyChunk(1, b"abc"))
        w.send(encode_cancel_task(1))
        self.assertEqual(w.receive(), BodyEnd(1, BODY_INCOMPLETE))
        self.assertEqual(w.task(2, "GET", "/pid").status, 200)
        w.send(encode_shutdown(True))
        code, stderr = w.finish()
        self.assertEqual(code, 0)
        self.assertNotIn("Traceback", stderr)

    def test_stream_of_a_buffered_body_yields_it_once(self):
        w = self.start()
        result = w.task(1, "POST", "/whole", body=b"q" * 1000)
        self.assertEqual(json.loads(bytes(result.body)), {"pieces": [1000]})
        result = w.task(2, "POST", "/whole")
        self.assertEqual(json.loads(bytes(result.body)), {"pieces": []})


if __name__ == "__main__":
    unittest.main()
