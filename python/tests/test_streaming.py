"""The streaming API in process: StreamingResponse, ServerSentEvent, generator handlers through
middleware, request.stream(), @app.websocket declarations, and the TestClient's view of them."""

import io
import unittest
from contextlib import redirect_stderr

from neutrino import (
    App,
    ClientDisconnect,
    Request,
    RouteError,
    ServerSentEvent,
    StreamingResponse,
    WebSocket,
    WebSocketDisconnect,
)
from neutrino.internal.worker.executor import build_route_table
from neutrino.internal.worker.main import route_registry
from neutrino.internal.worker.protocol import (
    DEFAULT_MAX_FRAME,
    MAX_CHUNK,
    FrameDecoder,
    ProtocolError,
    encode_task_result,
)
from neutrino.internal.worker.streams import pieces
from neutrino.testing import TestClient


class ServerSentEventTest(unittest.TestCase):
    def test_format(self):
        self.assertEqual(ServerSentEvent("hi").encode(), b"data: hi\n\n")
        self.assertEqual(ServerSentEvent("a\nb\r\nc", event="msg", id="7", retry=1000).encode(),
                         b"event: msg\nid: 7\nretry: 1000\ndata: a\ndata: b\ndata: c\n\n")
        self.assertEqual(ServerSentEvent({"x": [1, "é"]}).encode(),
                         'data: {"x":[1,"é"]}\n\n'.encode())
        self.assertEqual(ServerSentEvent(event="ping").encode(), b"event: ping\n\n")

    def test_fields_that_would_break_the_format_are_refused(self):
        with self.assertRaises(ValueError):
            ServerSentEvent("x", event="a\nb")
        with self.assertRaises(ValueError):
            ServerSentEvent("x", id="1\r")
        with self.assertRaises(ValueError):
            ServerSentEvent("x", retry=-1)


class StreamingResponseTest(unittest.TestCase):
    def test_content_must_be_iterable_and_not_text(self):
        with self.assertRaises(TypeError):
            StreamingResponse(42)
        with self.assertRaises(TypeError):
            StreamingResponse("not a stream")
        self.assertEqual(StreamingResponse([b"a"], status=202).status, 202)

    def test_pieces(self):
        self.assertEqual([bytes(p) for p in pieces("é")], ["é".encode()])
        self.assertEqual(list(pieces(b"")), [])
        sizes = [len(p) for p in pieces(bytearray(2 * MAX_CHUNK + 1))]
        self.assertEqual(sizes, [MAX_CHUNK, MAX_CHUNK, 1])
        with self.assertRaises(TypeError):
            list(pieces(3))


class TestClientStreamTest(unittest.TestCase):
    def setUp(self):
        app = App()

        @app.middleware
        def tag(request, call_next):
            response = call_next(request)
            response.headers["x-seen"] = type(response).__name__
            return response

        @app.route("/gen")
        def gen(n: int = 3):
            for i in range(n):
                yield f"{i},"

        @app.route("/sse", media_type="text/event-stream")
        def sse():
            yield ServerSentEvent("one", event="tick", id="1")
            yield ServerSentEvent("two\nlines")

        @app.route("/upload", methods=["POST"], stream_body=True)
        def upload(request: Request):
            return {"pieces": [len(c) for c in request.stream()], "body": len(request.body)}

        @app.route("/twice", methods=["POST"], stream_body=True)
        def twice(request: Request):
            list(request.stream())
            list(request.stream())

        @app.websocket("/ws")
        async def ws(socket: WebSocket):
            await socket.close()

        self.app = app
        self.client = TestClient(app)

    def test_generator_through_middleware(self):
        response = self.client.get("/gen", params={"n": 4})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.text, "0,1,2,3,")
        self.assertEqual(response.headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(response.headers["x-seen"], "StreamingResponse")

    def test_events(self):
        response = self.client.get("/sse")
        self.assertEqual(response.headers["content-type"], "text/event-stream")
        self.assertEqual(response.events(), [{"event": "tick", "id": "1", "data": "one"},
                                             {"data": "two\nlines"}])

    def test_stream_body_route(self):
        response = self.client.post("/upload", content=b"abc")
        self.assertEqual(response.json(), {"pieces": [3], "body": 0})
        with redirect_stderr(io.StringIO()) as log:
            response = self.client.post("/twice", content=b"abc")
        self.assertEqual(response.status_code, 500)
        self.assertIn("already been read", log.getvalue())

    def test_websocket_route_needs_a_server(self):
        self.assertEqual(self.client.get("/ws").status_code, 426)

    def test_async_generator_and_async_content(self):
        app = App()

        @app.route("/agen")
        async def agen():
            yield b"a"
            yield "b"

        @app.route("/wrapped")
        async def wrapped():
            async def content():
                yield "c"
            return StreamingResponse(content(), media_type="text/csv", headers={"x-a": "1"})

        client = TestClient(app)
        self.assertTrue(app.is_async)
        self.assertEqual(client.get("/agen").text, "ab")
        response = client.get("/wrapped")
        self.assertEqual((response.text, response.headers["content-type"],
                          response.headers["x-a"]), ("c", "text/csv; charset=utf-8", "1"))


class DeclarationTest(unittest.TestCase):
    def test_registry_flags(self):
        app = App()

        @app.route("/up", methods=["POST"], stream_body=True)
        def up(request: Request):
            return {}

        @app.websocket("/ws/{room}", subprotocols=["chat"])
        async def ws(socket: WebSocket, room: str):
            pass

        routes = {r["path"]: r for r in route_registry(build_route_table(app), True)}
        self.assertEqual(routes["/up"]["stream_body"], True)
        self.assertEqual(routes["/ws/{room}"],
                         {"path": "/ws/{room}", "methods": ["GET"], "headers": True,
                          "websocket": True})
        self.assertEqual(app.get_route("/ws/{room}").subprotocols, ["chat"])

    def test_openapi_of_streamed_responses(self):
        app = App()

        @app.route("/text")
        def text():
            yield "x"

        @app.route("/events", media_type="text/event-stream")
        async def events():
            yield ServerSentEvent("x")

        ops = {r["path"]: r["openapi"] for r in route_registry(build_route_table(app), True)}
        self.assertEqual(ops["/text"]["responses"]["200"]["content"],
                         {"text/plain; charset=utf-8": {"schema": {"type": "string"}}})
        self.assertEqual(list(ops["/events"]["responses"]["200"]["content"]),
                         ["text/event-stream"])

    def test_openapi_of_a_streamed_request_body(self):
        app = App()

        @app.route("/up", methods=["POST"], stream_body=True)
        def up(request: Request):
            return {}

        op = route_registry(build_route_table(app), False)[0]["openapi"]
        self.assertEqual(op["requestBody"], {"content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}})

    def test_websocket_routes_that_cannot_work_are_refused(self):
        app = App()
        with self.assertRaisesRegex(RouteError, "must be async def"):
            @app.websocket("/a")
            def sync_handler(socket: WebSocket):
                pass
        with self.assertRaisesRegex(RouteError, "annotated WebSocket"):
            @app.websocket("/b")
            async def no_socket(socket):
                pass
        with self.assertRaisesRegex(ValueError, "subprotocol"):
            app.websocket("/c", subprotocols=["bad name"])

    def test_exceptions(self):
        gone = WebSocketDisconnect(4001, "bye")
        self.assertEqual((gone.code, gone.reason), (4001, "bye"))
        self.assertEqual(WebSocketDisconnect().code, 1000)
        self.assertTrue(issubclass(ClientDisconnect, Exception))


class HandshakeTest(unittest.TestCase):
    def test_is_upgrade_and_subprotocol(self):
        from neutrino.internal.worker.sockets import choose_subprotocol, is_upgrade

        self.assertTrue(is_upgrade([("connection", "keep-alive, Upgrade"),
                                    ("upgrade", "WebSocket")]))
        self.assertFalse(is_upgrade([("upgrade", "websocket")]))
        self.assertFalse(is_upgrade([("connection", "upgrade"), ("upgrade", "h2c")]))
        offer = [("sec-websocket-protocol", "b, a")]
        self.assertEqual(choose_subprotocol(["a", "b"], offer), "b")  # the client's order
        self.assertEqual(choose_subprotocol(["c"], offer), "")
        self.assertEqual(choose_subprotocol([], offer), "")


class RefusedFrameTest(unittest.TestCase):
    def test_decoder_never_reads_past_a_frame_it_refused(self):
        """A refused length stays refused: the bytes behind it are never read as a frame."""
        decoder = FrameDecoder()
        frame = encode_task_result(1, 200, 0, [], b"x" * (DEFAULT_MAX_FRAME + 1))
        with self.assertRaises(ProtocolError) as first:
            decoder.feed(frame[:65536])
        self.assertEqual(first.exception.kind, "too_large")
        with self.assertRaises(ProtocolError) as again:  # more of the body: the same refusal
            decoder.feed(frame[65536:131072])
        self.assertEqual(str(again.exception), str(first.exception))
        self.assertNotIn(str(int.from_bytes(b"xxxx", "big")), str(again.exception))


if __name__ == "__main__":
    unittest.main()
