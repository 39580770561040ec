"""load_app on apps that are not neutrino Apps: ASGI and WSGI callables, and --interface."""

import os
import sys
import tempfile
import unittest

from neutrino.internal.asgi import AsgiAdapter
from neutrino.internal.worker.app_loader import StartupFailure, load_app
from neutrino.internal.wsgi import WsgiAdapter

SOURCE = '''
async def asgi_app(scope, receive, send):
    pass

class AsgiObject:
    async def __call__(self, scope, receive, send):
        pass

asgi_object = AsgiObject()

def wsgi_app(environ, start_response):
    return []

def nothing():
    pass
'''


class Loading(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.file = os.path.join(cls.dir.name, "foreign_fixture_mod.py")
        with open(cls.file, "w") as f:
            f.write(SOURCE)

    @classmethod
    def tearDownClass(cls):
        sys.modules.pop("foreign_fixture_mod", None)
        cls.dir.cleanup()

    def load(self, attribute, interface="auto"):
        return load_app(f"{self.file}:{attribute}", interface)

    def fails(self, attribute, interface):
        with self.assertRaises(StartupFailure) as caught:
            self.load(attribute, interface)
        return caught.exception

    def test_auto_detects_each_kind(self):
        self.assertIsInstance(self.load("asgi_app"), AsgiAdapter)
        self.assertIsInstance(self.load("asgi_object"), AsgiAdapter)
        self.assertIsInstance(self.load("wsgi_app"), WsgiAdapter)
        failure = self.fails("nothing", "auto")
        self.assertEqual(failure.kind, "not_an_app")
        self.assertIn("not a neutrino App, an ASGI app nor a WSGI app", failure.message)

    def test_an_interface_insists_on_its_kind(self):
        self.assertIsInstance(self.load("asgi_app", "asgi"), AsgiAdapter)
        self.assertIsInstance(self.load("wsgi_app", "wsgi"), WsgiAdapter)
        self.assertIn("not a WSGI app", self.fails("asgi_app", "wsgi").message)
        self.assertIn("not an ASGI 3 app", self.fails("wsgi_app", "asgi").message)
        self.assertIn("not a neutrino App", self.fails("wsgi_app", "neutrino").message)
        self.assertIn("JavaScript and TypeScript", self.fails("wsgi_app", "fetch").message)
        self.assertIn("unknown interface", self.fails("wsgi_app", "cgi").message)

    def test_the_environment_chooses_when_not_told(self):
        os.environ["NEUTRINO_INTERFACE"] = "wsgi"
        try:
            with self.assertRaises(StartupFailure):
                load_app(f"{self.file}:asgi_app")
        finally:
            del os.environ["NEUTRINO_INTERFACE"]
        self.assertIsInstance(load_app(f"{self.file}:asgi_app"), AsgiAdapter)

    def test_the_root_path_reaches_the_adapter(self):
        os.environ["NEUTRINO_ROOT_PATH"] = "/api"
        try:
            self.assertEqual(self.load("wsgi_app").root_path, "/api")
        finally:
            del os.environ["NEUTRINO_ROOT_PATH"]


if __name__ == "__main__":
    unittest.main()
