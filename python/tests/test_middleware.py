"""@app.middleware: sync and async chains, their order, what call_next returns, failures."""

import asyncio
import io
import json
import unittest
from contextlib import redirect_stderr

from neutrino import App, HTTPException, Request, Response, RouteError
from neutrino.internal.worker.executor import build_route_table, execute, execute_async
from neutrino.internal.worker.main import route_registry
from neutrino.internal.worker.protocol import HANDLER_FAILED, TaskAssignment


def task(route, query="", body=b"", method="GET"):
    return TaskAssignment(1, method, route, route, query, [], [("x-in", "hello")], "rid", "", 0,
                          body)


def run(table, route, query="", body=b"", method="GET"):
    entry = table[route]
    t = task(route, query, body, method)
    if entry.in_thread:
        result = execute(table, t)
    else:
        result = asyncio.run(execute_async(table, t))
    status, flags, headers, out = result
    return status, flags, dict(headers), bytes(out)


class SyncMiddlewareTest(unittest.TestCase):
    def setUp(self):
        app = App()
        self.calls = []

        @app.middleware
        def outer(request: Request, call_next):
            self.calls.append("outer in")
            response = call_next(request)
            self.calls.append("outer out")
            response.headers["x-outer"] = "1"
            response.headers["x-seen-in"] = request.headers.get("x-in", "")
            return response

        @app.middleware("http")
        def inner(request, call_next):
            self.calls.append("inner in")
            if request.query == "stop=1":
                return Response({"stopped": True}, status=299)
            if request.query == "deny=1":
                raise HTTPException(401, "no")
            if request.query == "crash=1":
                raise RuntimeError("middleware broke")
            response = call_next(request)
            response.headers["x-status-seen"] = str(response.status)
            return response

        @app.route("/add")
        def add(x: int, y: int):
            return {"result": x + y}

        @app.route("/boom")
        def boom():
            raise ValueError("kaboom")

        self.app = app
        self.table = build_route_table(app)

    def test_order_and_changes(self):
        status, flags, headers, body = run(self.table, "/add", "x=2&y=3")
        self.assertEqual((status, flags, body), (200, 0, b'{"result": 5}'))
        self.assertEqual(self.calls, ["outer in", "inner in", "outer out"])
        self.assertEqual(headers, {"content-type": "application/json", "x-status-seen": "200",
                                   "x-outer": "1", "x-seen-in": "hello"})

    def test_sees_errors_as_responses(self):
        status, _, headers, body = run(self.table, "/add", "x=a")
        self.assertEqual((status, headers["x-status-seen"], headers["x-outer"]), (422, "422", "1"))
        self.assertEqual(json.loads(body)["errors"][0]["loc"], ["query", "x"])
        with redirect_stderr(io.StringIO()):
            status, flags, headers, _ = run(self.table, "/boom")
        self.assertEqual((status, flags, headers["x-status-seen"]), (500, HANDLER_FAILED, "500"))

    def test_short_circuit(self):
        status, _, headers, body = run(self.table, "/add", "stop=1")
        self.assertEqual((status, body, headers["x-outer"]), (299, b'{"stopped": true}', "1"))

    def test_http_exception_in_middleware(self):
        status, _, headers, body = run(self.table, "/add", "deny=1")
        self.assertEqual((status, json.loads(body)["detail"], headers["x-outer"]), (401, "no", "1"))

    def test_failing_middleware_is_a_500_and_logged(self):
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            status, flags, headers, body = run(self.table, "/add", "crash=1")
        self.assertEqual((status, flags, headers["x-outer"]), (500, HANDLER_FAILED, "1"))
        self.assertEqual(json.loads(body)["detail"], "the middleware failed; the server log has the details")
        self.assertIn("RuntimeError: middleware broke", stderr.getvalue())
        self.assertIn("middleware 'inner' failed on GET /add", stderr.getvalue())

    def test_every_route_reads_headers(self):
        self.assertTrue(all(e["headers"] for e in route_registry(self.table, False)))
        self.assertFalse(self.app.is_async)


class AsyncMiddlewareTest(unittest.TestCase):
    def setUp(self):
        app = App()
        self.offloaded = []

        @app.middleware
        async def timing(request, call_next):
            response = await call_next(request)
            response.headers["x-async"] = "yes"
            if request.query == "x=9":
                response.body = b"rewritten"
                response.headers["content-type"] = "text/plain"
            return response

        @app.route("/sync")
        def sync(x: int = 1):
            return {"x": x}

        @app.route("/async")
        async def asynchronous(x: int = 2):
            await asyncio.sleep(0)
            return {"x": x}

        async def offload(fn, arg):
            self.offloaded.append(fn)
            return fn(arg)

        self.app = app
        self.table = build_route_table(app, offload)

    def test_wraps_async_handlers(self):
        self.assertFalse(self.table["/async"].in_thread)
        status, _, headers, body = run(self.table, "/async", "x=3")
        self.assertEqual((status, headers["x-async"], body), (200, "yes", b'{"x": 3}'))
        self.assertEqual(self.offloaded, [])

    def test_wraps_sync_handlers_run_off_the_loop(self):
        self.assertFalse(self.table["/sync"].in_thread)  # the chain starts on the loop
        status, _, headers, body = run(self.table, "/sync", "x=4")
        self.assertEqual((status, headers["x-async"], body), (200, "yes", b'{"x": 4}'))
        self.assertEqual(len(self.offloaded), 1)

    def test_may_replace_the_body(self):
        status, _, headers, body = run(self.table, "/sync", "x=9")
        self.assertEqual((status, headers["content-type"], body), (200, "text/plain", b"rewritten"))

    def test_registry(self):
        self.assertTrue(self.app.is_async)
        entries = {e["path"]: e for e in route_registry(self.table, True)}
        self.assertEqual(entries["/sync"].get("sync"), True)
        self.assertNotIn("sync", entries["/async"])


class MixingTest(unittest.TestCase):
    def test_sync_middleware_cannot_wrap_an_async_route(self):
        app = App()

        @app.middleware
        def plain(request, call_next):
            return call_next(request)

        @app.route("/a")
        async def a():
            return 1

        with self.assertRaises(RouteError) as caught:
            build_route_table(app)
        self.assertIn("'/a'", str(caught.exception))
        self.assertIn("'plain'", str(caught.exception))

    def test_sync_inside_async_middleware(self):
        app = App()
        order = []

        @app.middleware
        async def first(request, call_next):
            order.append("first")
            return await call_next(request)

        @app.middleware
        def second(request, call_next):
            order.append("second")
            return call_next(request)

        @app.route("/s")
        def s():
            return "ok"

        table = build_route_table(app)
        self.assertEqual(run(table, "/s")[3], b'"ok"')
        self.assertEqual(order, ["first", "second"])

    def test_non_response_return_is_rendered(self):
        app = App()

        @app.middleware
        def replace(request, call_next):
            return {"replaced": True}

        @app.route("/r")
        def r():
            return 1

        self.assertEqual(run(build_route_table(app), "/r")[3], b'{"replaced": true}')

    def test_decorating_a_non_callable(self):
        with self.assertRaises(TypeError):
            App().middleware(5)


if __name__ == "__main__":
    unittest.main()
