"""The worker's blocking frame reader and writer, over a real socket pair."""

import socket
import struct
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

TIMEVAL = struct.Struct("@ll")


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

    def send_after_heartbeats(self, count, data):
        """From another thread: reads `count` heartbeats from the worker's side, then sends `data`.

        Sends `data` anyway after 5 s without a heartbeat, so a broken heartbeat fails the test's
        count instead of blocking read_message forever. Returns a list that ends up holding the
        number of heartbeats seen.
        """
        seen = []

        def run():
            decoder, beats = FrameDecoder(), 0
            try:
                while 0 <= beats < count:
                    chunk = self.theirs.recv(65536)
                    if not chunk:
                        break
                    for message in decoder.feed(chunk):
                        beats = beats + 1 if message == Heartbeat("w1") else -1  # -1: not a heartbeat
            except socket.timeout:
                pass
            finally:
                seen.append(beats)
                self.theirs.sendall(data)

        thread = threading.Thread(target=run)
        thread.start()
        self.addCleanup(thread.join)
        return seen

    def heartbeats_sent(self):
        """Heartbeats already written to the socket and not yet read; does not wait."""
        self.theirs.setblocking(False)
        received = bytearray()
        try:
            while True:
                chunk = self.theirs.recv(65536)
                if not chunk:
                    break
                received += chunk
        except BlockingIOError:
            pass
        messages = FrameDecoder().feed(bytes(received))
        self.assertTrue(all(m == Heartbeat("w1") for m in messages), messages)
        return len(messages)

    def test_heartbeats_while_waiting(self):
        seen = self.send_after_heartbeats(3, encode_discover_routes())
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertEqual(seen, [3])

    def test_heartbeats_between_the_pieces_of_a_frame(self):
        frame = encode_discover_routes()
        self.theirs.sendall(frame[:3])
        seen = self.send_after_heartbeats(3, frame[3:])
        self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertEqual(seen, [3])

    def test_no_heartbeat_when_frames_keep_coming(self):
        self.theirs.sendall(encode_discover_routes() * 3)
        for _ in range(3):
            self.assertEqual(self.conn.read_message(), DiscoverRoutes())
        self.assertEqual(self.heartbeats_sent(), 0)

    def test_any_interval_is_accepted(self):
        # The receive timeout the kernel holds afterwards (rounded to its clock tick): never zero,
        # which would mean "block forever" and stop the heartbeats.
        for interval, expected in ((1e-9, None), (0.9999999, 1.0), (2.5, 2.5), (1e300, 2**31 - 1)):
            self.conn.enable_heartbeat(interval, encode_heartbeat("w1"))
            raw = self.ours.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, TIMEVAL.size)
            seconds, micros = TIMEVAL.unpack(raw)
            timeout = seconds + micros / 1e6
            self.assertGreater(timeout, 0, interval)
            if expected is not None:
                self.assertAlmostEqual(timeout, expected, delta=0.02, msg=interval)

if __name__ == "__main__":
    unittest.main()
