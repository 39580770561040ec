"""Route templates of a foreign (ASGI or WSGI) app, for labels only.

The orchestrator sends every path to a foreign app, which answers its own 404 and 405; but
metrics, the access log, slow-route isolation and the status page group requests by the route
the orchestrator matched. So the worker lists the templates the framework can tell
(Starlette/FastAPI/Litestar ``app.routes``, Flask/Quart ``url_map``, Django's URL resolver,
Bottle's ``routes``, Falcon's ``falcon.inspect``, Pyramid's routes mapper), then a catch-all
``/*``: a request is labelled by its template, or by ``/*``, never by its raw path.

A template is kept only if the orchestrator's router can take it as it is: segments that are
literal text, a whole ``{name}``, or a final ``*``. Anything else (a regex, ``file-{name}.txt``)
is left to the catch-all. Templates of the same shape (``/u/{id}``, ``/u/{name}``) are one.
"""

import re
import sys
from typing import Any, Iterable, List, Optional

#: Every method goes to the app as sent (PROPFIND, PURGE, HEAD as HEAD...), which answers its own 405.
ANY_METHOD = "*"
CATCH_ALL = "/*"
#: More templates than this is a generated URL space, not a route table: the rest share "/*".
MAX_TEMPLATES = 2000

_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'+,;=@%-]*$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TYPED_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}/]*)\}")


def registry(app: Any, websocket: bool, log: Any = sys.stderr, stream_large_body: bool = False
             ) -> List[dict]:
    """RouteRegistry entries for a foreign app: its templates, then the catch-all.
    ``stream_large_body``: the app reads a large or chunked body as it arrives (ASGI)."""
    try:
        templates = list(templates_of(app))
    except Exception as exc:  # never a reason not to serve: every path still reaches the app
        log.write(f"neutrino: cannot list the routes of {type(app).__name__}: {exc!r}\n")
        templates = []
    entries = []
    shapes = set()
    for path in templates + [CATCH_ALL]:
        path = normalize(path)
        if path is None:
            continue
        shape = re.sub(r"\{[^}]*\}", "{}", path)
        if shape in shapes:
            continue
        if len(shapes) >= MAX_TEMPLATES and path != CATCH_ALL:
            continue
        shapes.add(shape)
        entry: dict = {"path": path, "methods": [ANY_METHOD], "headers": True}
        if stream_large_body:
            entry["stream_large_body"] = True
        if websocket:
            entry["websocket"] = True
        entry["http_version"] = True  # ASGI's http_version, WSGI's SERVER_PROTOCOL
        entries.append(entry)
    return entries


def normalize(path: str) -> Optional[str]:
    """The template as the router takes it, or None when it cannot."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    # Litestar's and Starlette's typed parameters, ``{id:int}``; a final ``{p:path}`` spans
    # segments, as ``*`` does.
    path = _TYPED_PARAM.sub(
        lambda m: "*" if m.group(2) == "path" and m.end() == len(path) else "{" + m.group(1) + "}",
        path)
    segments = path[1:].split("/")
    for i, segment in enumerate(segments):
        if segment == "*":
            if i != len(segments) - 1:
                return None
        elif not (_LITERAL.match(segment) or _PARAM.match(segment)):
            return None
    return path


def templates_of(app: Any) -> Iterable[str]:
    """The app's route templates in the SDK syntax (``/items/{id}``, a final ``*``)."""
    if _is_django(app):
        return _django_templates()
    module = type(app).__module__
    if module == "bottle":
        return _bottle_templates(app)
    if module.startswith("falcon."):
        return _falcon_templates(app)
    if module.startswith("pyramid."):
        return _pyramid_templates(app)
    flask_map = getattr(app, "url_map", None)
    if flask_map is not None and hasattr(flask_map, "iter_rules"):
        return _flask_templates(flask_map)
    routes = _starlette_routes(app)
    if routes is not None:
        return _starlette_templates(routes, "")
    return ()


# ------------------------------------------------------------------------- Starlette, FastAPI


def _starlette_routes(app: Any) -> Optional[list]:
    """``app.routes`` of the app, or of the app inside its middleware (``.app``), if a list."""
    for _ in range(8):
        routes = getattr(app, "routes", None)
        if isinstance(routes, list):
            return routes
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _starlette_templates(routes: list, prefix: str) -> Iterable[str]:
    for route in routes:
        # ``path`` as declared: a Mount's own prefix (its ``path_format`` adds "/{path}"), and a
        # final ``{rest:path}`` that normalize() makes ``*`` (``path_format`` drops the ``:path``).
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            path = getattr(route, "path_format", None)
        contexts = getattr(route, "effective_route_contexts", None)
        if not isinstance(path, str) and callable(contexts):
            # An included router (FastAPI 0.165) is one route object: its routes, prefixes
            # applied, are its contexts, each with the route it stands for.
            for context in contexts():
                yield from _context_templates(context, prefix)
            continue
        if not isinstance(path, str):
            continue  # a Host(), or something of the app's own
        if _is_mount(route):
            yield from _mount_templates(route, prefix + path.rstrip("/"))
        else:
            yield prefix + path


def _context_templates(context: Any, prefix: str) -> Iterable[str]:
    # A route FastAPI hands to Starlette as it is (a Mount) is that route, with its full path.
    starlette_route = getattr(context, "starlette_route", None)
    if starlette_route is not None:
        yield from _starlette_templates([starlette_route], prefix)
        return
    path = getattr(context, "path", None)
    if isinstance(path, str) and path:
        yield prefix + path


def _mount_templates(mount: Any, at: str) -> Iterable[str]:
    inner = getattr(mount, "routes", None)
    if inner:
        yield from _starlette_templates(list(inner), at)
    yield at + "/*"  # what the mounted app serves beyond those


def _is_mount(route: Any) -> bool:
    return any(cls.__name__ == "Mount" for cls in type(route).__mro__)


# ------------------------------------------------------------------------------------- Flask

_FLASK_VARIABLE = re.compile(r"<(?:([A-Za-z_][A-Za-z0-9_]*)(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")


def _flask_templates(url_map: Any) -> Iterable[str]:
    for rule in url_map.iter_rules():
        text = getattr(rule, "rule", None)
        if not isinstance(text, str) or getattr(rule, "host", None):
            continue
        yield _converted(text, _FLASK_VARIABLE, lambda m: m.group(1) == "path")


def _converted(text: str, variable: "re.Pattern[str]", is_path: Any) -> str:
    """``/a/<int:id>`` → ``/a/{id}``; a final path variable → ``*`` (it spans segments)."""
    out = []
    last = 0
    for match in variable.finditer(text):
        out.append(text[last:match.start()])
        if is_path(match) and match.end() == len(text):
            out.append("*")
        else:
            out.append("{" + match.group(2) + "}")
        last = match.end()
    out.append(text[last:])
    return "".join(out)


# ------------------------------------------------------------------------------------ Django

_DJANGO_VARIABLE = re.compile(r"<(?:([A-Za-z_][A-Za-z0-9_]*):)?([A-Za-z_][A-Za-z0-9_]*)>")
# A named group that cannot span segments: (?P<pk>[0-9]+), (?P<slug>[-\w]+)
_REGEX_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>[^()/]*\)")


def _is_django(app: Any) -> bool:
    cls = type(app)
    return cls.__module__.startswith("django.") and cls.__name__ in ("WSGIHandler", "ASGIHandler")


def _django_templates() -> Iterable[str]:
    from django.urls import get_resolver  # the app is Django's: it is importable

    def walk(patterns: Any, prefix: str) -> Iterable[str]:
        for entry in patterns:
            part = _django_part(entry.pattern)
            if part is None:
                continue
            inner = getattr(entry, "url_patterns", None)
            if inner is not None:  # include(...)
                yield from walk(inner, prefix + part)
            else:
                yield prefix + part

    return ["/" + path for path in walk(get_resolver().url_patterns, "")]


def _django_part(pattern: Any) -> Optional[str]:
    route = getattr(pattern, "_route", None)
    if isinstance(route, str):  # path("items/<int:id>/", ...)
        return _converted(route, _DJANGO_VARIABLE, lambda m: m.group(1) == "path")
    regex = getattr(pattern, "_regex", None)
    if isinstance(regex, str):  # re_path: only the plain ones: ^items/(?P<id>[0-9]+)/$
        text = _REGEX_GROUP.sub(lambda m: "{" + m.group(1) + "}", regex)
        text = text[1:] if text.startswith("^") else text
        text = text[:-1] if text.endswith("$") else text
        return text if re.fullmatch(r"[A-Za-z0-9._~/{}-]*", text) else None
    return None


# ------------------------------------------------------------------------------------ Bottle

# <name>, <name:filter>, <name:filter:config>, and the old :name and :name#regex#
_BOTTLE_VARIABLE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]*)(?::[^>]*)?)?>|:([A-Za-z_][A-Za-z0-9_]*)(?:#[^#]*#)?")


def _bottle_templates(app: Any) -> Iterable[str]:
    for route in getattr(app, "routes", ()):
        rule = getattr(route, "rule", None)
        if isinstance(rule, str):
            yield _BOTTLE_VARIABLE.sub(
                lambda m: "*" if m.group(2) == "path" and m.end() == len(rule)
                else "{" + (m.group(1) or m.group(3)) + "}", rule)


# ------------------------------------------------------------------------------------ Falcon


def _falcon_templates(app: Any) -> Iterable[str]:
    from falcon.inspect import inspect_routes  # the app is Falcon's: it is importable

    # {id:int} and a final {rest:path} are normalize()'s; a field within a segment is dropped there.
    return [route.path for route in inspect_routes(app)]


# ----------------------------------------------------------------------------------- Pyramid

# {name} or {name:regex} (a regex may hold braces of its own: \d{4}); a final *name spans segments
_PYRAMID_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(?:[^{}]|\{[^{}]*\})*)?\}")
_PYRAMID_STAR = re.compile(r"/\*[A-Za-z_][A-Za-z0-9_]*$")


def _pyramid_templates(app: Any) -> Iterable[str]:
    mapper = getattr(app, "routes_mapper", None)
    for route in mapper.get_routes() if mapper is not None else ():
        pattern = getattr(route, "pattern", None)
        if isinstance(pattern, str):
            pattern = pattern if pattern.startswith("/") else "/" + pattern
            yield _PYRAMID_STAR.sub("/*", _PYRAMID_VARIABLE.sub(lambda m: "{" + m.group(1) + "}", pattern))
