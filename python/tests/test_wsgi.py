"""The WSGI adapter, driven by hand-written apps: no framework needed."""

import io
import sys
import unittest

from neutrino.internal.worker.protocol import APP_HEADERS, HANDLER_FAILED, TaskAssignment
from neutrino.internal.worker.streams import Stream
from neutrino.internal.wsgi import BUFFER_LIMIT, WsgiAdapter, build_environ


def task(method="GET", path="/", query="", headers=(), body=b""):
    headers = list(headers) or [("host", "example.com:8000")]
    return TaskAssignment(3, method, "/*", path, query, [], headers, "rid", "10.0.0.1", 4321,
                          memoryview(body))


class Closing:
    """A response iterable that records its close()."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.closed = 0

    def __iter__(self):
        return iter(self.pieces)

    def close(self):
        self.closed += 1


def quiet(test):
    """Runs a test with stderr captured (the adapter logs the app's tracebacks)."""
    def wrapper(self):
        saved, sys.stderr = sys.stderr, io.StringIO()
        try:
            test(self)
        finally:
            sys.stderr = saved
    return wrapper


class Environ(unittest.TestCase):
    def test_pep_3333_environ(self):
        t = task("POST", "/caf%C3%A9/x", "a=1", [
            ("host", "example.com:8000"), ("content-type", "application/json"),
            ("content-length", "2"), ("cookie", "a=1"), ("cookie", "b=2"), ("x-many", "1"),
            ("x-many", "2"), ("x_spoof", "1")], b"{}")
        env = build_environ(t, "/app")
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["SCRIPT_NAME"], "/app")
        self.assertEqual(env["PATH_INFO"], "/caf\u00c3\u00a9/x")  # bytes as latin-1
        self.assertEqual(env["QUERY_STRING"], "a=1")
        self.assertEqual(env["CONTENT_TYPE"], "application/json")
        self.assertEqual(env["CONTENT_LENGTH"], "2")
        self.assertEqual(env["SERVER_NAME"], "example.com")
        self.assertEqual(env["SERVER_PORT"], "8000")
        self.assertEqual(env["REMOTE_ADDR"], "10.0.0.1")
        self.assertEqual(env["HTTP_COOKIE"], "a=1; b=2")
        self.assertEqual(env["HTTP_X_MANY"], "1,2")
        self.assertNotIn("HTTP_X_SPOOF", env)
        self.assertEqual(env["wsgi.input"].read(), b"{}")
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertIs(env["wsgi.errors"], sys.stderr)

    def test_a_host_without_a_port_has_the_schemes(self):
        env = build_environ(task(headers=[("host", "app.example"), ("x-forwarded-proto", "https")]))
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"], env["wsgi.url_scheme"]),
                         ("app.example", "443", "https"))
        env = build_environ(task(headers=[("x-forwarded-proto", "https")]))  # no Host (HTTP/1.0)
        self.assertEqual(env["SERVER_PORT"], "443")
        env = build_environ(task(headers=[("host", "app.example")]))
        self.assertEqual(env["SERVER_PORT"], "80")


class Responses(unittest.TestCase):
    def test_a_list_is_one_buffered_result_and_closed(self):
        body = Closing([b"hello"])

        def app(environ, start_response):
            start_response("201 Created", [("Content-Type", "text/plain")])
            return body

        # Closing is not a list: its Content-Length is unknown, so it streams... unless declared.
        def listed(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hi"]

        self.assertEqual(WsgiAdapter(listed).execute(task()),
                         (200, APP_HEADERS, [("content-type", "text/plain")], b"hi"))
        outcome = WsgiAdapter(app).execute(task())
        self.assertIsInstance(outcome, Stream)
        self.assertEqual(b"".join(outcome.content), b"hello")
        outcome.content.close()
        self.assertEqual(body.closed, 1)

    def test_a_list_is_buffered_unless_it_is_too_large(self):
        def small(environ, start_response):
            start_response("200 OK", [])
            return [b"a", b"b", b"c"]

        def large(environ, start_response):
            start_response("200 OK", [])
            return [b"x" * (BUFFER_LIMIT // 2)] * 3

        self.assertEqual(WsgiAdapter(small).execute(task())[3], b"abc")
        outcome = WsgiAdapter(large).execute(task())
        self.assertIsInstance(outcome, Stream)
        self.assertEqual(sum(len(p) for p in outcome.content), 3 * (BUFFER_LIMIT // 2))

    def test_a_length_that_lies_does_not_fill_memory(self):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "10")])
            return iter([b"x" * BUFFER_LIMIT, b"y", b"z"])

        outcome = WsgiAdapter(app).execute(task())
        self.assertIsInstance(outcome, Stream)  # the orchestrator cuts it at its length

    def test_a_declared_length_is_buffered(self):
        body = Closing([b"ab", b"cd"])

        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "4")])
            return body

        self.assertEqual(WsgiAdapter(app).execute(task())[3], b"abcd")
        self.assertEqual(body.closed, 1)

    def test_a_generator_streams_and_start_response_may_come_late(self):
        def app(environ, start_response):
            def gen():
                start_response("200 OK", [("Content-Type", "text/plain")])
                yield b""
                yield b"one "
                yield b"two"
            return gen()

        outcome = WsgiAdapter(app).execute(task())
        self.assertIsInstance(outcome, Stream)
        self.assertEqual((outcome.status, outcome.headers), (200, [("content-type", "text/plain")]))
        self.assertEqual(b"".join(outcome.content), b"one two")

    def test_close_runs_when_the_stream_is_dropped_unread(self):
        body = Closing([b"a", b"b"])

        def app(environ, start_response):
            start_response("200 OK", [])
            return body

        outcome = WsgiAdapter(app).execute(task())
        outcome.content.close()
        outcome.content.close()
        self.assertEqual(body.closed, 1)

    def test_a_head_alone_passes_the_apps_length_on(self):
        """The orchestrator keeps it for a bodiless HEAD (tests/faults/foreign-answers.test.ts)."""
        def app(environ, start_response):
            start_response("200 OK", [("Content-Length", "42")])
            return ()

        outcome = WsgiAdapter(app).execute(task("HEAD"))
        self.assertEqual(outcome, (200, APP_HEADERS, [("content-length", "42")], b""))

    def test_the_write_callable(self):
        def app(environ, start_response):
            write = start_response("200 OK", [])
            write(b"early ")
            return [b"late"]

        self.assertEqual(WsgiAdapter(app).execute(task())[3], b"early late")

    def test_the_request_body_is_wsgi_input(self):
        def app(environ, start_response):
            data = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            start_response("200 OK", [])
            return [data.upper()]

        self.assertEqual(WsgiAdapter(app).execute(task("POST", body=b"abc"))[3], b"ABC")

    @quiet
    def test_app_raising_is_a_500_and_close_still_runs(self):
        body = Closing([])

        class Failing(Closing):
            def __iter__(self):
                raise RuntimeError("secret")

        failing = Failing([])

        def app(environ, start_response):
            start_response("200 OK", [])
            return failing

        def raises(environ, start_response):
            raise KeyError("secret")

        status, flags, _, data = WsgiAdapter(app).execute(task())
        self.assertEqual((status, flags), (500, HANDLER_FAILED))
        self.assertNotIn(b"secret", data)
        self.assertEqual(failing.closed, 1)
        self.assertEqual(WsgiAdapter(raises).execute(task())[0], 500)
        del body

    @quiet
    def test_error_page_replaces_the_head_with_exc_info(self):
        def app(environ, start_response):
            start_response("200 OK", [])
            try:
                raise ValueError("x")
            except ValueError:
                start_response("500 Internal Server Error", [("x-error", "1")], sys.exc_info())
            return [b"sorry"]

        self.assertEqual(WsgiAdapter(app).execute(task()),
                         (500, APP_HEADERS, [("x-error", "1")], b"sorry"))


if __name__ == "__main__":
    unittest.main()


class SchemeTest(unittest.TestCase):
    def test_url_scheme_follows_the_orchestrators_x_forwarded_proto(self):
        secure = task(headers=[("host", "a.example"), ("x-forwarded-proto", "https")])
        self.assertEqual(build_environ(secure)["wsgi.url_scheme"], "https")
        self.assertEqual(build_environ(task())["wsgi.url_scheme"], "http")
