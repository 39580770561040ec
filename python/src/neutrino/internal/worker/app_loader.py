"""Imports the user's app from an APP string, as uvicorn and gunicorn do.

Accepted forms:
  ``myapp:app``, ``pkg.sub.myapp:app``   a module imported from the current directory;
  ``examples/myapp:app``, ``myapp.py:app`` a file: its directory goes on sys.path first.
What it names is a neutrino App, or an app the user already has (an ASGI or WSGI app: see
neutrino.internal.foreign), served through its adapter. Failures raise StartupFailure with one of the kinds of docs/protocol.md, which the worker sends
to the orchestrator as StartupError.
"""

import importlib
import inspect
import os
import sys
import traceback
from typing import Any, Optional, Tuple

from ...app import App
from ...errors import RouteError
from ..foreign import INTERFACES, adapter, interface_from_env, is_asgi, is_wsgi


class StartupFailure(Exception):
    """``kind``: bad_app_path, module_not_found, import_error, attribute_not_found, not_an_app
    or invalid_route (a route that cannot work: its message names it)."""

    def __init__(self, kind: str, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.traceback = traceback


def load_app(app_path: str, interface: Optional[str] = None) -> Any:
    """The App, or for a foreign app (ASGI, WSGI) its adapter (neutrino.internal.asgi, wsgi).

    ``interface``: auto, neutrino, asgi or wsgi (``--interface``); NEUTRINO_INTERFACE when None.
    """
    kind = interface_from_env() if interface is None else interface
    if kind not in INTERFACES:
        raise StartupFailure("not_an_app", f"unknown interface {kind!r} (expected one of "
                             f"{', '.join(INTERFACES)})")
    if kind == "fetch":
        raise StartupFailure("not_an_app", "--interface fetch is for JavaScript and TypeScript "
                             "apps; a Python app is neutrino, asgi or wsgi")
    module_name, attribute, search_dir = _parse(app_path)
    if search_dir in sys.path:
        sys.path.remove(search_dir)
    sys.path.insert(0, search_dir)
    module = _import(module_name, search_dir)
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise StartupFailure(
            "attribute_not_found", f"module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if os.environ.get(FACTORY_ENV) == "1":
        app = _call_factory(app_path, app)
    if isinstance(app, App) and kind in ("auto", "neutrino"):
        return app
    if kind == "auto":
        for candidate, test in (("asgi", is_asgi), ("wsgi", is_wsgi)):
            if test(app):
                return adapter(app, candidate)
    elif kind == "asgi" and is_asgi(app):
        return adapter(app, "asgi")
    elif kind == "wsgi" and is_wsgi(app):
        return adapter(app, "wsgi")
    raise StartupFailure("not_an_app", _not_an_app(app_path, app, kind))


#: ``--factory``: APP names a function that returns the app ("1"; absent: off).
FACTORY_ENV = "NEUTRINO_FACTORY"


def _call_factory(app_path: str, factory: Any) -> Any:
    """``--factory``: calls APP once, with no arguments; what it returns is the app."""
    if not callable(factory):
        raise StartupFailure("not_an_app", f"{app_path!r} is {_kind_of(factory)}, not a function:"
                             " --factory needs APP to name a function that returns the app")
    try:
        return factory()
    except (Exception, SystemExit) as exc:
        failure = _import_error(app_path, exc)
        raise StartupFailure("import_error", f"the factory {app_path!r} failed: "
                             f"{type(exc).__name__}: {exc}", failure.traceback) from None


def _not_an_app(app_path: str, app: Any, kind: str) -> str:
    if app is App:
        return f"{app_path!r} is the App class, not an App instance (create one: app = App())"
    expected = {
        "auto": "not a neutrino App, an ASGI app nor a WSGI app",
        "neutrino": "not a neutrino App (--interface neutrino)",
        "asgi": "not an ASGI 3 app: an async callable of (scope, receive, send) (--interface asgi)",
        "wsgi": "not a WSGI app: a callable of (environ, start_response) (--interface wsgi)",
    }[kind]
    hint = ""
    if inspect.isfunction(app) and os.environ.get(FACTORY_ENV) != "1":
        hint = " (if it returns the app, serve it with --factory)"
    return f"{app_path!r} is {_kind_of(app)}, {expected}{hint}"


def _parse(app_path: str) -> Tuple[str, str, str]:
    """(module name, attribute, directory to import from)."""
    module_part, colon, attribute = app_path.rpartition(":")
    if not colon or not module_part or not attribute:
        raise StartupFailure(
            "bad_app_path",
            f"APP must be 'module:attribute' (for example 'myapp:app'), got {app_path!r}",
        )
    if not attribute.isidentifier():
        raise StartupFailure(
            "bad_app_path", f"{attribute!r} in {app_path!r} is not a valid attribute name"
        )
    if "/" in module_part or module_part.endswith(".py"):
        directory, filename = os.path.split(module_part)
        module_name = filename[:-3] if filename.endswith(".py") else filename
        if not module_name.isidentifier():
            raise StartupFailure(
                "bad_app_path",
                f"{filename!r} in {app_path!r} cannot be imported: a module file name must be "
                "a Python identifier, plus '.py'",
            )
        return module_name, attribute, os.path.abspath(directory or ".")
    if not all(part.isidentifier() for part in module_part.split(".")):
        raise StartupFailure(
            "bad_app_path", f"{module_part!r} in {app_path!r} is not a valid module name"
        )
    return module_part, attribute, os.getcwd()


def _import(module_name: str, search_dir: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the module asked for (or a package above it) missing is module_not_found; a
        # module the user's code imports being missing is that code's import_error.
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise StartupFailure(
                "module_not_found", f"module {module_name!r} not found (looked in {search_dir})"
            ) from None
        raise _import_error(module_name, exc) from None
    except RouteError as exc:  # a route that can never work, refused as it was declared
        raise StartupFailure("invalid_route", str(exc), _user_traceback(exc)) from None
    except (Exception, SystemExit) as exc:  # SyntaxError, anything the module raised, sys.exit()
        raise _import_error(module_name, exc) from None


def _import_error(module_name: str, exc: BaseException) -> StartupFailure:
    # str(SyntaxError) carries the file and line, so no traceback is needed to read the summary.
    message = str(exc)
    summary = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return StartupFailure(
        "import_error", f"importing {module_name!r} failed: {summary}", _user_traceback(exc)
    )


def _user_traceback(exc: BaseException) -> str:
    """The traceback without the frames of importlib and of this loader: the user's code only."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if not _is_ours(f)])
    return "".join(te.format())


def _is_ours(frame: traceback.FrameSummary) -> bool:
    return frame.filename.startswith("<frozen importlib") or frame.filename == __file__


def _kind_of(obj: object) -> str:
    if isinstance(obj, type):
        return "a class"
    if callable(obj) and hasattr(obj, "__code__"):
        return "a function"
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
