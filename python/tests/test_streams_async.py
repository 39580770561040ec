"""Streams in the async worker, driven over its socket like the orchestrator does: async and sync
generators, the window, cancels, streamed request bodies and WebSockets."""

import json
import os
import tempfile
import unittest

from neutrino.internal.worker.protocol import (
    BODY_INCOMPLETE,
    INITIAL_WINDOW,
    BodyChunk,
    BodyEnd,
    ResponseHead,
    TaskResult,
    TaskStarted,
    WebSocketAccept,
    WebSocketClose,
    WebSocketMessage,
    WindowUpdate,
    WorkerReady,
    encode_body_chunk,
    encode_body_end,
    encode_cancel_task,
    encode_discover_routes,
    encode_shutdown,
    encode_task_assignment,
    encode_websocket_close,
    encode_websocket_message,
    encode_window_update,
)

from .test_worker_main import Worker

APP = "tests.fixtures.stream_async_app:app"


class AsyncStreamTest(unittest.TestCase):
    def setUp(self):
        self.w = Worker(APP)
        self.addCleanup(self.w.kill)
        ready = self.w.receive()
        self.assertIsInstance(ready, WorkerReady)
        self.assertEqual(ready.concurrency, 64)
        self.tmp = tempfile.mkdtemp(prefix="neutrino-astream-")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assign(self, task_id, route, query="", method="GET", headers=(), target=None):
        self.w.send(encode_task_assignment(task_id, method, route, target or route, query, [],
                                           list(headers), f"r{task_id}", "", 0, b""))

    def next(self):
        """The next frame that is not a TaskStarted or a Heartbeat."""
        while True:
            msg = self.w.receive(skip_heartbeats=True)
            if not isinstance(msg, TaskStarted):
                return msg

    def read_body(self, task_id, grant=True):
        data = bytearray()
        while True:
            msg = self.next()
            if isinstance(msg, BodyEnd):
                self.assertEqual(msg.task_id, task_id)
                return bytes(data), msg.flags
            self.assertIsInstance(msg, BodyChunk)
            data += msg.data
            if grant:
                self.w.send(encode_window_update(task_id, len(msg.data)))

    def test_async_generator_chunks_go_out_as_they_are_yielded(self):
        gate = self.path("gate")
        self.assign(1, "/count", f"n=3&gate={gate}")
        self.assertEqual(self.next(), ResponseHead(1, 200, 0, [
            ("content-type", "text/plain; charset=utf-8")]))
        self.assertEqual(self.next(), BodyChunk(1, b"0\n"))  # the generator waits for the gate
        self.assign(2, "/pid")  # the loop is free meanwhile
        self.assertEqual(self.next().task_id, 2)
        open(gate, "w").close()
        self.assertEqual(self.read_body(1), (b"1\n2\n", 0))

    def test_window_holds_the_stream_back(self):
        self.assign(1, "/firehose", "chunks=40")
        self.assertIsInstance(self.next(), ResponseHead)
        sent = 0
        while sent < INITIAL_WINDOW:
            msg = self.next()
            self.assertIsInstance(msg, BodyChunk)
            sent += len(msg.data)
        # Two round trips through the loop: a stream with window left would have gone on.
        for task_id in (2, 3):
            self.assign(task_id, "/pid")
            msg = self.next()
            while isinstance(msg, BodyChunk):
                sent += len(msg.data)
                msg = self.next()
            self.assertEqual((type(msg), msg.task_id), (TaskResult, task_id))
        self.assertLess(sent, INITIAL_WINDOW + 65536)
        self.w.send(encode_window_update(1, sent))
        data, flags = self.read_body(1)
        self.assertEqual((sent + len(data), flags), (40 * 65536, 0))

    def test_cancel_closes_the_async_generator(self):
        marker = self.path("closed")
        self.assign(1, "/stall", f"marker={marker}")
        self.assertIsInstance(self.next(), ResponseHead)
        self.assertEqual(self.next(), BodyChunk(1, b"started\n"))
        self.w.send(encode_cancel_task(1))
        self.assertEqual(self.next(), BodyEnd(1, BODY_INCOMPLETE))
        with open(marker) as f:
            self.assertEqual(f.read(), "closed")
        self.w.send(encode_window_update(1, 8))  # crossed the end: ignored
        self.assign(2, "/pid")
        self.assertEqual(self.next().status, 200)

    def test_cancel_while_waiting_for_window(self):
        marker = self.path("closed")
        self.assign(1, "/firehose", f"chunks=1000&marker={marker}")
        self.assertIsInstance(self.next(), ResponseHead)
        sent = 0
        while sent < INITIAL_WINDOW:
            sent += len(self.next().data)
        self.w.send(encode_cancel_task(1))
        msg = self.next()
        while isinstance(msg, BodyChunk):
            msg = self.next()
        self.assertEqual(msg, BodyEnd(1, BODY_INCOMPLETE))
        self.assertTrue(os.path.exists(marker))

    def test_sync_generator_runs_on_the_sync_thread_and_is_closed_on_cancel(self):
        self.assign(1, "/sync-gen")
        head = self.next()
        self.assertEqual(head.status, 200)
        self.assertEqual(self.read_body(1), (b"neutrino-sync\n" * 3, 0))
        marker = self.path("closed")
        self.assign(2, "/sync-gen", f"n=1000&size=65536&marker={marker}")
        self.assertIsInstance(self.next(), ResponseHead)
        sent = 0
        while sent < INITIAL_WINDOW:  # then it waits for window, between two next() calls
            sent += len(self.next().data)
        self.w.send(encode_cancel_task(2))
        msg = self.next()
        while isinstance(msg, BodyChunk):
            msg = self.next()
        self.assertEqual(msg, BodyEnd(2, BODY_INCOMPLETE))
        with open(marker) as f:
            self.assertEqual(f.read(), "closed")  # close() ran on the sync thread
        self.assign(3, "/pid")
        self.assertEqual(self.next().status, 200)

    def test_a_failing_async_stream_ends_incomplete(self):
        self.assign(1, "/fail-midway")
        self.assertIsInstance(self.next(), ResponseHead)
        self.assertEqual(self.read_body(1), (b"partial\n", BODY_INCOMPLETE))
        self.w.send(encode_shutdown(True))
        code, stderr = self.w.finish()
        self.assertEqual(code, 0)
        self.assertIn("RuntimeError: the async stream broke", stderr)
        # Named as the client and the access log know it, by its request id.
        self.assertIn("the streamed response of GET /fail-midway (request r1) failed mid-way",
                      stderr)

    def test_buffered_body_too_large_for_a_frame(self):
        self.assign(1, "/huge")
        result = self.next()
        self.assertEqual((result.status, result.flags), (500, 1))
        self.assertEqual(json.loads(bytes(result.body))["detail"],
                         "response too large to buffer: stream it")
        self.assign(2, "/pid")
        self.assertEqual(self.next().status, 200)
        self.w.send(encode_shutdown(True))
        code, stderr = self.w.finish()
        self.assertEqual(code, 0)
        self.assertIn("GET /huge (request r1): a response of", stderr)

    def test_streamed_request_body_async_and_sync_handlers(self):
        for task_id, route in ((1, "/upload"), (2, "/sync-upload")):
            self.assign(task_id, route, method="POST")
            self.w.send(encode_body_chunk(task_id, b"a" * 70_000))
            self.w.send(encode_body_chunk(task_id, b"b" * 3))
            self.w.send(encode_body_end(task_id, 0))
            grants = []
            msg = self.next()
            while isinstance(msg, WindowUpdate):
                grants.append(msg.increment)
                msg = self.next()
            self.assertEqual(grants, [70_000, 3])
            self.assertIsInstance(msg, TaskResult)
            self.assertEqual(json.loads(bytes(msg.body))["bytes"], 70_003)
        self.assertEqual(json.loads(bytes(msg.body))["thread"], "neutrino-sync")

    def test_echo_interleaves_both_windows(self):
        self.assign(1, "/echo-body", method="POST")
        piece, total = 256 * 1024, 12 * 256 * 1024
        body_window = INITIAL_WINDOW
        sent = echoed = 0

        def send_body():
            nonlocal body_window, sent
            while body_window > 0 and sent < total:
                self.w.send(encode_body_chunk(1, b"e" * piece))
                body_window -= piece
                sent += piece
                if sent == total:
                    self.w.send(encode_body_end(1, 0))

        send_body()
        while True:
            msg = self.next()
            if isinstance(msg, WindowUpdate):
                body_window += msg.increment
                send_body()
            elif isinstance(msg, BodyChunk):
                echoed += len(msg.data)
                self.w.send(encode_window_update(1, len(msg.data)))
            elif isinstance(msg, BodyEnd):
                break
            else:
                self.assertIsInstance(msg, ResponseHead)
        self.assertEqual((echoed, msg.flags), (total, 0))
        # Cancelled while the generator waits for the body: a quiet incomplete end.
        self.assign(2, "/echo-body", method="POST")
        self.assertIsInstance(self.next(), ResponseHead)
        self.w.send(encode_cancel_task(2))
        self.assertEqual(self.next(), BodyEnd(2, BODY_INCOMPLETE))
        self.w.send(encode_shutdown(True))
        code, stderr = self.w.finish()
        self.assertEqual((code, "Traceback" in stderr), (0, False))

    def test_client_that_left_raises_client_disconnect(self):
        marker = self.path("left")
        self.assign(1, "/upload", f"marker={marker}", method="POST")
        self.w.send(encode_body_chunk(1, b"a" * 7))
        self.assertEqual(self.next(), WindowUpdate(1, 7))
        self.w.send(encode_cancel_task(1))  # the handler waits for the next chunk
        result = self.next()
        self.assertEqual(json.loads(bytes(result.body)), {"disconnected": 7})
        with open(marker) as f:
            self.assertEqual(f.read(), "disconnected after 7")
        self.assign(2, "/upload", method="POST")
        self.w.send(encode_body_end(2, BODY_INCOMPLETE))
        self.assertEqual(json.loads(bytes(self.next().body)), {"disconnected": 0})

    def test_registry_lists_websocket_routes(self):
        self.w.send(encode_discover_routes())
        routes = {r["path"]: r for r in self.w.receive().routes}
        echo = routes["/echo"]
        self.assertEqual((echo["methods"], echo["websocket"], echo["headers"]),
                         (["GET"], True, True))
        self.assertNotIn("openapi", echo)
        self.assertIs(routes["/upload"]["stream_body"], True)

    def open_echo(self, task_id, protocols="chat.v1, chat.v2", marker=""):
        self.assign(task_id, "/echo", f"marker={marker}",
                    headers=[("sec-websocket-protocol", protocols)])
        accept = self.next()
        self.assertIsInstance(accept, WebSocketAccept)
        return accept

    def test_websocket_accept_echo_and_peer_close(self):
        marker = self.path("ws")
        accept = self.open_echo(1, marker=marker)
        self.assertEqual(accept.subprotocol, "chat.v1")  # the client's first that the route speaks
        self.assertEqual(self.next(), WebSocketMessage(1, False, b"chat.v1"))
        self.w.send(encode_websocket_message(1, False, "héllo".encode()))
        self.assertEqual(self.next(), WindowUpdate(1, 6))  # granted as the handler reads
        self.assertEqual(self.next(), WebSocketMessage(1, False, "héllo".encode()))
        self.w.send(encode_websocket_message(1, True, b"\x00\x01"))
        self.assertEqual(self.next(), WindowUpdate(1, 2))
        self.assertEqual(self.next(), WebSocketMessage(1, True, b"\x00\x01"))
        self.w.send(encode_websocket_close(1, 1001, "going"))
        self.assertEqual(self.next(), WebSocketClose(1, 1001, ""))
        with open(marker) as f:
            self.assertEqual(f.read(), "peer closed")

    def test_websocket_handler_closes_returns_or_raises(self):
        accept = self.open_echo(1, protocols="other")
        self.assertEqual(accept.subprotocol, "")
        self.assertEqual(self.next(), WebSocketMessage(1, False, b""))
        self.w.send(encode_websocket_message(1, False, b"close"))
        self.assertEqual(self.next(), WindowUpdate(1, 5))
        self.assertEqual(self.next(), WebSocketClose(1, 4000, "bye"))

        self.open_echo(2)
        self.next()
        self.w.send(encode_websocket_message(2, False, b"return"))
        self.next()
        self.assertEqual(self.next(), WebSocketClose(2, 1000, ""))

        self.open_echo(3)
        self.next()
        self.w.send(encode_websocket_message(3, False, b"raise"))
        self.next()
        self.assertEqual(self.next(), WebSocketClose(3, 1011, ""))

        self.open_echo(4)
        self.next()
        self.w.send(encode_cancel_task(4))
        self.assertEqual(self.next(), WebSocketClose(4, 1001, ""))

        self.w.send(encode_shutdown(True))
        code, stderr = self.w.finish()
        self.assertEqual(code, 0)
        self.assertIn("RuntimeError: websocket handler broke", stderr)

    def test_websocket_path_params_query_and_headers(self):
        self.w.send(encode_task_assignment(1, "GET", "/items/{item_id}", "/items/7", "q=x",
                                           [("item_id", "7")], [("x-test", "yes")], "r1", "",
                                           0, b""))
        self.assertEqual(self.next(), WebSocketAccept(1, "", []))
        message = self.next()
        self.assertEqual(json.loads(bytes(message.data)),
                         {"item_id": 7, "q": "x", "path": "/items/7", "header": "yes"})
        self.w.send(encode_websocket_close(1, 1006, ""))
        self.assertEqual(self.next(), WebSocketClose(1, 1000, ""))  # 1006 is never sent
        # An argument that does not bind refuses the handshake with the 422.
        self.w.send(encode_task_assignment(2, "GET", "/items/{item_id}", "/items/x", "",
                                           [("item_id", "x")], [], "r2", "", 0, b""))
        refused = self.next()
        self.assertEqual((type(refused), refused.status), (TaskResult, 422))

    def test_websocket_send_respects_the_window(self):
        self.assign(1, "/flood", "count=40")
        self.assertIsInstance(self.next(), WebSocketAccept)
        sent = 0
        while sent < INITIAL_WINDOW:
            msg = self.next()
            self.assertIsInstance(msg, WebSocketMessage)
            sent += len(msg.data)
        for task_id in (2, 3):
            self.assign(task_id, "/pid")
            msg = self.next()
            while isinstance(msg, WebSocketMessage):
                sent += len(msg.data)
                msg = self.next()
            self.assertEqual(msg.task_id, task_id)
        self.assertLess(sent, INITIAL_WINDOW + 65536)
        self.w.send(encode_window_update(1, 40 * 65536))
        while True:
            msg = self.next()
            if isinstance(msg, WebSocketClose):
                break
            sent += len(msg.data)
        self.assertEqual((sent, msg.code), (40 * 65536, 1000))


if __name__ == "__main__":
    unittest.main()
