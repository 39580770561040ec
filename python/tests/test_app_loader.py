"""Loading the user's app from an APP string, and the StartupFailure kinds."""

import os
import sys
import tempfile
import textwrap
import unittest

from neutrino import App
from neutrino.internal.worker.app_loader import StartupFailure, load_app

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(PYTHON_DIR, "tests", "fixtures")


class LoaderTestCase(unittest.TestCase):
    """Runs each test from python/ and undoes what importing did to sys.path and sys.modules."""

    def setUp(self):
        self._cwd = os.getcwd()
        self._path = list(sys.path)
        self._modules = set(sys.modules)
        os.chdir(PYTHON_DIR)

    def tearDown(self):
        os.chdir(self._cwd)
        sys.path[:] = self._path
        for name in set(sys.modules) - self._modules:
            del sys.modules[name]

    def assertFails(self, app_path, kind):
        with self.assertRaises(StartupFailure) as caught:
            load_app(app_path)
        self.assertEqual(caught.exception.kind, kind, caught.exception.message)
        return caught.exception


class LoadTest(LoaderTestCase):
    def test_dotted_module(self):
        app = load_app("tests.fixtures.good_app:app")
        self.assertIsInstance(app, App)
        self.assertEqual(app.list_routes()[:2], ["/add", "/process"])

    def test_package_submodule(self):
        app = load_app("tests.fixtures.package_app.service:app")
        self.assertEqual(app.list_routes(), ["/ping"])

    def test_cwd_first_on_sys_path(self):
        load_app("tests.fixtures.good_app:app")
        self.assertEqual(sys.path[0], PYTHON_DIR)

    def test_file_path_forms(self):
        for app_path in (
            "tests/fixtures/file_app:app",
            "tests/fixtures/file_app.py:app",
            os.path.join(FIXTURES, "file_app.py") + ":app",
        ):
            with self.subTest(app_path=app_path):
                sys.modules.pop("file_app", None)
                app = load_app(app_path)
                self.assertEqual(app.list_routes(), ["/hello"])
                self.assertEqual(sys.path[0], FIXTURES)

    def test_file_in_current_directory(self):
        os.chdir(FIXTURES)
        self.assertEqual(load_app("file_app.py:app").list_routes(), ["/hello"])


class BadAppPathTest(LoaderTestCase):
    def test_bad_app_paths(self):
        for app_path in ("good_app", ":app", "good_app:", "", "good-app:app", "good_app:1x",
                         "good_app:app.sub", "tests/fixtures/my-app.py:app", "a..b:app"):
            with self.subTest(app_path=app_path):
                self.assertFails(app_path, "bad_app_path")

    def test_message(self):
        failure = self.assertFails("myapp", "bad_app_path")
        self.assertEqual(
            failure.message,
            "APP must be 'module:attribute' (for example 'myapp:app'), got 'myapp'",
        )


class ModuleNotFoundTest(LoaderTestCase):
    def test_top_module_missing(self):
        failure = self.assertFails("myap:app", "module_not_found")
        self.assertEqual(failure.message, f"module 'myap' not found (looked in {PYTHON_DIR})")

    def test_package_or_submodule_missing(self):
        self.assertFails("tests.fixtures.nope:app", "module_not_found")
        self.assertFails("no_such_package.sub:app", "module_not_found")

    def test_file_missing(self):
        failure = self.assertFails("tests/fixtures/nope.py:app", "module_not_found")
        self.assertEqual(failure.message, f"module 'nope' not found (looked in {FIXTURES})")

    def test_missing_dependency_is_an_import_error(self):
        failure = self.assertFails("tests.fixtures.missing_dependency_app:app", "import_error")
        self.assertIn("neutrino_no_such_dependency", failure.message)
        self.assertIn("missing_dependency_app.py", failure.traceback)


class ImportErrorTest(LoaderTestCase):
    def test_module_raising(self):
        failure = self.assertFails("tests.fixtures.raising_app:app", "import_error")
        self.assertEqual(
            failure.message,
            "importing 'tests.fixtures.raising_app' failed: ZeroDivisionError: division by zero",
        )
        self.assertTrue(failure.traceback.startswith("Traceback (most recent call last):"))
        self.assertIn("raising_app.py", failure.traceback)
        self.assertIn("_configure", failure.traceback)
        self.assertTrue(failure.traceback.endswith("ZeroDivisionError: division by zero\n"))
        self.assertNotIn("<frozen importlib", failure.traceback)
        self.assertNotIn("app_loader.py", failure.traceback)

    def test_syntax_error_and_sys_exit(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name, source, expected in (
                ("broken_syntax", "def (:\n", "SyntaxError"),
                ("exits", "import sys\nsys.exit(3)\n", "SystemExit: 3"),
            ):
                with self.subTest(name):
                    with open(os.path.join(tmp, name + ".py"), "w") as f:
                        f.write(source)
                    failure = self.assertFails(os.path.join(tmp, name + ".py") + ":app",
                                               "import_error")
                    self.assertIn(expected, failure.message)
                    self.assertIn(expected.split(":")[0], failure.traceback)


class AttributeTest(LoaderTestCase):
    def test_attribute_not_found(self):
        failure = self.assertFails("tests.fixtures.good_app:ap", "attribute_not_found")
        self.assertEqual(failure.message, "module 'tests.fixtures.good_app' has no attribute 'ap'")

    def test_not_an_app(self):
        cases = {
            "tests.fixtures.good_app:helper":
                "'tests.fixtures.good_app:helper' is a function, not a neutrino App, an ASGI app nor a WSGI app"
                " (if it returns the app, serve it with --factory)",
            "tests.fixtures.not_an_app:app":
                "'tests.fixtures.not_an_app:app' is a dict, not a neutrino App, an ASGI app nor a WSGI app",
            "tests.fixtures.not_an_app:number":
                "'tests.fixtures.not_an_app:number' is an int, not a neutrino App, an ASGI app nor a WSGI app",
            "tests.fixtures.not_an_app:AppClass":
                "'tests.fixtures.not_an_app:AppClass' is the App class, not an App instance "
                "(create one: app = App())",
        }
        for app_path, message in cases.items():
            with self.subTest(app_path):
                self.assertEqual(self.assertFails(app_path, "not_an_app").message, message)

    def test_dynamic_fixture_module(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "dyn_app.py"), "w") as f:
                f.write(textwrap.dedent("""
                    from neutrino import App
                    app = App()
                    app.route("/x")(lambda: 1)
                """))
            self.assertEqual(load_app(tmp + "/dyn_app:app").list_routes(), ["/x"])


if __name__ == "__main__":
    unittest.main()


class FactoryTest(LoaderTestCase):
    """--factory (NEUTRINO_FACTORY=1): APP names a function whose result is the app."""

    def load(self, source, attribute, factory):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "factory_mod.py"), "w") as f:
                f.write(textwrap.dedent(source))
            old = os.environ.pop("NEUTRINO_FACTORY", None)
            if factory:
                os.environ["NEUTRINO_FACTORY"] = "1"
            try:
                return load_app(os.path.join(tmp, "factory_mod.py") + ":" + attribute)
            finally:
                os.environ.pop("NEUTRINO_FACTORY", None)
                if old is not None:
                    os.environ["NEUTRINO_FACTORY"] = old

    SOURCE = """
        from neutrino import App
        app = App()
        def create_app():
            made = App()
            made.route("/made")(lambda: {})
            return made
        def broken():
            raise RuntimeError("no database")
    """

    def test_the_factory_is_called_once_and_its_app_served(self):
        app = self.load(self.SOURCE, "create_app", True)
        self.assertIsInstance(app, App)
        self.assertEqual(app.list_routes(), ["/made"])

    def test_without_factory_a_function_is_refused_with_a_hint(self):
        with self.assertRaises(StartupFailure) as caught:
            self.load(self.SOURCE, "create_app", False)
        self.assertEqual(caught.exception.kind, "not_an_app")
        self.assertIn("--factory", caught.exception.message)

    def test_a_factory_that_raises_or_is_not_a_function(self):
        with self.assertRaises(StartupFailure) as caught:
            self.load(self.SOURCE, "broken", True)
        self.assertEqual(caught.exception.kind, "import_error")
        self.assertIn("no database", caught.exception.message)
        self.assertIn("raise RuntimeError", caught.exception.traceback)
        with self.assertRaises(StartupFailure) as caught:
            self.load(self.SOURCE, "app", True)
        self.assertEqual(caught.exception.kind, "not_an_app")
        self.assertIn("not a function", caught.exception.message)
