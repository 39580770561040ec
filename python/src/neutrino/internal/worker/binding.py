"""Binds a request's path parameters, query string and JSON body to a handler's parameters.

Everything that depends only on the handler (its signature, its type hints, one converter per
parameter, from conversion.py) is worked out once in ``ArgumentBinder.__init__``, which is also
where a route that can never work is refused (RouteError, at start-up); ``bind`` does the
per-request part.

The rule, for each parameter by name: a path parameter of the route comes from the path;
otherwise from the query string if the name is there (on any method); otherwise from the JSON
body, a JSON object's member of that name. Later sources never override earlier ones. A handler
with one model parameter (a dataclass, TypedDict or pydantic model) gets the whole JSON object
when the object has no member of that parameter's name. A body that is not a JSON object goes to
the first parameter that is not a path parameter. A parameter annotated ``Request`` gets the
request. The Content-Type header is not checked: ``curl -d '{"x": 1}'`` sends a form content
type with a JSON body, and that must work.
"""

import inspect
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...errors import RouteError
from ...request import Request
from ...websocket import WebSocket
from .conversion import _ANY, Invalid, _shown, compile_hint, describe_hint
from ...uploads import UploadedFile
from .forms import FormTooLarge, InvalidForm, form_kind, parse_form
from .jsondata import InvalidJSON, decode_json

# Where an argument came from: the first item of an error's `loc`.
QUERY = "query"
PATH = "path"
BODY = "body"


class _FormSource(str):
    """A form field comes from the body ("body" in errors) but is text, converted like a query
    parameter: a source of its own, told apart from BODY by identity."""


FORM = _FormSource("body")

_NO_ARGS: Tuple[()] = ()


class InvalidArguments(Exception):
    """The request's arguments do not fit the handler (HTTP 422).

    ``errors``: ``{"loc": [source, name, ...], "msg": str, "type": kind}``: the source is
    path, query or body, the rest the path into a nested value (field names, list indexes).
    """

    def __init__(self, errors: List[Dict[str, Any]]) -> None:
        self.errors = errors
        self.detail = "; ".join(e["msg"] for e in errors)
        super().__init__(self.detail)


class InvalidBody(Exception):
    """The request body is not valid JSON, or not a valid form (HTTP 400)."""


class BodyTooLarge(InvalidBody):
    """A form with more fields than allowed (HTTP 413)."""


class Param:
    """One handler parameter, as the binder and the OpenAPI generator see it."""

    __slots__ = ("name", "hint", "conv", "from_text", "from_json", "multi", "required",
                 "default", "expected", "in_path", "kind")

    def __init__(self, parameter: inspect.Parameter, hint: Any, in_path: bool) -> None:
        self.name = parameter.name
        self.hint = hint
        self.conv = conv = compile_hint(hint)
        self.from_text, self.from_json, self.multi = conv.text, conv.json, conv.multi
        self.required = parameter.default is inspect.Parameter.empty
        self.default = parameter.default
        self.expected = describe_hint(hint) if conv is _ANY else conv.expected
        self.in_path = in_path
        self.kind = parameter.kind


def parse_query(query: str) -> List[Tuple[str, str]]:
    """parse_qsl(query, keep_blank_values=True), with a fast path for the common case."""
    if "%" in query or "+" in query:
        from urllib.parse import parse_qsl

        return parse_qsl(query, keep_blank_values=True)
    # Nothing to unquote: splitting is all parse_qsl would do, at a fifth of the cost.
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


class UnresolvedHints(Exception):
    """The handler's type hints name something not defined yet (resolved again at start-up)."""


def _type_hints(handler: Callable, strict: bool) -> Dict[str, Any]:
    target = handler
    if not (inspect.isfunction(handler) or inspect.ismethod(handler)):
        call = getattr(type(handler), "__call__", None)
        if inspect.isfunction(call) and not inspect.isclass(handler):
            target = call  # a callable object: its __call__ has the hints
    try:
        return typing.get_type_hints(target)
    except NameError:
        if strict:
            raise UnresolvedHints from None
        return {}
    except Exception:  # an unresolvable annotation must not stop the app from loading
        return {}


def handler_name(handler: Callable) -> str:
    return getattr(handler, "__name__", None) or type(handler).__name__


class ArgumentBinder:
    """Turns one request's arguments into ``(args, kwargs)`` for one handler.

    ``path_params``: the names in the route's path; ``route``: the route's path, for errors.
    Raises RouteError when the route cannot work: a path parameter the handler does not take,
    or one whose type cannot come from text. With ``strict_hints``, raises UnresolvedHints when
    a type hint names something not defined yet (a class defined below the route).
    """

    def __init__(self, handler: Callable, path_params: Sequence[str] = (), route: str = "",
                 strict_hints: bool = False, body_route: bool = False) -> None:
        # A route of POST, PUT or PATCH only: what an empty body lacks is missing from the body.
        self._missing_source = BODY if body_route else QUERY
        try:
            signature = inspect.signature(handler)
        except (TypeError, ValueError):  # some builtins have none: accept anything, as sent
            signature = inspect.Signature(
                [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
            )
        hints = _type_hints(handler, strict_hints)
        in_path = frozenset(path_params)
        params: List[Param] = []
        positional_only: List[Param] = []
        request_names: List[str] = []
        self.accepts_extra = False
        for parameter in signature.parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                self.accepts_extra = True
                continue
            if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                continue  # nothing in a request names it
            hint = hints.get(parameter.name, parameter.annotation)
            if hint is inspect.Parameter.empty or isinstance(hint, str):
                hint = Any  # no annotation, or a forward reference we could not resolve
            if hint is Request or hint is WebSocket:  # a WebSocket is the Request of its route
                if parameter.name in in_path:
                    raise RouteError(f"route {route!r}: path parameter {{{parameter.name}}} is "
                                     f"annotated Request in handler {handler_name(handler)!r}")
                request_names.append(parameter.name)
                if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                    positional_only.append(_RequestSlot(parameter))
                continue
            param = Param(parameter, hint, parameter.name in in_path)
            params.append(param)
            if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                positional_only.append(param)
        by_name = {p.name: p for p in params}
        for name in path_params:
            param = by_name.get(name)
            if param is None:
                if name in request_names or not self.accepts_extra:
                    raise RouteError(
                        f"route {route!r}: path parameter {{{name}}} has no matching parameter "
                        f"in handler {handler_name(handler)!r}"
                    )
                continue
            if not param.conv.textual or param.multi:
                raise RouteError(
                    f"route {route!r}: path parameter {{{name}}} of handler "
                    f"{handler_name(handler)!r} is annotated {describe_hint(param.hint)}, "
                    "which cannot come from the text of a path"
                )
        self.params = params
        self.request_names = tuple(request_names)
        self.wants_request = bool(request_names)
        # A handler that takes the Request reads what it likes from it: names it does not
        # declare are not unexpected, and a body is parsed only for parameters it can fill.
        self._lenient = self.wants_request
        self.parses_body = self._parse_body = (not self._lenient or self.accepts_extra
                            or any(not p.in_path for p in params))
        self._params: Dict[str, Param] = by_name
        self._required = [p for p in params if p.required]
        self._multi = frozenset(p.name for p in params if p.multi)
        self._positional_only = positional_only
        # Takes a body that is not an object: the first parameter not filled from the path.
        body_params = [p for p in params if not p.in_path]
        self._first = body_params[0].name if body_params else None
        models = [p for p in body_params if p.conv.model]
        # With a single model parameter, a JSON object without a member of its name is it.
        self.model_param: Optional[Param] = models[0] if len(models) == 1 else None
        self._model = self.model_param.name if self.model_param else None

    def bind(
        self, query: str, path_params: Sequence[Tuple[str, str]], body: Any,
        request: Optional[Request] = None, content_type: str = "",
    ) -> Tuple[tuple, Dict[str, Any]]:
        """``body`` is bytes-like (empty for none); ``content_type`` its Content-Type, which
        matters only for forms. Raises InvalidBody or InvalidArguments."""
        supplied: Dict[str, Tuple[str, Any]] = {}
        errors: List[Dict[str, Any]] = []
        if path_params:
            for name, text in path_params:
                supplied[name] = (PATH, text)
        if query:
            multi = self._multi
            for name, text in parse_query(query):
                if name in multi:
                    previous = supplied.get(name)
                    if previous is None:
                        supplied[name] = (QUERY, [text])
                    elif previous[0] is QUERY:
                        previous[1].append(text)
                elif name not in supplied or supplied[name][0] is QUERY:
                    supplied[name] = (QUERY, text)  # a repeated scalar: the last one wins
                # else: a path parameter; the query cannot override it
        form = form_kind(content_type, body) if body and self._parse_body else None
        if form is not None:
            self._supply_form(supplied, form, content_type, body)
        elif body and self._parse_body:
            try:
                data = decode_json(body)
            except InvalidJSON as exc:
                raise InvalidBody(str(exc)) from None
            if type(data) is dict:
                model = self._model
                if model is not None and model not in data and model not in supplied:
                    supplied[model] = (BODY, data)
                elif not supplied:  # nothing from the path or the query: the common case
                    for name, value in data.items():
                        supplied[name] = (BODY, value)
                else:
                    for name, value in data.items():
                        if name not in supplied:
                            supplied[name] = (BODY, value)
            elif self._first is not None and self._first not in supplied:
                supplied[self._first] = (BODY, data)
            elif not self._lenient:
                msg = ("the request body is not a JSON object, "
                       "and the handler has no parameter left to take it")
                errors.append(_error(BODY, None, "unexpected", msg))

        kwargs: Dict[str, Any] = {}
        params = self._params
        for name, (source, raw) in supplied.items():
            param = params.get(name)
            if param is None:
                if self.accepts_extra and name not in self.request_names:
                    kwargs[name] = raw  # **kwargs gets extra names as sent
                elif self._lenient:
                    pass  # the handler has the Request: it can read them there
                else:
                    msg = f"unexpected argument {name!r}"
                    errors.append(_error(source, name, "unexpected", msg))
                continue
            convert = param.from_json if source is BODY else param.from_text
            if source is FORM and param.conv is not _ANY and (
                    type(raw) is UploadedFile) is not param.conv.file:
                errors.append(_type_error(param, source, raw))
                continue
            if convert is not None:
                try:
                    raw = convert(raw)
                except (ValueError, OverflowError, TypeError, RecursionError):
                    # RecursionError: a converter that recurses per nesting level (a recursive
                    # model) given a value nested deeper than the stack left allows.
                    errors.append(_type_error(param, source, raw))
                    continue
                except Invalid as exc:
                    errors.extend(_nested_errors(param, source, exc))
                    continue
            kwargs[name] = raw
        for param in self._required:
            if param.name not in supplied:
                source = BODY if (body or param.conv.model) else self._missing_source
                errors.append(_error(source, param.name, "missing",
                                     f"missing argument {param.name!r}"))
        if errors:
            raise InvalidArguments(errors)
        if request is not None:
            for name in self.request_names:
                kwargs[name] = request
        if self._positional_only:
            args = tuple(kwargs.pop(p.name, p.default) for p in self._positional_only)
            return args, kwargs
        return _NO_ARGS, kwargs


    def _supply_form(self, supplied: Dict[str, Tuple[str, Any]], kind: str, content_type: str,
                     body: Any) -> None:
        """Form fields by name, as query parameters are (a repeated name is a list for a list
        parameter, else the last one wins); never over a path or query value."""
        try:
            fields = parse_form(kind, content_type, body)
        except FormTooLarge as exc:
            raise BodyTooLarge(str(exc)) from None
        except InvalidForm as exc:
            raise InvalidBody(str(exc)) from None
        multi = self._multi
        for name, value in fields:
            previous = supplied.get(name)
            if previous is not None and previous[0] is not FORM:
                continue
            if name in multi:
                if previous is None:
                    supplied[name] = (FORM, [value])
                else:
                    previous[1].append(value)
            else:
                supplied[name] = (FORM, value)


class _RequestSlot:
    """A positional-only parameter annotated Request, in the positional arguments' order."""

    __slots__ = ("name", "default")

    def __init__(self, parameter: inspect.Parameter) -> None:
        self.name = parameter.name
        self.default = parameter.default


def _error(source: str, name: Optional[str], type_: str, msg: str) -> Dict[str, Any]:
    return {"loc": [source] if name is None else [source, name], "msg": msg, "type": type_}


def _type_error(param: Param, source: str, raw: Any) -> Dict[str, Any]:
    shown = "a file" if type(raw) is UploadedFile else _shown(raw, source is BODY)
    msg = f"argument {param.name!r} must be {param.expected}, got {shown}"
    return _error(source, param.name, param.conv.kind, msg)


def _dotted(name: str, loc: tuple) -> str:
    out = name
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _nested_errors(param: Param, source: str, exc: Invalid) -> List[Dict[str, Any]]:
    out = []
    for loc, kind, text in exc.errors:
        where = _dotted(param.name, loc)
        if kind == "missing":
            msg = f"missing field {where!r}"
        elif kind == "unexpected":
            msg = f"unexpected field {where!r}"
        elif text.startswith("must be "):
            msg = f"field {where!r} {text}" if loc else f"argument {where!r} {text}"
        else:  # pydantic's own message, or a model's ValueError
            msg = f"{where}: {text}"
        out.append({"loc": [source, param.name, *loc], "msg": msg, "type": kind})
    return out
