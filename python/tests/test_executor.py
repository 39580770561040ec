"""Executing TaskAssignments: statuses, flags and the exact response bodies."""

import io
import json
import unittest
from unittest import mock
from contextlib import redirect_stderr

from neutrino import App
from neutrino.internal.worker import executor
from neutrino.internal.worker.executor import build_route_table, execute
from neutrino.internal.worker.protocol import HANDLER_FAILED, TaskAssignment


def make_app() -> App:
    app = App()

    @app.route("/add")
    def add(x: int, y: int):
        return {"result": x + y}

    @app.route("/process", methods=["POST"])
    def process(data: dict):
        return {"processed": data}

    @app.route("/items", methods=["POST"])
    def items(values: list):
        return len(values)

    @app.route("/boom")
    def boom():
        return 1 / 0

    @app.route("/quiet")
    def quiet():
        raise KeyError

    @app.route("/set")
    def returns_set():
        return {"a set": {1}}

    @app.route("/nan")
    def returns_nan():
        return float("nan")

    @app.route("/text")
    def text():
        return "héllo"

    @app.route("/nothing")
    def nothing():
        return None

    return app


TABLE = build_route_table(make_app())


def run(method, route, query="", body=b"", headers=(), params=()):
    task = TaskAssignment(1, method, route, route, query, list(params), list(headers), "r-1", "", 0, body)
    return execute(TABLE, task)


def expected_body(obj) -> bytes:
    return json.dumps(obj).encode()  # plain json.dumps: default separators


class SuccessTest(unittest.TestCase):
    def test_add_result_exact_bytes(self):
        self.assertEqual(run("POST", "/add", body=b'{"x": 2, "y": 3}'), (200, 0, [], b'{"result": 5}'))
        self.assertEqual(run("GET", "/add", "x=2&y=3"), (200, 0, [], b'{"result": 5}'))

    def test_content_type_is_not_checked(self):
        # curl -d sends a form content type with a JSON body.
        headers = [("content-type", "application/x-www-form-urlencoded")]
        self.assertEqual(run("POST", "/add", body=b'{"x": 2, "y": 3}', headers=headers)[3],
                         b'{"result": 5}')

    def test_process(self):
        status, _, _, body = run("POST", "/process", body=b'{"data": {"k": [1, "\xc3\xa9"]}}')
        self.assertEqual((status, json.loads(body)), (200, {"processed": {"k": [1, "é"]}}))

    def test_non_object_body_goes_to_the_single_parameter(self):
        self.assertEqual(run("POST", "/items", body=b"[1, 2]"), (200, 0, [], b"2"))

    def test_any_json_value(self):
        self.assertEqual(run("GET", "/text")[3], b'"h\\u00e9llo"')
        self.assertEqual(run("GET", "/nothing")[3], b"null")

    def test_body_as_memoryview(self):
        self.assertEqual(run("POST", "/add", body=memoryview(b'{"x": 1, "y": 1}'))[3], b'{"result": 2}')


class ClientErrorTest(unittest.TestCase):
    def test_missing_argument_422(self):
        status, flags, headers, body = run("GET", "/add", "x=2")
        self.assertEqual((status, flags, headers), (422, 0, []))
        self.assertEqual(body, expected_body({
            "error": "Unprocessable Entity",
            "detail": "missing argument 'y'",
            "errors": [{"loc": ["query", "y"], "msg": "missing argument 'y'", "type": "missing"}],
        }))

    def test_unexpected_and_type_errors_422(self):
        status, _, _, body = run("POST", "/add", body=b'{"x": "a", "y": 1, "z": 0}')
        self.assertEqual(status, 422)
        decoded = json.loads(body)
        self.assertEqual([e["type"] for e in decoded["errors"]], ["int_parsing", "unexpected"])
        self.assertEqual(decoded["detail"],
                         "argument 'x' must be int, got \"a\"; unexpected argument 'z'")

    def test_object_body_for_a_dict_parameter_needs_its_name(self):
        status, _, _, body = run("POST", "/process", body=b"[1, 2]")
        self.assertEqual(status, 422)
        self.assertEqual(json.loads(body)["errors"][0]["loc"], ["body", "data"])

    def test_invalid_json_400(self):
        status, flags, headers, body = run("POST", "/add", body=b"x=2&y=3")
        self.assertEqual((status, flags, headers), (400, 0, []))
        decoded = json.loads(body)
        self.assertEqual(decoded["error"], "Bad Request")
        self.assertEqual(decoded["detail"],
                         "request body is not valid JSON: Expecting value: line 1 column 1 (char 0)")
        self.assertEqual(body, expected_body(decoded))

    def test_unknown_route_404(self):
        status, _, _, body = run("GET", "/nope")
        self.assertEqual(status, 404)
        self.assertEqual(body, expected_body({"error": "Not Found",
                                              "detail": "no route '/nope' in this app"}))

    def test_method_not_allowed_405(self):
        status, flags, headers, body = run("GET", "/process")
        self.assertEqual((status, flags, headers), (405, 0, [("allow", "POST")]))
        self.assertEqual(body, expected_body({
            "error": "Method Not Allowed",
            "detail": "method GET is not allowed for route '/process' (allowed: POST)",
        }))


class HandlerFailureTest(unittest.TestCase):
    def test_exception_500_with_traceback_on_stderr(self):
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            status, flags, headers, body = run("GET", "/boom")
        self.assertEqual((status, flags, headers), (500, HANDLER_FAILED, []))
        # The client learns that it failed and the request id, never the exception's text.
        answer = json.loads(body)
        self.assertEqual(answer["error"], "Internal Server Error")
        self.assertEqual(answer["detail"], "the handler failed; the server log has the details")
        self.assertTrue(answer["request_id"])
        self.assertNotIn(b"ZeroDivision", body)
        log = stderr.getvalue()
        self.assertIn("handler 'boom' failed on GET /boom", log)
        self.assertIn("Traceback (most recent call last)", log)
        self.assertIn("return 1 / 0", log)
        self.assertIn("ZeroDivisionError: division by zero", log)
        self.assertNotIn("entry.handler(", log)  # the user's frames only, not the executor's

    def test_debug_puts_the_exception_in_the_body(self):
        with mock.patch.object(executor, "DEBUG", True), redirect_stderr(io.StringIO()):
            status, _, _, body = run("GET", "/boom")
            _, _, _, quiet = run("GET", "/quiet")
        answer = json.loads(body)
        self.assertEqual(status, 500)
        self.assertEqual(answer["detail"], "ZeroDivisionError: division by zero")
        self.assertEqual(answer["exception"], "ZeroDivisionError")
        self.assertIn("return 1 / 0", answer["traceback"])
        self.assertEqual(json.loads(quiet)["detail"], "KeyError")

    def test_still_serving_after_a_failure(self):
        with redirect_stderr(io.StringIO()):
            run("GET", "/boom")
        self.assertEqual(run("GET", "/add", "x=1&y=1")[0], 200)

    def test_not_serializable_500(self):
        with redirect_stderr(io.StringIO()):
            status, flags, headers, body = run("GET", "/set")
        self.assertEqual((status, flags, headers), (500, HANDLER_FAILED, []))
        self.assertEqual(body, expected_body({
            "error": "Internal Server Error",
            "detail": "return value of handler 'returns_set' is not JSON-serializable: "
                      "Object of type set is not JSON serializable",
        }))

    def test_nan_is_not_json(self):
        with redirect_stderr(io.StringIO()):
            status, flags, _, body = run("GET", "/nan")
        self.assertEqual((status, flags), (500, HANDLER_FAILED))
        self.assertIn("not JSON-serializable", json.loads(body)["detail"])


class RouteTableTest(unittest.TestCase):
    def test_table_in_registration_order(self):
        self.assertEqual(list(TABLE)[:2], ["/add", "/process"])
        self.assertEqual(TABLE["/add"].methods, frozenset({"GET", "POST"}))


if __name__ == "__main__":
    unittest.main()
