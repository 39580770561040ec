"""What handlers return or raise: plain values, dataclasses, pydantic models, dates, bytes,
Response and HTTPException, as the TaskResult carries them."""

import datetime as dt
import enum
import io
import json
import unittest
import uuid
from contextlib import redirect_stderr
from dataclasses import dataclass

from neutrino import App, HTTPException, Response
from neutrino.internal.worker.executor import build_route_table, execute
from neutrino.internal.worker.protocol import HANDLER_FAILED, TaskAssignment


class Color(enum.Enum):
    RED = "red"


class Size(str, enum.Enum):
    BIG = "big"


@dataclass
class Point:
    x: int
    when: dt.date


def table_for(handlers):
    app = App()
    for path, handler in handlers.items():
        app.route(path)(handler)
    return build_route_table(app)


def run(handler, query=""):
    table = table_for({"/r": handler})
    task = TaskAssignment(1, "GET", "/r", "/r", query, [], [], "rid", "", 0, b"")
    status, flags, headers, body = execute(table, task)
    return status, flags, headers, bytes(body)


class ReturnValueTest(unittest.TestCase):
    def test_plain_json_values(self):
        for value, expected in (({"a": [1, 2.5, None, True]}, b'{"a": [1, 2.5, null, true]}'),
                                ([1], b"[1]"), (3, b"3"), ("hi", b'"hi"'), (None, b"null"),
                                ((1, 2), b"[1, 2]")):
            with self.subTest(value=value):
                self.assertEqual(run(lambda: value), (200, 0, [], expected))

    def test_dates_uuids_enums_dataclasses(self):
        value = {
            "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
            "day": dt.date(2024, 1, 2),
            "time": dt.time(8, 30),
            "id": uuid.UUID(int=1),
            "color": Color.RED,
            "size": Size.BIG,
            "point": Point(1, dt.date(2020, 5, 6)),
        }
        status, _, headers, body = run(lambda: value)
        self.assertEqual((status, headers), (200, []))
        self.assertEqual(json.loads(body), {
            "at": "2024-01-02T03:04:05+00:00", "day": "2024-01-02", "time": "08:30:00",
            "id": "00000000-0000-0000-0000-000000000001", "color": "red", "size": "big",
            "point": {"x": 1, "when": "2020-05-06"},
        })

    def test_a_dataclass_itself(self):
        self.assertEqual(run(lambda: Point(2, dt.date(2000, 1, 1)))[3],
                         b'{"x": 2, "when": "2000-01-01"}')

    def test_bytes_are_sent_as_they_are(self):
        self.assertEqual(run(lambda: b"\x00\xff"),
                         (200, 0, [("content-type", "application/octet-stream")], b"\x00\xff"))
        self.assertEqual(run(lambda: bytearray(b"ab"))[3], b"ab")

    def test_sets_are_not_json(self):
        with redirect_stderr(io.StringIO()):
            status, flags, _, body = run(lambda: {1, 2})
        self.assertEqual((status, flags), (500, HANDLER_FAILED))
        self.assertIn("not JSON-serializable", json.loads(body)["detail"])

    def test_pydantic_model(self):
        try:
            import pydantic
        except ImportError:
            self.skipTest("pydantic is not installed")

        class User(pydantic.BaseModel):
            name: str
            born: dt.date

        self.assertEqual(json.loads(run(lambda: User(name="a", born=dt.date(2001, 2, 3)))[3]),
                         {"name": "a", "born": "2001-02-03"})


class ResponseTest(unittest.TestCase):
    def test_str_body(self):
        response = Response("héllo", status=201, headers={"X-One": "1"})
        self.assertEqual(run(lambda: response), (
            201, 0, [("X-One", "1"), ("content-type", "text/plain; charset=utf-8")],
            "héllo".encode()))

    def test_bytes_body_and_media_type(self):
        self.assertEqual(run(lambda: Response(b"PNG", media_type="image/png")),
                         (200, 0, [("content-type", "image/png")], b"PNG"))
        self.assertEqual(run(lambda: Response(b"x"))[2],
                         [("content-type", "application/octet-stream")])
        self.assertEqual(run(lambda: Response("<p>", media_type="text/html"))[2],
                         [("content-type", "text/html; charset=utf-8")])

    def test_json_body(self):
        self.assertEqual(run(lambda: Response({"a": 1}, status=202)),
                         (202, 0, [("content-type", "application/json")], b'{"a": 1}'))

    def test_no_body(self):
        self.assertEqual(run(lambda: Response(status=204)), (204, 0, [], b""))

    def test_content_type_header_wins(self):
        response = Response("x", headers=[("Content-Type", "text/csv")], media_type="text/plain")
        self.assertEqual(run(lambda: response)[2], [("Content-Type", "text/csv")])

    def test_repeated_headers(self):
        response = Response(None, 200, [("set-cookie", "a=1"), ("set-cookie", "b=2")])
        self.assertEqual(run(lambda: response)[2], [("set-cookie", "a=1"), ("set-cookie", "b=2")])

    def test_bad_status(self):
        for status in (99, 600, "200", True):
            with self.subTest(status=status), self.assertRaises(ValueError):
                Response(None, status)


class HTTPExceptionTest(unittest.TestCase):
    def test_status_detail_headers(self):
        def handler():
            raise HTTPException(404, "no such user", headers={"x-why": "gone"})

        status, flags, headers, body = run(handler)
        self.assertEqual((status, flags, headers), (404, 0, [("x-why", "gone")]))
        self.assertEqual(body, b'{"error": "Not Found", "detail": "no such user"}')

    def test_detail_defaults_to_the_reason_and_may_be_any_json(self):
        def default():
            raise HTTPException(403)

        def structured():
            raise HTTPException(409, {"conflict": ["a", 1]})

        self.assertEqual(json.loads(run(default)[3]), {"error": "Forbidden", "detail": "Forbidden"})
        self.assertEqual(json.loads(run(structured)[3]),
                         {"error": "Conflict", "detail": {"conflict": ["a", 1]}})

    def test_reason_phrases_match_node(self):
        def teapot():
            raise HTTPException(418, "short and stout")

        def unknown():
            raise HTTPException(599, "?")

        self.assertEqual(json.loads(run(teapot)[3])["error"], "I'm a Teapot")
        self.assertEqual(json.loads(run(unknown)[3])["error"], "Error")

    def test_no_traceback_logged(self):
        def handler():
            raise HTTPException(400, "bad")

        stderr = io.StringIO()
        with redirect_stderr(stderr):
            run(handler)
        self.assertEqual(stderr.getvalue(), "")

    def test_attributes(self):
        exc = HTTPException(401, "who?", {"www-authenticate": "Bearer"})
        self.assertEqual((exc.status, exc.status_code, exc.detail), (401, 401, "who?"))
        self.assertEqual(exc.headers["WWW-Authenticate"], "Bearer")
        self.assertEqual(str(exc), "401 Unauthorized: who?")


if __name__ == "__main__":
    unittest.main()
