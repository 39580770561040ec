"""Binds a request's path parameters, query string and JSON body to a handler's parameters.

Everything that depends only on the handler (its signature, its type hints, one converter per
parameter) is worked out once in ``ArgumentBinder.__init__``, which is also where a route that
can never work is refused (RouteError, at start-up); ``bind`` does the per-request part.

The rule, for each parameter by name: a path parameter of the route comes from the path;
otherwise from the query string if the name is there (on any method); otherwise from the JSON
body, a JSON object's member of that name. Later sources never override earlier ones. A handler
with one model parameter (a dataclass, TypedDict or pydantic model) gets the whole JSON object
when the object has no member of that parameter's name. A body that is not a JSON object goes to
the first parameter that is not a path parameter. A parameter annotated ``Request`` gets the
request. The Content-Type header is not checked: ``curl -d '{"x": 1}'`` sends a form content
type with a JSON body, and that must work.
"""

import dataclasses
import datetime as dt
import enum
import inspect
import json
import math
import re
import sys
import types
import typing
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...errors import RouteError
from ...request import Request

# Where an argument came from: the first item of an error's `loc`.
QUERY = "query"
PATH = "path"
BODY = "body"

_NO_ARGS: Tuple[()] = ()
_UNION_TYPES = (typing.Union, getattr(types, "UnionType", typing.Union))  # X | Y is 3.10+
_NONE_TYPE = type(None)


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
    """The request body is not valid JSON (HTTP 400)."""


class Invalid(Exception):
    """Raised by the converters of nested values: errors as (loc, type, msg-or-tail) triples.

    ``loc`` is relative to the value converted. The message is finished by the binder, which
    knows the argument's name: for "type" errors the third item is a tail ("must be int, got
    'x'"); for "missing" and "unexpected" it is unused; pydantic's own messages are kept.
    """

    def __init__(self, errors: List[Tuple[tuple, str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


# ------------------------------------------------------------------------------- converters
# A converter takes the raw value and returns the argument, or raises ValueError (the value does
# not fit: the converter's `kind` names the error) or Invalid (errors inside a nested value).
# `None` stands for "pass through unchanged", so the common un-annotated case costs no call.

Fn = Optional[Callable[[Any], Any]]

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
# int() and float() alone would also take "1_000", " 7 ", "٣" or "nan": too lenient for input.
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOL_TEXT = {"true": True, "1": True, "yes": True, "on": True,
              "false": False, "0": False, "no": False, "off": False}


def _int_from_text(text: str) -> int:
    if text.isascii() and text.isdigit():  # the common case, at half the regex's cost
        return int(text)
    if _INT_TEXT.fullmatch(text) is None:
        raise ValueError
    return int(text)


def _float_from_text(text: str) -> float:
    if _FLOAT_TEXT.fullmatch(text) is None:
        raise ValueError
    value = float(text)
    if not math.isfinite(value):  # "1e999": a float, but not one JSON can carry back
        raise ValueError
    return value


def _bool_from_text(text: str) -> bool:
    value = _BOOL_TEXT.get(text.lower())
    if value is None:
        raise ValueError
    return value


def _int_from_json(value: Any) -> int:
    if type(value) is int:  # not isinstance: True is an int but not an integer argument
        return value
    if type(value) is str:
        return _int_from_text(value)
    raise ValueError


def _float_from_json(value: Any) -> float:
    if type(value) is float:
        if not math.isfinite(value):  # 1e999 in a JSON body decodes to inf
            raise ValueError
        return value
    if type(value) is int:
        return float(value)  # may raise OverflowError, a ValueError-like 422 too
    if type(value) is str:
        return _float_from_text(value)
    raise ValueError


def _bool_from_json(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str:
        return _bool_from_text(value)
    raise ValueError


def _str_from_json(value: Any) -> str:
    if type(value) is str:
        return value
    raise ValueError


def _bytes_from_text(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _bytes_from_json(value: Any) -> bytes:
    if type(value) is str:
        return value.encode("utf-8")
    raise ValueError


def _reject(value: Any) -> Any:
    raise ValueError  # e.g. a dict parameter given a query string value


def _datetime_from_text(text: str) -> dt.datetime:
    if text[-1:] in ("Z", "z"):  # fromisoformat takes "Z" from Python 3.11 only
        text = text[:-1] + "+00:00"
    return dt.datetime.fromisoformat(text)


def _datetime_from_json(value: Any) -> dt.datetime:
    if type(value) is str:
        return _datetime_from_text(value)
    if type(value) in (int, float):  # Unix time, as pydantic takes it
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
        except (OverflowError, OSError) as exc:
            raise ValueError from exc
    raise ValueError


def _string_only(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def from_json(value: Any) -> Any:
        if type(value) is not str:
            raise ValueError
        return parse(value)

    return from_json


def _date_from_text(text: str) -> dt.date:
    # date.fromisoformat also takes "20240105" (3.11), but never a time.
    return dt.date.fromisoformat(text)


class Conv:
    """How values of one type hint are converted: from query/path text and from JSON.

    ``text`` takes a str, or for ``multi`` converters (lists) the list of a name's repeated query
    values; ``kind`` is the error type when a converter raises ValueError; ``expected`` names
    the type in messages; ``textual``: the type can come from a query string or a path;
    ``model``: a dataclass, TypedDict or pydantic model, which may take the whole JSON body.
    """

    __slots__ = ("text", "json", "multi", "kind", "expected", "textual", "model")

    def __init__(self, text: Fn, json_: Fn, kind: str, expected: str, *, multi: bool = False,
                 textual: bool = True, model: bool = False) -> None:
        self.text = text
        self.json = json_
        self.kind = kind
        self.expected = expected
        self.multi = multi
        self.textual = textual
        self.model = model


_ANY = Conv(None, None, "type_error", "any value")

_SCALARS: Dict[Any, Conv] = {
    int: Conv(_int_from_text, _int_from_json, "int_parsing", "int"),
    float: Conv(_float_from_text, _float_from_json, "float_parsing", "float"),
    bool: Conv(_bool_from_text, _bool_from_json, "bool_parsing", "bool"),
    str: Conv(None, _str_from_json, "string_type", "str"),
    bytes: Conv(_bytes_from_text, _bytes_from_json, "bytes_type", "bytes"),
    dt.datetime: Conv(_datetime_from_text, _datetime_from_json, "datetime_parsing", "datetime"),
    dt.date: Conv(_date_from_text, _string_only(_date_from_text), "date_parsing", "date"),
    dt.time: Conv(dt.time.fromisoformat, _string_only(dt.time.fromisoformat), "time_parsing",
                  "time"),
    uuid.UUID: Conv(uuid.UUID, _string_only(uuid.UUID), "uuid_parsing", "UUID"),
}


def _shown(value: Any, source_is_json: bool = True) -> str:
    if source_is_json:
        try:
            shown = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            shown = repr(value)
    else:
        shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _tail(conv: Conv, value: Any, source_is_json: bool = True) -> str:
    return f"must be {conv.expected}, got {_shown(value, source_is_json)}"


def _convert_item(conv: Conv, fn: Fn, value: Any, loc: Any, errors: list,
                  source_is_json: bool = True) -> Any:
    """fn(value), with its failures appended to `errors` under `loc`; returns None on failure."""
    if fn is None:
        return value
    try:
        return fn(value)
    except Invalid as exc:
        errors.extend(((loc,) + sub_loc, kind, msg) for sub_loc, kind, msg in exc.errors)
    except (ValueError, OverflowError, TypeError):
        errors.append(((loc,), conv.kind, _tail(conv, value, source_is_json)))
    return None


def _list_conv(hint: Any, element: Conv) -> Conv:
    """A list parameter takes every repeated query value; elements convert like scalars."""
    elem_text, elem_json = element.text, element.json

    def from_text(values: List[str]) -> list:
        if elem_text is None:
            return values
        try:
            return [elem_text(v) for v in values]
        except (ValueError, OverflowError, TypeError, Invalid):
            pass
        errors: list = []
        out = [_convert_item(element, elem_text, v, i, errors, False) for i, v in enumerate(values)]
        if errors:
            raise Invalid(errors)
        return out

    def from_json(value: Any) -> list:
        if type(value) is not list:
            raise ValueError
        if elem_json is None:
            return value
        try:
            return [elem_json(v) for v in value]
        except (ValueError, OverflowError, TypeError, Invalid):
            pass
        errors: list = []
        out = [_convert_item(element, elem_json, v, i, errors) for i, v in enumerate(value)]
        if errors:
            raise Invalid(errors)
        return out

    textual = element.textual and not element.multi
    return Conv(from_text if textual else _reject, from_json, "list_type",
                f"a list of {element.expected}" if element is not _ANY else "a list",
                multi=textual, textual=textual)


def _dict_conv(key: Conv, value_conv: Conv) -> Conv:
    key_text, value_json = key.text, value_conv.json

    def from_json(value: Any) -> dict:
        if type(value) is not dict:
            raise ValueError
        if key_text is None and value_json is None:
            return value
        errors: list = []
        out = {}
        for k, v in value.items():
            new_key = _convert_item(key, key_text, k, k, errors, False)
            new_value = _convert_item(value_conv, value_json, v, k, errors)
            out[new_key] = new_value
        if errors:
            raise Invalid(errors)
        return out

    return Conv(_reject, from_json, "dict_type", "an object", textual=False)


def _nullable(inner: Conv) -> Conv:
    inner_json = inner.json
    if inner_json is None:
        return inner

    def from_json(value: Any) -> Any:
        return None if value is None else inner_json(value)

    return Conv(inner.text, from_json, inner.kind, inner.expected, multi=inner.multi,
                textual=inner.textual, model=inner.model)


_EXACT_JSON_TYPES = {int: (int,), float: (float,), str: (str,), bool: (bool,)}


def _union_conv(members: List[Conv], hints: List[Any], nullable: bool) -> Conv:
    """Union[A, B, ...]: a JSON value of exactly one member's type goes to it, otherwise each
    member is tried in order (so Union[int, str] keeps "5" a str from JSON, 5 an int)."""
    exact = [(_EXACT_JSON_TYPES.get(h, ()), c) for h, c in zip(hints, members)]
    expected = " or ".join(c.expected for c in members) + (" or null" if nullable else "")

    def from_json(value: Any) -> Any:
        if value is None and nullable:
            return None
        for types_, conv in exact:
            if type(value) in types_:
                return value if conv.json is None else conv.json(value)
        for conv in members:
            if conv.json is None:
                return value
            try:
                return conv.json(value)
            except (ValueError, OverflowError, TypeError, Invalid):
                continue
        raise ValueError

    textual_members = [c for c in members if c.textual and not c.multi]

    def from_text(text: str) -> Any:
        for conv in textual_members:
            if conv.text is None:
                return text
            try:
                return conv.text(text)
            except (ValueError, OverflowError, TypeError, Invalid):
                continue
        raise ValueError

    return Conv(from_text, from_json, "type_error", expected,
                textual=bool(textual_members), model=any(c.model for c in members))


def _literal_conv(values: Tuple[Any, ...]) -> Conv:
    expected = "one of " + ", ".join(repr(v) for v in values)

    def from_json(value: Any) -> Any:
        for v in values:
            if type(v) is type(value) and v == value:
                return v
        raise ValueError

    def from_text(text: str) -> Any:
        for v in values:
            if isinstance(v, bool):
                if _BOOL_TEXT.get(text.lower()) is v:
                    return v
            elif isinstance(v, int):
                if _INT_TEXT.fullmatch(text) and int(text) == v:
                    return v
            elif isinstance(v, str) and text == v:
                return v
        raise ValueError

    return Conv(from_text, from_json, "literal_error", expected)


def _enum_conv(cls: Any) -> Conv:
    members = list(cls)
    by_text = {str(m.value): m for m in members}
    expected = "one of " + ", ".join(repr(m.value) for m in members)

    def from_text(text: str) -> Any:
        member = by_text.get(text)
        if member is None:
            raise ValueError
        return member

    def from_json(value: Any) -> Any:
        for m in members:
            if type(m.value) is type(value) and m.value == value:
                return m
        if type(value) is str:
            return from_text(value)
        raise ValueError

    return Conv(from_text, from_json, "enum", expected)


def _hints_of(cls: Any) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


class _ModelConv(Conv):
    """dataclasses and TypedDicts."""

    __slots__ = ()


def _fields_from_json(cls: Any, fields: Dict[str, Conv], required: List[str],
                      value: Any) -> Dict[str, Any]:
    if type(value) is not dict:
        raise ValueError
    errors: list = []
    out: Dict[str, Any] = {}
    for key, raw in value.items():
        conv = fields.get(key)
        if conv is None:
            errors.append(((key,), "unexpected", ""))
            continue
        out[key] = _convert_item(conv, conv.json, raw, key, errors)
    for key in required:
        if key not in value:
            errors.append(((key,), "missing", ""))
    if errors:
        raise Invalid(errors)
    return out


def _dataclass_conv(cls: Any, seen: Dict[Any, Conv]) -> Conv:
    fields: Dict[str, Conv] = {}
    required: List[str] = []

    def from_json(value: Any) -> Any:
        kwargs = _fields_from_json(cls, fields, required, value)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:  # raised by __post_init__: the value is wrong
            raise Invalid([((), "value_error", str(exc) or type(exc).__name__)]) from None

    # Registered, converter included, before its fields are compiled: a field of this very
    # type (a tree) gets this Conv, whose fields are filled in below.
    conv = _ModelConv(_reject, from_json, "model_type", cls.__name__, textual=False, model=True)
    seen[cls] = conv
    hints = _hints_of(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        fields[f.name] = _compile(hints.get(f.name, Any), seen)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return conv


def _is_typeddict(hint: Any) -> bool:
    return (isinstance(hint, type) and issubclass(hint, dict)
            and hasattr(hint, "__required_keys__") and hasattr(hint, "__annotations__"))


def _typeddict_conv(cls: Any, seen: Dict[Any, Conv]) -> Conv:
    fields: Dict[str, Conv] = {}
    required: List[str] = []

    def from_json(value: Any) -> Any:
        return _fields_from_json(cls, fields, required, value)

    conv = _ModelConv(_reject, from_json, "dict_type", cls.__name__, textual=False, model=True)
    seen[cls] = conv  # before the fields, as for dataclasses
    for name, hint in _hints_of(cls).items():
        fields[name] = _compile(hint, seen)
        if name in cls.__required_keys__:
            required.append(name)
    return conv


def pydantic_model(hint: Any) -> Any:
    """pydantic's BaseModel when `hint` is a pydantic model class, else None.

    pydantic is never imported here: an app that uses its models has imported it already.
    """
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(hint, type):
        return None
    base = getattr(pydantic, "BaseModel", None)
    try:
        return base if base is not None and issubclass(hint, base) else None
    except TypeError:
        return None


def _pydantic_conv(cls: Any) -> Conv:
    pydantic = sys.modules["pydantic"]
    validation_error = pydantic.ValidationError
    validate = getattr(cls, "model_validate", None) or cls.parse_obj  # v2, else v1

    def from_json(value: Any) -> Any:
        try:
            return validate(value)
        except validation_error as exc:
            raise Invalid([(tuple(e.get("loc", ())), e.get("type", "value_error"),
                            e.get("msg", "")) for e in exc.errors()]) from None

    return Conv(_reject, from_json, "model_type", cls.__name__, textual=False, model=True)


def describe_hint(hint: Any) -> str:
    # get_args: on 3.9/3.10 list[int] passes isinstance(..., type) but its __name__ is "list".
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "")


def _compile(hint: Any, seen: Dict[Any, Conv]) -> Conv:
    """The Conv for one type hint. Types we do not know pass through unchanged."""
    try:
        scalar = _SCALARS.get(hint)
    except TypeError:  # an unhashable annotation such as `x: [int]`
        return _ANY
    if scalar is not None:
        return scalar
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, str):
        return _ANY
    try:
        if hint in seen:
            return seen[hint]
    except TypeError:
        return _ANY
    supertype = getattr(hint, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _compile(supertype, seen)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is list or origin is list:
        return _list_conv(hint, _compile(args[0], seen) if args else _ANY)
    if hint is dict or origin is dict:
        if len(args) == 2:
            return _dict_conv(_compile(args[0], seen), _compile(args[1], seen))
        return _dict_conv(_ANY, _ANY)
    if origin in _UNION_TYPES:
        members = [a for a in args if a is not _NONE_TYPE]
        nullable = len(members) != len(args)
        if len(members) == 1:
            inner = _compile(members[0], seen)
            return _nullable(inner) if nullable else inner
        return _union_conv([_compile(m, seen) for m in members], members, nullable)
    if origin is typing.Literal:
        return _literal_conv(args)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return _enum_conv(hint)
        if dataclasses.is_dataclass(hint):
            return _dataclass_conv(hint, seen)
        if _is_typeddict(hint):
            return _typeddict_conv(hint, seen)
        if pydantic_model(hint) is not None:
            return _pydantic_conv(hint)
    return _ANY  # Any, classes we do not know: passed as they are


def compile_hint(hint: Any) -> Conv:
    return _compile(hint, {})


# ---------------------------------------------------------------------------------- binding


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


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")  # Python's json would accept NaN/Infinity


# Built once: json.loads with any keyword argument builds a new decoder on every call.
_decode_json = json.JSONDecoder(parse_constant=_reject_constant).decode


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
            if hint is Request:
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
        self._parse_body = (not self._lenient or self.accepts_extra
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
        request: Optional[Request] = None,
    ) -> Tuple[tuple, Dict[str, Any]]:
        """``body`` is bytes-like (empty for none). Raises InvalidBody or InvalidArguments."""
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
        if body and self._parse_body:
            try:
                data = _decode_json(str(body, "utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise InvalidBody(f"request body is not valid JSON: {exc}") from None
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
            if convert is not None:
                try:
                    raw = convert(raw)
                except (ValueError, OverflowError, TypeError):
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


class _RequestSlot:
    """A positional-only parameter annotated Request, in the positional arguments' order."""

    __slots__ = ("name", "default")

    def __init__(self, parameter: inspect.Parameter) -> None:
        self.name = parameter.name
        self.default = parameter.default


def _error(source: str, name: Optional[str], type_: str, msg: str) -> Dict[str, Any]:
    return {"loc": [source] if name is None else [source, name], "msg": msg, "type": type_}


def _type_error(param: Param, source: str, raw: Any) -> Dict[str, Any]:
    shown = _shown(raw, source is BODY)
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
