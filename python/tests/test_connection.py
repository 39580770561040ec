"""The worker's blocking frame reader and writer, over a real socket pair."""

import socket
import threading
import unittest

from neutrino.internal.worker import connection as connection_module
from neutrino.internal.worker.connection import Connection
from neutrino.internal.worker.protocol import (
    DiscoverRoutes,
    FrameDecoder,
    Heartbeat,
    ProtocolError,
    TaskResult,
    encode_discover_routes,
    encode_heartbeat,
    encode_task_assignment,
)


class ConnectionTest(unittest.TestCase):
    def setUp(self):
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ours.settimeout(5)  # a read that should not block fails instead of hanging
        self.theirs.settimeout(5)
        self.conn = Connection(self.ours)

    def tearDown(self):
        self.ours.close()
        self.theirs.close()

    def test_frames_in_one_write_and_split(self):
        a = encode_task_assignment(1, "GET", "/a", "/a", "x=1", [], [], "r", "", 0, b"")
        b = encode_task_assignment(2, "POST", "/b", "/b", "", [("id", "7")], [], "r", "", 0, b"{}")
        self.theirs.sendall(a + b[:7])
        first = self.conn.read_message()
        self.assertEqual((first.task_id, first.query), (1, "x=1"))
        self.theirs.sendall(b[7:] + encode_discover_routes())
        second = self.conn.read_message()
        self.assertEqual((second.task_id, second.params, bytes(second.body)), (2, [("id", "7")], b"{}"))
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())

    def test_frame_larger_than_the_buffer(self):
        body = bytes(range(256)) * 4096  # 1 MiB
        frame = encode_task_assignment(9, "POST", "/big", "/big", "", [], [], "r", "", 0, body)
        writer = threading.Thread(target=self.theirs.sendall, args=(frame + encode_discover_routes(),))
        writer.start()
        message = self.conn.read_message()
        self.assertEqual(bytes(message.body), body)
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        writer.join()
        self.assertEqual(len(self.conn._buf), connection_module._BUFFER_SIZE)  # given back

    def test_many_frames_straddling_the_buffer_end(self):
        # ~1.4 MiB of frames in one write: partial frames keep landing at the buffer's end and
        # must be moved to its front.
        frames = [
            encode_task_assignment(i, "POST", "/a", "/a", "", [], [], "r", "", 0, bytes([i % 251]) * (500 + i))
            for i in range(1000)
        ]
        writer = threading.Thread(target=self.theirs.sendall, args=(b"".join(frames),))
        writer.start()
        for i in range(1000):
            message = self.conn.read_message()
            self.assertEqual((message.task_id, bytes(message.body)), (i, bytes([i % 251]) * (500 + i)))
        writer.join()

    def test_clean_end_of_stream(self):
        self.theirs.sendall(encode_discover_routes())
        self.theirs.shutdown(socket.SHUT_WR)
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertIsNone(self.conn.read_message())

    def test_end_of_stream_inside_a_frame(self):
        self.theirs.sendall(encode_discover_routes()[:3])
        self.theirs.shutdown(socket.SHUT_WR)
        with self.assertRaises(ProtocolError) as caught:
            self.conn.read_message()
        self.assertEqual(caught.exception.kind, "truncated")

    def test_absurd_length_rejected_without_waiting(self):
        self.theirs.sendall(b"\xff\xff\xff\xff")  # and nothing more: the socket stays open
        with self.assertRaises(ProtocolError) as caught:
            self.conn.read_message()
        self.assertEqual(caught.exception.kind, "too_large")

    def test_send_result_small_and_large(self):
        def read_all(received, expected):
            while len(received) < expected:
                received.extend(self.theirs.recv(1 << 20))

        for body in (b'{"result": 5}', b"x" * (3 * 1024 * 1024)):
            received = bytearray()
            expected = 4 + 1 + 4 + 2 + 1 + 2 + len(body)
            reader = threading.Thread(target=read_all, args=(received, expected))
            reader.start()
            self.conn.send_result(5, 200, 0, [], body)
            reader.join()
            (message,) = FrameDecoder().feed(bytes(received))
            self.assertEqual(message, TaskResult(5, 200, 0, [], body))


class HeartbeatTest(unittest.TestCase):
    """enable_heartbeat on a blocking socket, as the worker's is (SO_RCVTIMEO needs one)."""

    def setUp(self):
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.theirs.settimeout(5)
        self.conn = Connection(self.ours)
        self.conn.enable_heartbeat(0.05, encode_heartbeat("w1"))

    def tearDown(self):
        self.ours.close()
        self.theirs.close()

    def send_later(self, delay, data):
        timer = threading.Timer(delay, self.theirs.sendall, args=(data,))
        timer.start()
        self.addCleanup(timer.join)

    def heartbeats_sent(self):
        self.theirs.settimeout(0.01)
        received = bytearray()
        try:
            while True:
                received += self.theirs.recv(65536)
        except socket.timeout:
            pass
        messages = FrameDecoder().feed(bytes(received))
        self.assertTrue(all(m == Heartbeat("w1") for m in messages), messages)
        return len(messages)

    def test_heartbeats_while_waiting(self):
        self.send_later(0.4, encode_discover_routes())
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertGreaterEqual(self.heartbeats_sent(), 2)  # ~8 due; slack for a busy machine

    def test_heartbeats_between_the_pieces_of_a_frame(self):
        frame = encode_discover_routes()
        self.theirs.sendall(frame[:3])
        self.send_later(0.3, frame[3:])
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertGreaterEqual(self.heartbeats_sent(), 2)

    def test_no_heartbeat_when_frames_keep_coming(self):
        self.theirs.sendall(encode_discover_routes() * 3)
        for _ in range(3):
            self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertEqual(self.heartbeats_sent(), 0)

    def test_any_interval_is_accepted(self):
        for interval in (1e-9, 0.9999999, 2.5, 1e300):
            self.conn.enable_heartbeat(interval, encode_heartbeat("w1"))


if __name__ == "__main__":
    unittest.main()
