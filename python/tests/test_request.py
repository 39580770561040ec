"""Request injection, the Request's fields, Headers and QueryParams."""

import json
import unittest

from neutrino import App, Headers, Request
from neutrino.internal.worker.executor import build_route_table, execute
from neutrino.internal.worker.main import route_registry
from neutrino.internal.worker.protocol import TaskAssignment


def make_app() -> App:
    app = App()

    @app.route("/plain")
    def plain(x: int = 0):
        return {"x": x}

    @app.route("/me/{user_id}", methods=["POST"])
    def me(user_id: int, request: Request, limit: int = 5):
        return {
            "user_id": user_id,
            "limit": limit,
            "method": request.method,
            "path": request.path,
            "route": request.route,
            "query": request.query,
            "params": dict(request.query_params),
            "tags": request.query_params.get_all("tag"),
            "agent": request.headers.get("User-Agent"),
            "client": list(request.client) if request.client else None,
            "body": request.body.decode(),
            "json": request.json(),
            "request_id": request.request_id,
            "path_params": request.path_params,
        }

    @app.route("/raw", methods=["POST"])
    def raw(req: Request):  # any name: the annotation decides
        return {"length": len(req.body), "client": req.client}

    return app


TABLE = build_route_table(make_app())


def run(method, route, path, query="", body=b"", params=(), headers=(), client=("", 0)):
    task = TaskAssignment(7, method, route, path, query, list(params), list(headers), "req-1",
                          client[0], client[1], body)
    status, flags, out_headers, out = execute(TABLE, task)
    return status, json.loads(bytes(out))


class InjectionTest(unittest.TestCase):
    def test_fields(self):
        status, body = run(
            "POST", "/me/{user_id}", "/me/42", "limit=2&tag=a&tag=b&sp%C3%A9=%C3%A9",
            b'{"limit": 9}', [("user_id", "42")], [("user-agent", "curl/8")], ("10.0.0.1", 5000),
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {
            "user_id": 42, "limit": 2, "method": "POST", "path": "/me/42", "route": "/me/{user_id}",
            "query": "limit=2&tag=a&tag=b&sp%C3%A9=%C3%A9",
            "params": {"limit": "2", "tag": "b", "spé": "é"}, "tags": ["a", "b"],
            "agent": "curl/8", "client": ["10.0.0.1", 5000], "body": '{"limit": 9}',
            "json": {"limit": 9}, "request_id": "req-1", "path_params": {"user_id": "42"},
        })

    def test_names_the_handler_does_not_declare_are_its_business(self):
        status, body = run("POST", "/raw", "/raw", "anything=1", b"not json at all")
        self.assertEqual((status, body), (200, {"length": 15, "client": None}))

    def test_the_request_param_is_not_an_argument(self):
        status, body = run("POST", "/raw", "/raw", "req=1")
        self.assertEqual(status, 200)

    def test_registry_flags(self):
        entries = {e["path"]: e for e in route_registry(TABLE, concurrent=False)}
        self.assertNotIn("headers", entries["/plain"])
        self.assertIs(entries["/me/{user_id}"]["headers"], True)
        self.assertIs(entries["/raw"]["headers"], True)
        self.assertFalse(any("sync" in e for e in entries.values()))  # one task at a time
        concurrent = route_registry(TABLE, concurrent=True)
        self.assertTrue(all(e["sync"] is True for e in concurrent))


class HeadersTest(unittest.TestCase):
    def test_case_insensitive_and_multi_valued(self):
        headers = Headers([("Content-Type", "text/plain"), ("set-cookie", "a"), ("Set-Cookie", "b")])
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertEqual(headers.get("CONTENT-TYPE"), "text/plain")
        self.assertIsNone(headers.get("x"))
        self.assertIn("Set-Cookie", headers)
        self.assertEqual(headers.get_all("set-cookie"), ["a", "b"])
        self.assertEqual(list(headers), ["content-type", "set-cookie"])
        self.assertEqual(len(headers), 2)
        with self.assertRaises(KeyError):
            headers["nope"]

    def test_changes(self):
        headers = Headers({"a": "1"})
        headers["A"] = "2"
        headers.add("b", "3")
        headers.add("b", "4")
        headers.set("c", 5)
        self.assertEqual(headers.raw(), [("A", "2"), ("b", "3"), ("b", "4"), ("c", "5")])
        del headers["B"]
        self.assertEqual(headers.pop("c"), "5")
        self.assertIsNone(headers.pop("c"))
        self.assertEqual(headers.raw(), [("A", "2")])
        with self.assertRaises(KeyError):
            del headers["zz"]

    def test_request_defaults(self):
        request = Request()
        self.assertEqual((request.method, request.path, request.query, request.body),
                         ("GET", "/", "", b""))
        self.assertIsNone(request.client)
        self.assertEqual(dict(request.query_params), {})
        self.assertIn("GET /", repr(request))


if __name__ == "__main__":
    unittest.main()


class CookieTest(unittest.TestCase):
    def test_request_cookies_from_every_cookie_header(self):
        from neutrino import Request

        r = Request(headers=[("cookie", 'a=1; b="x y"'), ("Cookie", "c=3; a=9; lonely")])
        self.assertEqual(r.cookies, {"a": "1", "b": "x y", "c": "3", "": "lonely"})
        self.assertEqual(Request().cookies, {})

    def test_set_and_delete_cookie_add_one_header_each(self):
        from neutrino import Response

        response = Response()
        response.set_cookie("sid", "s1", max_age=60, httponly=True, secure=True, domain="x.org")
        response.set_cookie("pref", "a", samesite=None, path=None)
        response.delete_cookie("old")
        sid, pref, old = response.headers.get_all("set-cookie")
        self.assertEqual(sid, "sid=s1; Domain=x.org; HttpOnly; Max-Age=60; Path=/; SameSite=Lax; Secure")
        self.assertEqual(pref, "pref=a")
        self.assertIn("Max-Age=0", old)
        with self.assertRaises(ValueError):
            response.set_cookie("x", "1", samesite="sometimes")
