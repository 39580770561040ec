"""Route templates of foreign apps, from objects shaped like Starlette's, Flask's, Django's,
Bottle's and Pyramid's: no framework needed (the e2e tests use the real ones, Falcon's too)."""

import unittest

from neutrino.internal import introspect


class Introspection(unittest.TestCase):
    def test_templates_then_the_catch_all(self):
        class Route:
            def __init__(self, path):
                self.path_format = path

        class Mount:
            def __init__(self, path, routes=None):
                self.path = path
                self.routes = routes or []

        class App:
            routes = [Route("/items/{item_id}"), Route("/items/{other}"), Route("/"),
                      Mount("/api", [Route("/users/{id}")]), Mount("/static"),
                      Route("/file-{name}.txt")]

        class Middleware:  # the app wrapped: found through .app
            app = App()

        entries = introspect.registry(Middleware(), websocket=True)
        self.assertEqual([e["path"] for e in entries],
                         ["/items/{item_id}", "/", "/api/users/{id}", "/api/*", "/static/*", "/*"])
        self.assertTrue(all(e["headers"] and e["websocket"] for e in entries))
        self.assertEqual(entries[0]["methods"], ["*"])  # every method, HEAD as HEAD, goes to the app

    def test_starlette_path_before_path_format_and_fastapi_included_routers(self):
        class Route:
            def __init__(self, path, path_format):
                self.path, self.path_format = path, path_format

        class Mount(Route):
            def __init__(self, path, routes=()):
                super().__init__(path, path + "/{path}")  # as Starlette compiles a Mount
                self.routes = list(routes)

        class Context:  # FastAPI's _EffectiveRouteContext: a route with its prefixes applied
            def __init__(self, path, starlette_route=None):
                self.path, self.starlette_route = path, starlette_route

        class IncludedRouter:  # FastAPI's include_router() result (0.165): no path of its own
            def effective_route_contexts(self):
                return iter([Context("/v1/users/{user_id}"),
                             Context("", Mount("/v1/m", [Route("/h/{n}", "/h/{n}")]))])

        class App:
            routes = [Route("/files/{rest:path}", "/files/{rest}"), Mount("/static"),
                      IncludedRouter()]

        self.assertEqual([e["path"] for e in introspect.registry(App(), websocket=False)],
                         ["/files/*", "/static/*", "/v1/users/{user_id}", "/v1/m/h/{n}", "/v1/m/*",
                          "/*"])

    def test_flask_rules(self):
        class Rule:
            host = None

            def __init__(self, rule):
                self.rule = rule

        class UrlMap:
            def iter_rules(self):
                return [Rule("/static/<path:filename>"), Rule("/users/<int(min=1):id>/posts"),
                        Rule("/a/<path:p>/b"), Rule("/plain")]

        class Flask:
            url_map = UrlMap()

        self.assertEqual([e["path"] for e in introspect.registry(Flask(), websocket=False)],
                         ["/static/*", "/users/{id}/posts", "/a/{p}/b", "/plain", "/*"])

    def test_typed_parameters_and_django_regexes(self):
        self.assertEqual(introspect.normalize("/items/{item_id:int}/x"), "/items/{item_id}/x")
        self.assertEqual(introspect.normalize("/files/{rest:path}"), "/files/*")
        self.assertIsNone(introspect.normalize("/a/*/b"))
        self.assertIsNone(introspect.normalize("/file-{name}.txt"))

        class Regex:
            _regex = r"^articles/(?P<year>[0-9]{4})/(?P<slug>[-\w]+)/$"

        class Unnamed:
            _regex = r"^(en|fr)/about/$"

        self.assertEqual(introspect._django_part(Regex()), "articles/{year}/{slug}/")
        self.assertIsNone(introspect._django_part(Unnamed()))

    def test_bottle_rules(self):
        class Route:
            def __init__(self, rule):
                self.rule = rule

        class Bottle:
            routes = [Route(r) for r in ("/items/<item_id:int>", "/old/:name", "/old2/:id#[0-9]+#/x",
                                         "/re/<x:re:[a-z]{2}>/y", "/static/<filepath:path>",
                                         "/a/<p:path>/b", "/<name>")]

        Bottle.__module__ = "bottle"  # how the worker tells a Bottle app
        self.assertEqual([e["path"] for e in introspect.registry(Bottle(), websocket=False)],
                         ["/items/{item_id}", "/old/{name}", "/old2/{id}/x", "/re/{x}/y",
                          "/static/*", "/a/{p}/b", "/{name}", "/*"])

    def test_pyramid_patterns(self):
        class Route:
            def __init__(self, pattern):
                self.pattern = pattern

        class Mapper:
            def get_routes(self):
                return [Route(p) for p in ("/items/{item_id}", r"years/{year:\d{4}}/{slug}",
                                           "/files/*subpath", "/page/{name}.html")]

        class Router:
            routes_mapper = Mapper()

        Router.__module__ = "pyramid.router"
        self.assertEqual([e["path"] for e in introspect.registry(Router(), websocket=False)],
                         ["/items/{item_id}", "/years/{year}/{slug}", "/files/*", "/*"])

    def test_an_app_without_routes_has_the_catch_all(self):
        def app(environ, start_response):
            return []

        entries = introspect.registry(app, websocket=False)
        self.assertEqual(entries, [{"path": "/*", "methods": ["*"],
                                    "headers": True, "http_version": True}])


if __name__ == "__main__":
    unittest.main()
