"""The codec against protocol/vectors.json (shared with the TypeScript codec), byte for byte."""

import json
import os
import unittest

from neutrino.internal.worker.protocol import (
    DEFAULT_MAX_FRAME,
    CANCEL_CLIENT_GONE,
    CancelTask,
    DiscoverRoutes,
    FrameDecoder,
    Hello,
    ProtocolError,
    Shutdown,
    StartupError,
    TaskAssignment,
    TaskResult,
    decode_frame,
    encode_cancel_task,
    encode_hello,
    encode_message,
    encode_route_registry,
    encode_startup_error,
    encode_task_assignment,
    encode_task_result,
    encode_task_result_head,
    message_from_dict,
    message_to_dict,
)

VECTORS_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "protocol", "vectors.json"
)

with open(VECTORS_PATH, encoding="utf-8") as _f:
    VECTORS = json.load(_f)


def decode_all(data: bytes, max_frame: int, byte_by_byte: bool):
    decoder = FrameDecoder(max_frame)
    messages = []
    if byte_by_byte:
        for i in range(len(data)):
            messages.extend(decoder.feed(data[i : i + 1]))
    else:
        messages.extend(decoder.feed(data))
    decoder.end()
    return messages


class ValidVectorsTest(unittest.TestCase):
    def test_decode_to_message(self):
        for vector in VECTORS["valid"]:
            for byte_by_byte in (False, True):
                with self.subTest(vector["name"], byte_by_byte=byte_by_byte):
                    messages = decode_all(
                        bytes.fromhex(vector["hex"]), VECTORS["max_frame"], byte_by_byte
                    )
                    self.assertEqual(len(messages), 1)
                    self.assertEqual(message_to_dict(messages[0]), vector["message"])

    def test_encode_to_hex(self):
        for vector in VECTORS["valid"]:
            with self.subTest(vector["name"]):
                frame = encode_message(message_from_dict(vector["message"]))
                self.assertEqual(frame.hex(), vector["hex"])

    def test_all_vectors_in_one_stream(self):
        stream = b"".join(bytes.fromhex(v["hex"]) for v in VECTORS["valid"])
        messages = decode_all(stream, VECTORS["max_frame"], byte_by_byte=False)
        self.assertEqual([message_to_dict(m) for m in messages],
                         [v["message"] for v in VECTORS["valid"]])

    def test_decoded_equals_constructed(self):
        vector = next(v for v in VECTORS["valid"] if v["name"] == "TaskAssignment GET with query")
        decoded = decode_frame(bytes.fromhex(vector["hex"]))
        self.assertEqual(
            decoded,
            TaskAssignment(4294967295, "GET", "/add", "/add", "x=2&y=3", [], [], "r-1", "", 0, b""),
        )


class InvalidVectorsTest(unittest.TestCase):
    def test_rejected_with_kind(self):
        for vector in VECTORS["invalid"]:
            for byte_by_byte in (False, True):
                with self.subTest(vector["name"], byte_by_byte=byte_by_byte):
                    with self.assertRaises(ProtocolError) as caught:
                        decode_all(bytes.fromhex(vector["hex"]), VECTORS["max_frame"], byte_by_byte)
                    self.assertEqual(caught.exception.kind, vector["error"])

    def test_absurd_length_fails_on_its_four_bytes(self):
        decoder = FrameDecoder()
        self.assertEqual(decoder.feed(b"\xff\xff"), [])
        with self.assertRaises(ProtocolError) as caught:
            decoder.feed(b"\xff\xff")  # no type byte, no body: the length alone is enough
        self.assertEqual(caught.exception.kind, "too_large")

    def test_zero_length_fails_on_its_four_bytes(self):
        with self.assertRaises(ProtocolError) as caught:
            FrameDecoder().feed(b"\x00\x00\x00\x00")
        self.assertEqual(caught.exception.kind, "malformed")

    def test_default_max_frame(self):
        self.assertEqual(DEFAULT_MAX_FRAME, 64 * 1024 * 1024 + 64 * 1024)
        decoder = FrameDecoder()
        self.assertEqual(decoder.feed((DEFAULT_MAX_FRAME).to_bytes(4, "big")), [])
        with self.assertRaises(ProtocolError) as caught:
            FrameDecoder().feed((DEFAULT_MAX_FRAME + 1).to_bytes(4, "big"))
        self.assertEqual(caught.exception.kind, "too_large")

    def test_end_of_stream_between_frames_is_fine(self):
        decoder = FrameDecoder()
        self.assertEqual(decoder.feed(bytes.fromhex("0000000102")), [DiscoverRoutes()])
        decoder.end()  # raises ProtocolError when bytes of a frame are left over
        decoder.feed(bytes.fromhex("00000001"))
        with self.assertRaises(ProtocolError):
            decoder.end()

    def test_json_constants_rejected(self):
        frame = bytes.fromhex("0000000e01") + b'{"pid":NaN}'
        frame = (len(frame) - 4).to_bytes(4, "big") + frame[4:]
        with self.assertRaises(ProtocolError) as caught:
            decode_frame(frame)
        self.assertEqual(caught.exception.kind, "malformed")

    def test_missing_json_field_is_malformed(self):
        payload = b'{"worker_id":"w0","pid":"1","runtime":"python","concurrency":1}'
        frame = (len(payload) + 1).to_bytes(4, "big") + b"\x01" + payload
        with self.assertRaises(ProtocolError) as caught:
            decode_frame(frame)
        self.assertEqual(caught.exception.kind, "malformed")

    def test_hello_fields_must_be_strings(self):
        for payload in (b'{"worker_id":"w1","secret":7}', b'{"worker_id":null,"secret":"ab"}',
                        b'{"secret":"ab"}', b'["w1","ab"]'):
            with self.subTest(payload=payload):
                frame = (len(payload) + 1).to_bytes(4, "big") + b"\x07" + payload
                with self.assertRaises(ProtocolError) as caught:
                    decode_frame(frame)
                self.assertEqual(caught.exception.kind, "malformed")

    def test_empty_cancel_task_is_malformed(self):
        with self.assertRaises(ProtocolError) as caught:
            decode_frame(bytes.fromhex("0000000112"))
        self.assertEqual(caught.exception.kind, "malformed")


class EncodingTest(unittest.TestCase):
    def test_task_result_head_plus_body_is_the_frame(self):
        for headers in ([], [("content-type", "text/plain")]):
            body = b'{"result": 5}'
            head = encode_task_result_head(3, 200, 0, headers, len(body))
            self.assertEqual(head + body, encode_task_result(3, 200, 0, headers, body))
            self.assertEqual(decode_frame(head + body), TaskResult(3, 200, 0, headers, body))

    def test_unknown_json_keys_are_ignored(self):
        payload = b'{"kind":"x","message":"m","traceback":"","extra":[1]}'
        frame = (len(payload) + 1).to_bytes(4, "big") + b"\x06" + payload
        self.assertEqual(decode_frame(frame), StartupError("x", "m", ""))

    def test_json_keeps_non_ascii_and_key_order(self):
        frame = encode_startup_error("import_error", "é", "")
        self.assertEqual(frame[5:], '{"kind":"import_error","message":"é","traceback":""}'.encode())

    def test_lone_surrogate_is_escaped(self):
        frame = encode_startup_error("import_error", "bad \udcff name", "")
        frame[5:].decode("utf-8")  # valid UTF-8
        self.assertIn(b"\\udcff", frame)
        self.assertEqual(decode_frame(frame).message, "bad \udcff name")

    def test_string_too_long_for_its_field(self):
        with self.assertRaises(ValueError):
            encode_task_assignment(1, "M" * 256, "/", "/", "", [], [], "r", "", 0, b"")
        with self.assertRaises(ValueError):
            encode_task_assignment(1, "GET", "/" * 65536, "/", "", [], [], "r", "", 0, b"")

    def test_hello_and_cancel_task_round_trip(self):
        for message in (Hello("w0", ""), Hello("wé", "9f86d081"), CancelTask(0),
                        CancelTask(0xFFFFFFFF), CancelTask(5, CANCEL_CLIENT_GONE)):
            with self.subTest(message=message):
                self.assertEqual(decode_frame(encode_message(message)), message)
        payload = b'{"worker_id":"w1","secret":"ab"}'
        self.assertEqual(encode_hello("w1", "ab"), b"\x00\x00\x00\x21\x07" + payload)
        self.assertEqual(encode_cancel_task(77), bytes.fromhex("00000006120000004d00"))
        self.assertEqual(encode_cancel_task(78, CANCEL_CLIENT_GONE),
                         bytes.fromhex("00000006120000004e01"))

    def test_route_registry_flags(self):
        """Keys in the contract's order, flags only when true, openapi passed through."""
        frame = encode_route_registry([
            {"openapi": {"summary": "S"}, "sync": True, "methods": ["GET"], "path": "/a",
             "headers": True},
            {"path": "/b", "methods": ["POST"], "headers": False, "sync": None},
            ("/c", ["GET", "POST"]),
        ])
        self.assertEqual(
            frame[5:],
            b'{"routes":[{"path":"/a","methods":["GET"],"headers":true,"sync":true,'
            b'"openapi":{"summary":"S"}},{"path":"/b","methods":["POST"]},'
            b'{"path":"/c","methods":["GET","POST"]}]}',
        )
        decoded = decode_frame(frame)
        self.assertEqual(decoded.routes[0], {"path": "/a", "methods": ["GET"], "headers": True,
                                             "sync": True, "openapi": {"summary": "S"}})
        self.assertEqual(encode_message(decoded), frame)

    def test_shutdown_round_trip(self):
        for graceful in (True, False):
            self.assertEqual(decode_frame(encode_message(Shutdown(graceful))), Shutdown(graceful))

    def test_body_survives_later_feeds(self):
        decoder = FrameDecoder()
        first = encode_task_assignment(1, "POST", "/a", "/a", "", [], [], "r", "", 0, b"first")
        second = encode_task_assignment(2, "POST", "/a", "/a", "", [], [], "r", "", 0, b"second")
        (message,) = decoder.feed(first + second[:3])
        decoder.feed(second[3:])
        self.assertEqual(bytes(message.body), b"first")


if __name__ == "__main__":
    unittest.main()
