"""The ASGI adapter driven by hand-written ASGI apps: no framework needed."""

import asyncio
import json
import io
import sys
import unittest

from neutrino.internal.asgi import AsgiAdapter, base_scope, is_websocket
from neutrino.internal.foreign import BUFFER_LIMIT, is_asgi, is_wsgi
from neutrino.internal.worker.app_loader import StartupFailure
from neutrino.internal.worker.protocol import APP_HEADERS, HANDLER_FAILED, TaskAssignment
from neutrino.internal.worker.streams import Stream


def task(method="GET", path="/", query="", headers=(), body=b"", client=("127.0.0.1", 5000)):
    headers = list(headers) or [("host", "example.com:8000")]
    return TaskAssignment(7, method, "/*", path, query, [], headers, "rid", client[0], client[1],
                          memoryview(body))


def run(coro):
    """Runs a coroutine; the adapter's logs (tracebacks of the apps here) are captured."""
    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        return asyncio.run(coro)
    finally:
        sys.stderr = saved


async def collect(stream: Stream) -> bytes:
    out = b""
    async for piece in stream.content:
        out += piece
    return out


class Scope(unittest.TestCase):
    def test_http_scope_per_spec(self):
        t = task("POST", "/caf%C3%A9/a%2Fb", "x=1&y=%20", [
            ("host", "example.com:8000"), ("x-many", "1"), ("x-many", "2"),
            ("x-latin", "caf\u00e9")])
        scope = base_scope("http", t, "/root", {"db": "conn"})
        # The root path a proxy stripped comes back in front, as uvicorn's --root-path does.
        self.assertEqual(scope["path"], "/root/café/a/b")
        self.assertEqual(scope["raw_path"], b"/root/caf%C3%A9/a%2Fb")
        self.assertEqual(scope["query_string"], b"x=1&y=%20")
        self.assertEqual(scope["root_path"], "/root")
        self.assertEqual(scope["headers"], [(b"host", b"example.com:8000"), (b"x-many", b"1"),
                                            (b"x-many", b"2"), (b"x-latin", b"caf\xe9"),
                                            (b"x-request-id", b"rid")])
        self.assertEqual(scope["client"], ("127.0.0.1", 5000))
        self.assertEqual(scope["server"], ("example.com", 8000))
        self.assertEqual(scope["http_version"], "1.1")
        self.assertEqual(scope["scheme"], "http")
        self.assertEqual(scope["asgi"]["version"], "3.0")
        self.assertEqual(scope["state"], {"db": "conn"})

    def test_a_host_without_a_port_has_the_schemes(self):
        secure = [("host", "app.example"), ("x-forwarded-proto", "https")]
        self.assertEqual(base_scope("http", task(headers=secure), "", {})["server"], ("app.example", 443))
        self.assertEqual(base_scope("websocket", task(headers=secure), "", {})["server"], ("app.example", 443))
        self.assertEqual(base_scope("http", task(headers=[("host", "app.example")]), "", {})["server"],
                         ("app.example", 80))
        self.assertEqual(base_scope("http", task(headers=[("host", "app.example:8443"), secure[1]]), "", {})
                         ["server"], ("app.example", 8443))

    def test_state_is_a_copy_per_request(self):
        state = {"a": 1}
        scope = base_scope("http", task(), "", state)
        scope["state"]["b"] = 2
        self.assertEqual(state, {"a": 1})

    def test_websocket_needs_both_headers(self):
        self.assertTrue(is_websocket(task(headers=[("upgrade", "WebSocket"),
                                                   ("connection", "keep-alive, Upgrade")])))
        self.assertFalse(is_websocket(task(headers=[("upgrade", "websocket")])))
        self.assertFalse(is_websocket(task(headers=[("connection", "upgrade")])))


class Detection(unittest.TestCase):
    def test_kinds(self):
        async def asgi_fn(scope, receive, send):
            pass

        class AsgiClass:
            async def __call__(self, scope, receive, send):
                pass

        def wsgi_fn(environ, start_response):
            return []

        class WsgiClass:
            def __call__(self, environ, start_response):
                return []

        def nothing():
            pass

        self.assertTrue(is_asgi(asgi_fn))
        self.assertTrue(is_asgi(AsgiClass()))
        self.assertFalse(is_asgi(AsgiClass))  # the class, not an app
        self.assertFalse(is_asgi(wsgi_fn))
        self.assertTrue(is_wsgi(wsgi_fn))
        self.assertTrue(is_wsgi(WsgiClass()))
        self.assertFalse(is_wsgi(asgi_fn))
        self.assertFalse(is_wsgi(nothing))
        self.assertFalse(is_asgi(nothing))


class EventLoop(unittest.TestCase):
    def test_uvloop_when_importable_else_asyncio(self):
        import types

        loop = AsgiAdapter.new_event_loop()
        self.assertIsInstance(loop, asyncio.AbstractEventLoop)
        loop.close()
        fake = types.ModuleType("uvloop")
        fake.new_event_loop = lambda: "uvloop's loop"
        saved = sys.modules.get("uvloop")
        sys.modules["uvloop"] = fake
        try:
            self.assertEqual(AsgiAdapter.new_event_loop(), "uvloop's loop")
        finally:
            if saved is None:
                del sys.modules["uvloop"]
            else:
                sys.modules["uvloop"] = saved


class Http(unittest.TestCase):
    def test_whole_body_is_one_buffered_result(self):
        seen = {}

        async def app(scope, receive, send):
            seen["message"] = await receive()
            await send({"type": "http.response.start", "status": 201,
                        "headers": [(b"Content-Type", b"text/plain"), (b"x-a", b"1")]})
            await send({"type": "http.response.body", "body": b"hello"})

        result = run(AsgiAdapter(app).execute_async(task("POST", body=b'{"x": 1}')))
        self.assertEqual(result, (201, APP_HEADERS, [("content-type", "text/plain"), ("x-a", "1")],
                                  b"hello"))
        self.assertEqual(seen["message"], {"type": "http.request", "body": b'{"x": 1}',
                                           "more_body": False})

    def test_pieces_stream_in_order(self):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for piece in (b"a", b"", b"bc"):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"d"})

        async def go():
            outcome = await AsgiAdapter(app).execute_async(task())
            self.assertIsInstance(outcome, Stream)
            self.assertEqual(outcome.status, 200)
            return await collect(outcome)

        self.assertEqual(run(go()), b"abcd")

    def test_one_body_larger_than_the_buffer_limit_streams(self):
        big = b"x" * (BUFFER_LIMIT + 1)

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(big)).encode())]})
            await send({"type": "http.response.body", "body": big})

        async def go():
            outcome = await AsgiAdapter(app).execute_async(task())
            self.assertIsInstance(outcome, Stream)  # a TaskResult of over 64 MiB would be refused
            self.assertEqual(outcome.headers, [("content-length", str(len(big)))])
            return await collect(outcome)

        self.assertEqual(len(run(go())), len(big))

    def test_app_waits_for_the_stream_reader(self):
        sent = []

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(5):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                sent.append(i)
            await send({"type": "http.response.body", "body": b""})

        async def go():
            outcome = await AsgiAdapter(app).execute_async(task())
            iterator = outcome.content.__aiter__()
            await iterator.__anext__()
            for _ in range(5):
                await asyncio.sleep(0)
            ahead = len(sent)
            rest = [piece async for piece in iterator]
            return ahead, rest

        ahead, rest = run(go())
        self.assertLessEqual(ahead, 2)  # one piece taken, at most one more waiting
        self.assertEqual(rest, [b"x"] * 4)

    def test_closing_the_stream_disconnects_and_cancels_the_app(self):
        events = []

        async def app(scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"x", "more_body": True})
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        async def go():
            outcome = await AsgiAdapter(app).execute_async(task())
            iterator = outcome.content.__aiter__()
            await iterator.__anext__()
            await iterator.aclose()
            for _ in range(5):
                await asyncio.sleep(0)

        run(go())
        self.assertEqual(events, ["cancelled"])

    def test_receive_says_disconnect_after_the_response(self):
        seen = []

        async def app(scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            seen.append(await receive())  # background work may ask

        async def go():
            result = await AsgiAdapter(app).execute_async(task())
            for _ in range(5):
                await asyncio.sleep(0)
            return result

        self.assertEqual(run(go())[0], 204)
        self.assertEqual(seen, [{"type": "http.disconnect"}])

    def test_app_raising_is_a_500_without_its_message(self):
        async def app(scope, receive, send):
            raise KeyError("secret detail")

        status, flags, _, body = run(AsgiAdapter(app).execute_async(task()))
        self.assertEqual((status, flags), (500, HANDLER_FAILED))
        # As a neutrino handler's: neither the text nor the class, the request id to find them.
        self.assertEqual(json.loads(body), {"error": "Internal Server Error", "request_id": "rid",
                                            "detail": "the app failed; the server log has the details"})

    def test_app_returning_without_a_response_is_a_500(self):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})

        self.assertEqual(run(AsgiAdapter(app).execute_async(task()))[0], 500)

    def test_app_failing_mid_stream_raises_in_the_content(self):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            raise ValueError("broke")

        async def go():
            outcome = await AsgiAdapter(app).execute_async(task())
            return await collect(outcome)

        with self.assertRaises(ValueError):
            run(go())

    def test_cancelled_before_the_head_cancels_the_app(self):
        events = []

        async def app(scope, receive, send):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        async def go():
            running = asyncio.ensure_future(AsgiAdapter(app).execute_async(task()))
            await asyncio.sleep(0.01)
            running.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await running
            await asyncio.sleep(0)

        run(go())
        self.assertEqual(events, ["cancelled"])


class Lifespan(unittest.TestCase):
    def test_startup_state_reaches_requests_and_shutdown_runs(self):
        events = []

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        scope["state"]["db"] = "connected"
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        events.append("shutdown")
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": scope["state"]["db"].encode()})

        async def go():
            adapter = AsgiAdapter(app)
            await adapter.startup()
            result = await adapter.execute_async(task())
            await adapter.shutdown()
            return result

        self.assertEqual(run(go())[3], b"connected")
        self.assertEqual(events, ["shutdown"])

    def test_startup_failure_carries_the_apps_message(self):
        async def app(scope, receive, send):
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

        with self.assertRaises(StartupFailure) as caught:
            run(AsgiAdapter(app).startup())
        self.assertEqual(caught.exception.kind, "startup_failed")
        self.assertIn("no database", caught.exception.message)

    def test_an_app_without_lifespan_is_served_without(self):
        async def app(scope, receive, send):
            if scope["type"] != "http":
                raise ValueError("only http")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        async def go():
            adapter = AsgiAdapter(app)
            await adapter.startup()
            result = await adapter.execute_async(task())
            await adapter.shutdown()
            return result

        self.assertEqual(run(go())[3], b"ok")


if __name__ == "__main__":
    unittest.main()


class WebSockets(unittest.TestCase):
    """The websocket scope on the worker's real SocketChannel, its frames captured."""

    def setUp(self):
        self.frames = []

    def channel(self, loop):
        from neutrino.internal.worker.sockets import SocketChannel

        async def drained():
            return None

        def write(data):
            self.frames.append(b"".join(data) if isinstance(data, tuple) else bytes(data))

        return SocketChannel(loop, 7, write, drained, lambda *_: None, lambda *_: None)

    def upgrade(self, protocols=""):
        headers = [("host", "example.com"), ("upgrade", "websocket"), ("connection", "Upgrade")]
        if protocols:
            headers.append(("sec-websocket-protocol", protocols))
        return task(headers=headers)

    def kinds(self):
        from neutrino.internal.worker.protocol import FrameDecoder

        return [type(m).__name__ for m in FrameDecoder().feed(b"".join(self.frames))]

    def test_accept_echo_and_the_apps_close(self):
        seen = {}

        async def app(scope, receive, send):
            seen["scope"] = (scope["type"], scope["subprotocols"], scope["scheme"])
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept", "subprotocol": "chat.v1"})
            message = await receive()
            await send({"type": "websocket.send", "text": "echo: " + message["text"]})
            await send({"type": "websocket.close", "code": 4000, "reason": "bye"})

        async def go():
            socket = self.channel(asyncio.get_running_loop())
            running = asyncio.ensure_future(
                AsgiAdapter(app).execute_async(self.upgrade("chat.v2, chat.v1"), None, socket))
            await asyncio.sleep(0.01)
            socket.message(False, b"hi")
            return await running

        self.assertIsNone(run(go()))
        self.assertEqual(seen["scope"], ("websocket", ["chat.v2", "chat.v1"], "ws"))
        # The client's message read (its window given back), the echo, then the app's close.
        self.assertEqual(self.kinds(), ["WebSocketAccept", "WindowUpdate", "WebSocketMessage",
                                        "WebSocketClose"])

    def test_close_before_accept_is_a_403(self):
        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.close"})

        async def go():
            socket = self.channel(asyncio.get_running_loop())
            return await AsgiAdapter(app).execute_async(self.upgrade(), None, socket)

        self.assertEqual(run(go())[0], 403)
        self.assertEqual(self.frames, [])

    def test_the_denial_response_extension(self):
        async def app(scope, receive, send):
            assert "websocket.http.response" in scope["extensions"]
            await send({"type": "websocket.http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "websocket.http.response.body", "body": b"who", "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b" are you"})

        async def go():
            socket = self.channel(asyncio.get_running_loop())
            return await AsgiAdapter(app).execute_async(self.upgrade(), None, socket)

        self.assertEqual(run(go()), (401, 0, [("content-type", "text/plain")], b"who are you"))

    def test_the_peers_close_reaches_the_app(self):
        seen = []

        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.accept"})
            seen.append(await receive())

        async def go():
            socket = self.channel(asyncio.get_running_loop())
            running = asyncio.ensure_future(
                AsgiAdapter(app).execute_async(self.upgrade(), None, socket))
            await asyncio.sleep(0.01)
            socket.peer_close(1001, "going away")
            return await running

        self.assertIsNone(run(go()))
        self.assertEqual(seen, [{"type": "websocket.disconnect", "code": 1001,
                                 "reason": "going away"}])

    def test_an_app_raising_after_accept_closes_with_1011(self):
        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.accept"})
            raise RuntimeError("broken")

        async def go():
            socket = self.channel(asyncio.get_running_loop())
            result = await AsgiAdapter(app).execute_async(self.upgrade(), None, socket)
            return result, socket.closed

        self.assertEqual(run(go()), (None, True))
        from neutrino.internal.worker.protocol import FrameDecoder

        close = list(FrameDecoder().feed(b"".join(self.frames)))[-1]
        self.assertEqual(close.code, 1011)

    def test_a_plain_request_on_a_socket_route_is_http(self):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": scope["type"].encode()})

        async def go():
            socket = self.channel(asyncio.get_running_loop())
            return await AsgiAdapter(app).execute_async(task(), None, socket)

        self.assertEqual(run(go())[3], b"http")


class SchemeTest(unittest.TestCase):
    def test_scheme_follows_the_orchestrators_x_forwarded_proto(self):
        secure = task(headers=[("host", "a.example"), ("x-forwarded-proto", "https")])
        plain = task(headers=[("host", "a.example"), ("x-forwarded-proto", "http")])
        self.assertEqual(base_scope("http", secure, "", {})["scheme"], "https")
        self.assertEqual(base_scope("websocket", secure, "", {})["scheme"], "wss")
        self.assertEqual(base_scope("http", plain, "", {})["scheme"], "http")
        self.assertEqual(base_scope("websocket", task(), "", {})["scheme"], "ws")
