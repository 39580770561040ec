"""neutrino.testing.TestClient: the app's routing, conversion, middleware and error rules, in
process."""

import io
import unittest
from contextlib import redirect_stderr
from dataclasses import dataclass
from typing import List, Set, Tuple

from neutrino import App, HTTPException, Request, Response
from neutrino.testing import TestClient


@dataclass
class Item:
    name: str
    price: float


def make_app() -> App:
    app = App()

    @app.middleware
    def tag(request: Request, call_next):
        response = call_next(request)
        response.headers["x-tag"] = request.path
        return response

    @app.route("/add")
    def add(x: int, y: int):
        return {"result": x + y}

    @app.route("/process", methods=["POST"])
    def process(data: dict):
        return {"processed": data}

    @app.route("/users/{user_id}", methods=["GET"])
    def user(user_id: int):
        return {"user_id": user_id}

    @app.route("/users/me", methods=["GET"])
    def me():
        return {"me": True}

    @app.route("/items", methods=["POST"], status_code=201)
    def create(item: Item):
        return {"name": item.name, "price": item.price}

    @app.route("/tags", methods=["GET"])
    def tags(tag: List[str], ids: Set[int] = frozenset(), pair: Tuple[int, int] = (0, 0)):
        return {"tag": tag, "ids": sorted(ids), "pair": list(pair)}

    @app.route("/gone")
    def gone():
        raise HTTPException(410, "gone for good", headers={"x-why": "moved"})

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaput")

    @app.route("/text")
    def text():
        return Response("hello", status=202, media_type="text/plain")

    @app.route("/echo-headers", methods=["POST"])
    def echo(request: Request):
        return {"probe": request.headers.get("x-probe"), "body": request.body.decode(),
                "type": request.headers.get("content-type")}

    return app


class TestClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.client = TestClient(make_app())

    def test_query_and_json_body(self) -> None:
        r = self.client.get("/add", params={"x": 2, "y": 3})
        self.assertEqual((r.status_code, r.json()), (200, {"result": 5}))
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.headers["x-tag"], "/add")
        self.assertEqual(r.text, '{"result": 5}')
        self.assertEqual(r.content, b'{"result": 5}')
        r = self.client.post("/add", json={"x": 2, "y": 3})
        self.assertEqual(r.json(), {"result": 5})
        self.assertEqual(self.client.get("/add?x=1", params={"y": 1}).json(), {"result": 2})

    def test_conversion_errors_are_the_servers(self) -> None:
        r = self.client.get("/add", params={"x": "a", "y": 1})
        self.assertEqual(r.status_code, 422)
        self.assertEqual(r.json()["errors"][0]["loc"], ["query", "x"])
        r = self.client.post("/process", data="{not json")
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"], "Bad Request")
        r = self.client.post("/items", json={"name": "pen", "price": 1.5, "colour": "red"})
        self.assertEqual(r.status_code, 422)

    def test_routing(self) -> None:
        self.assertEqual(self.client.get("/users/7").json(), {"user_id": 7})
        self.assertEqual(self.client.get("/users/me").json(), {"me": True})  # static first
        self.assertEqual(self.client.get("/users/x").status_code, 422)
        r = self.client.get("/nope")
        self.assertEqual((r.status_code, r.json()),
                         (404, {"error": "Not Found", "detail": "no route for GET /nope"}))
        r = self.client.get("/process")
        self.assertEqual(r.status_code, 405)
        self.assertEqual(r.headers["allow"], "POST")
        r = self.client.head("/add", params={"x": 1, "y": 2})
        self.assertEqual((r.status_code, r.content), (200, b""))

    def test_status_code_and_error_rules(self) -> None:
        r = self.client.post("/items", json={"name": "pen", "price": 1.5})
        self.assertEqual((r.status_code, r.json()), (201, {"name": "pen", "price": 1.5}))
        r = self.client.get("/gone")
        self.assertEqual((r.status_code, r.json()["detail"], r.headers["x-why"]),
                         (410, "gone for good", "moved"))
        with redirect_stderr(io.StringIO()) as err:  # the traceback goes to the log
            r = self.client.get("/boom")
        self.assertIn("RuntimeError: kaput", err.getvalue())
        self.assertEqual(r.status_code, 500)
        self.assertEqual(r.json()["detail"], "the handler failed; the server log has the details")  # never the exception's text
        r = self.client.get("/text")
        self.assertEqual((r.status_code, r.text, r.headers["content-type"]),
                         (202, "hello", "text/plain; charset=utf-8"))

    def test_repeated_query_values_and_collections(self) -> None:
        r = self.client.get("/tags", params={"tag": ["a", "b"], "ids": [3, 1, 3], "pair": [1, 2]})
        self.assertEqual(r.json(), {"tag": ["a", "b"], "ids": [1, 3], "pair": [1, 2]})
        self.assertEqual(self.client.get("/tags", params=[("tag", "a"), ("ids", "x")]).status_code,
                         422)
        self.assertEqual(self.client.get("/tags", params={"tag": "a", "pair": 1}).status_code, 422)

    def test_headers_and_raw_bodies(self) -> None:
        r = self.client.post("/echo-headers", data={"a": "1", "b": "2"},
                             headers={"X-Probe": "yes"})
        self.assertEqual(r.json(), {"probe": "yes", "body": "a=1&b=2",
                                    "type": "application/x-www-form-urlencoded"})
        r = self.client.request("POST", "/echo-headers", content=b"raw")
        self.assertEqual(r.json()["body"], "raw")


class AsyncAppTest(unittest.TestCase):
    def test_async_routes_and_middleware(self) -> None:
        app = App()

        @app.middleware
        async def timing(request: Request, call_next):
            response = await call_next(request)
            response.headers["x-async"] = "1"
            return response

        @app.route("/double/{n}", methods=["GET"])
        async def double(n: int):
            return {"n": n * 2}

        @app.route("/sync", methods=["GET"])
        def sync_route(q: str = "s"):
            return {"q": q}

        client = TestClient(app)
        r = client.get("/double/21")
        self.assertEqual((r.status_code, r.json(), r.headers["x-async"]), (200, {"n": 42}, "1"))
        self.assertEqual(client.get("/double/x").status_code, 422)
        self.assertEqual(client.get("/sync", params={"q": "t"}).json(), {"q": "t"})
        self.assertEqual(client.post("/double/2").status_code, 405)


if __name__ == "__main__":
    unittest.main()
