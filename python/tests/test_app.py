"""The user-facing App and Route."""

import unittest

import neutrino
from neutrino import App, Route


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


if __name__ == "__main__":
    unittest.main()
