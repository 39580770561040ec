"""Request bodies of an ASGI app: whole in the task when small, else ``http.request`` events
with ``more_body`` as BodyChunk frames arrive, and ``http.disconnect`` when the client leaves.
Hand-written ASGI callables, no framework."""

import asyncio
import json
import unittest

from neutrino.internal.asgi import AsgiAdapter
from neutrino.internal.worker.bodies import BodyStream, body_follows
from neutrino.internal.worker.protocol import (
    RouteRegistry,
    TaskResult,
    TaskStarted,
    WindowUpdate,
    encode_body_chunk,
    encode_body_end,
    encode_cancel_task,
    encode_discover_routes,
    encode_task_assignment,
)

from .test_asgi import run, task
from .test_worker_main import Worker

MARK = (":body", "streamed")


def recorder(events):
    """An app that records every receive() event until the body ends or the client leaves, then
    answers 200 (or, after a disconnect, tries to and records what send raised)."""

    async def app(scope, receive, send):
        while True:
            message = await receive()
            events.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        except OSError as exc:
            events.append(exc)

    return app


class Receive(unittest.TestCase):
    def test_whole_body_is_one_event(self):
        events = []
        result = run(AsgiAdapter(recorder(events)).execute_async(task("POST", body=b"abc")))
        self.assertEqual(result[0], 200)
        self.assertEqual(events, [{"type": "http.request", "body": b"abc", "more_body": False}])

    def test_streamed_body_is_one_event_per_chunk_as_it_arrives(self):
        events, granted = [], []

        async def scenario():
            loop = asyncio.get_running_loop()
            stream = BodyStream(loop, granted.append)
            pending = asyncio.ensure_future(
                AsgiAdapter(recorder(events)).execute_async(task("POST"), stream))
            stream.feed(b"first")
            for _ in range(5):
                await asyncio.sleep(0)
            # The app has the first chunk while the rest of the upload is still to come.
            self.assertEqual(events, [{"type": "http.request", "body": b"first",
                                       "more_body": True}])
            stream.feed(memoryview(b"second"))
            stream.end(True)
            return await pending

        result = run(scenario())
        self.assertEqual(result[0], 200)
        self.assertEqual(events, [
            {"type": "http.request", "body": b"first", "more_body": True},
            {"type": "http.request", "body": b"second", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": False},
        ])
        self.assertEqual(granted, [5, 6])  # the window comes back as the app reads

    def test_client_leaving_mid_upload_is_a_disconnect(self):
        events = []

        async def scenario():
            stream = BodyStream(asyncio.get_running_loop(), lambda n: None)
            stream.feed(b"part")
            stream.end(False)  # BodyEnd with bit 0: the client went away
            return await AsgiAdapter(recorder(events)).execute_async(task("POST"), stream)

        run(scenario())
        self.assertEqual(events[0]["type"], "http.disconnect")
        # After the disconnect, send raises an OSError, as the spec asks.
        self.assertIsInstance(events[1], OSError)

    def test_cancel_while_the_app_waits_for_the_body_is_a_disconnect(self):
        events = []

        async def scenario():
            stream = BodyStream(asyncio.get_running_loop(), lambda n: None)
            pending = asyncio.ensure_future(
                AsgiAdapter(recorder(events)).execute_async(task("POST"), stream))
            for _ in range(5):
                await asyncio.sleep(0)
            self.assertTrue(stream.disconnect())  # CancelTask: a reader was waiting
            return await pending

        run(scenario())
        self.assertEqual(events[0], {"type": "http.disconnect"})

    def test_asgi_routes_ask_for_large_bodies_streamed_and_wsgi_ones_do_not(self):
        from neutrino.internal.wsgi import WsgiAdapter

        async def asgi_app(scope, receive, send):
            pass

        def wsgi_app(environ, start_response):
            return []

        self.assertTrue(all(r.get("stream_large_body") for r in AsgiAdapter(asgi_app).registry()))
        self.assertFalse(any(r.get("stream_large_body") for r in WsgiAdapter(wsgi_app).registry()))

    def test_the_mark_is_taken_off_the_headers(self):
        t = task("POST", headers=[("host", "h"), MARK])
        self.assertTrue(body_follows(t))
        self.assertEqual(t.headers, [("host", "h")])
        self.assertFalse(body_follows(t))
        self.assertEqual(t.headers, [("host", "h")])


APP = "tests.fixtures.asgi_upload_app:app"


class OverTheSocket(unittest.TestCase):
    """The worker as the orchestrator drives it: TaskAssignment, BodyChunk…, BodyEnd."""

    def start(self):
        w = Worker(APP)
        self.addCleanup(w.kill)
        w.receive()  # WorkerReady
        return w

    def next_result(self, w, task_id, grants=None):
        while True:
            m = w.receive(skip_heartbeats=True)
            if isinstance(m, TaskStarted):
                continue
            if isinstance(m, WindowUpdate) and grants is not None:
                grants.append(m.increment)
                continue
            self.assertIsInstance(m, TaskResult, m)
            self.assertEqual(m.task_id, task_id)
            return m

    def assign(self, w, task_id, headers, body=b""):
        w.send(encode_task_assignment(task_id, "POST", "/*", "/up", "", [], headers,
                                      f"r{task_id}", "127.0.0.1", 1, body))

    def test_registry_asks_for_large_bodies_streamed(self):
        w = self.start()
        w.send(encode_discover_routes())
        registry = w.receive()
        self.assertIsInstance(registry, RouteRegistry)
        self.assertTrue(all(r.get("stream_large_body") for r in registry.routes))

    def test_small_body_whole_and_large_one_in_chunks(self):
        w = self.start()
        self.assign(w, 1, [("host", "h")], b"x" * 10)
        self.assertEqual(json.loads(bytes(self.next_result(w, 1).body))["chunks"], 1)
        grants = []
        self.assign(w, 2, [("host", "h"), MARK])
        for _ in range(3):
            w.send(encode_body_chunk(2, b"y" * 1000))
        w.send(encode_body_end(2, 0))
        answer = json.loads(bytes(self.next_result(w, 2, grants).body))
        self.assertEqual((answer["chunks"], answer["bytes"]), (3, 3000))
        self.assertNotIn(":body", answer["headers"])
        self.assertEqual(sum(grants), 3000)

    def test_cancel_mid_upload_frees_the_task_and_the_worker_serves_again(self):
        w = self.start()
        self.assign(w, 1, [("host", "h"), MARK])
        w.send(encode_body_chunk(1, b"z" * 100))
        w.send(encode_body_end(1, 1))  # the client left
        w.send(encode_cancel_task(1))
        self.next_result(w, 1)  # any status: the orchestrator discards it
        self.assign(w, 2, [("host", "h")], b"again")
        self.assertEqual(json.loads(bytes(self.next_result(w, 2).body))["bytes"], 5)


if __name__ == "__main__":
    unittest.main()
