"""The user-facing App and Route."""

import unittest
from dataclasses import dataclass
from typing import List

import neutrino
from neutrino import App, Request, Route, RouteError


class AppTest(unittest.TestCase):
    def test_exports(self):
        self.assertIs(neutrino.App, App)
        self.assertEqual(neutrino.__version__, "0.1.0")

    def test_decorator_returns_the_function(self):
        app = App()

        def add(x: int, y: int):
            return x + y

        self.assertIs(app.route("/add")(add), add)
        self.assertEqual(add(2, 3), 5)

    def test_default_methods(self):
        app = App()
        app.route("/a")(lambda: None)
        self.assertEqual(app.get_route("/a").methods, ["GET", "POST"])

    def test_methods_upper_cased_and_deduplicated(self):
        app = App()
        app.route("/a", methods=["post", "Get", "POST"])(lambda: None)
        self.assertEqual(app.get_route("/a").methods, ["POST", "GET"])

    def test_single_method_string(self):
        app = App()
        app.route("/a", methods="put")(lambda: None)
        self.assertEqual(app.get_route("/a").methods, ["PUT"])

    def test_invalid_methods(self):
        app = App()
        for methods in ([], [""], [None]):
            with self.subTest(methods=methods), self.assertRaises(ValueError):
                app.route("/a", methods=methods)

    def test_duplicate_path_raises(self):
        app = App()
        app.route("/a")(lambda: None)
        with self.assertRaises(ValueError) as caught:
            app.route("/a", methods=["POST"])
        self.assertIn("'/a'", str(caught.exception))

    def test_path_must_start_with_slash(self):
        app = App()
        for path in ("add", "", None):
            with self.subTest(path=path), self.assertRaises(ValueError):
                app.route(path)

    def test_decorating_a_non_callable(self):
        with self.assertRaises(TypeError):
            App().route("/a")(42)

    def test_list_routes_in_registration_order(self):
        app = App()
        for path in ("/z", "/a", "/m"):
            app.route(path)(lambda: None)
        self.assertEqual(app.list_routes(), ["/z", "/a", "/m"])
        self.assertEqual(App().list_routes(), [])

    def test_get_route(self):
        app = App()

        @app.route("/process", methods=["POST"])
        def process(data: dict):
            return {"processed": data}

        route = app.get_route("/process")
        self.assertIsInstance(route, Route)
        self.assertEqual(
            (route.path, route.methods, route.handler, route.name),
            ("/process", ["POST"], process, "process"),
        )
        self.assertEqual(route(data={"a": 1}), {"processed": {"a": 1}})
        self.assertEqual(route(**{"data": 1}), {"processed": 1})

    def test_get_route_missing(self):
        with self.assertRaises(KeyError):
            App().get_route("/nope")

    def test_apps_are_independent(self):
        a, b = App(), App()
        a.route("/x")(lambda: None)
        self.assertEqual(b.list_routes(), [])


class RouteClashTest(unittest.TestCase):
    """Routes that can never work are refused as they are declared, naming the route."""

    def refused(self, path, handler):
        with self.assertRaises(RouteError) as caught:
            App().route(path)(handler)
        self.assertIn(repr(path), str(caught.exception))
        return str(caught.exception)

    def test_path_parameter_without_a_handler_parameter(self):
        def get_user(id: int):  # noqa: A002
            return id

        message = self.refused("/users/{user_id}", get_user)
        self.assertIn("{user_id}", message)
        self.assertIn("'get_user'", message)

    def test_duplicate_path_parameter(self):
        self.assertIn("twice", self.refused("/a/{x}/b/{x}", lambda x: x))

    def test_path_parameter_that_cannot_come_from_text(self):
        def handler(ids: List[int]):
            return ids

        self.assertIn("List[int]", self.refused("/a/{ids}", handler))
        App().route("/ok/{d}")(lambda d: d)

        @dataclass
        class Point:
            x: int

        def point(p: Point):
            return p

        self.refused("/p/{p}", point)

    def test_request_cannot_be_a_path_parameter(self):
        def handler(request: Request):
            return 1

        self.refused("/r/{request}", handler)

    def test_bad_parameter_name(self):
        with self.assertRaises(RouteError):
            App().route("/a/{not-a-name}")

    def test_kwargs_take_path_parameters(self):
        app = App()
        app.route("/k/{anything}")(lambda **kw: kw)
        self.assertEqual(app.get_route("/k/{anything}").path_params, ["anything"])

    def test_route_error_is_a_value_error(self):
        self.assertTrue(issubclass(RouteError, ValueError))


class AsyncAppTest(unittest.TestCase):
    def test_is_async(self):
        app = App()
        app.route("/s")(lambda: 1)
        self.assertFalse(app.is_async)

        @app.route("/a")
        async def a():
            return 1

        self.assertTrue(app.is_async)
        self.assertTrue(app.get_route("/a").is_async)
        self.assertFalse(app.get_route("/s").is_async)

    def test_async_middleware_makes_the_app_async(self):
        app = App()
        app.route("/s")(lambda: 1)

        @app.middleware
        async def mw(request, call_next):
            return await call_next(request)

        self.assertTrue(app.is_async)
        self.assertEqual(app.middlewares, [mw])

    def test_exports(self):
        for name in ("Request", "Response", "HTTPException", "Headers", "RouteError"):
            self.assertIn(name, neutrino.__all__)


if __name__ == "__main__":
    unittest.main()
