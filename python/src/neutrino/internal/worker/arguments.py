"""Binds a request's query string, path parameters and JSON body to a handler's parameters.

Everything that depends only on the handler (its signature, its type hints, one converter per
parameter) is worked out once in ``ArgumentBinder.__init__``; ``bind`` does the per-request part.

Sources, later ones winning: the query string, the JSON body (an object gives keyword arguments,
any other value goes to the first parameter), the path parameters matched by the orchestrator's
router (they chose the route, so a body cannot override them). The Content-Type header is not
checked: ``curl -d '{"x": 1}'`` sends a form content type with a JSON body, and that must work.
"""

import inspect
import json
import math
import re
import types
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl

# Where an argument came from: the `loc` of an error, and which converter applies.
QUERY = "query"
PATH = "path"
BODY = "body"

_NO_ARGS: Tuple[()] = ()
_UNION_TYPES = (typing.Union, getattr(types, "UnionType", typing.Union))  # X | Y is 3.10+


class InvalidArguments(Exception):
    """The request's arguments do not fit the handler (HTTP 422).

    ``errors``: ``{"loc": [source, name], "msg": str, "type": kind}`` where the source is
    query, path or body and the kind is missing, unexpected or type_error.
    """

    def __init__(self, errors: List[Dict[str, Any]]) -> None:
        self.errors = errors
        self.detail = "; ".join(e["msg"] for e in errors)
        super().__init__(self.detail)


class InvalidBody(Exception):
    """The request body is not valid JSON (HTTP 400)."""


# ------------------------------------------------------------------------------- converters
# A converter takes the raw value and returns the argument, or raises ValueError. `None` stands
# for "pass through unchanged", so the common un-annotated case costs no call at all.

Converter = Optional[Callable[[Any], Any]]

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


def _dict_from_json(value: Any) -> dict:
    if type(value) is dict:
        return value
    raise ValueError


def _reject(value: Any) -> Any:
    raise ValueError  # e.g. a dict parameter given a query string value


# (from query/path text, from JSON)
_SCALARS: Dict[Any, Tuple[Converter, Converter]] = {
    int: (_int_from_text, _int_from_json),
    float: (_float_from_text, _float_from_json),
    bool: (_bool_from_text, _bool_from_json),
    str: (None, _str_from_json),
}


def _list_converters(element: Any) -> Tuple[Converter, Converter]:
    """A list parameter takes every repeated query value; elements convert like scalars."""
    elem_text, elem_json = _SCALARS.get(element, (None, None))
    if element in _SCALARS or element is None or element is Any:
        def from_text(values: List[str]) -> list:
            return values if elem_text is None else [elem_text(v) for v in values]
    else:  # list[dict] and the like cannot come from text
        from_text = _reject

    def from_json(value: Any) -> list:
        if type(value) is not list:
            raise ValueError
        return value if elem_json is None else [elem_json(v) for v in value]

    return from_text, from_json


def _optional(inner: Converter) -> Converter:
    if inner is None:
        return None

    def from_json(value: Any) -> Any:
        return None if value is None else inner(value)

    return from_json


def _converters(hint: Any) -> Tuple[Converter, Converter, bool]:
    """(from text, from JSON, takes repeated query values) for one parameter's type hint."""
    if hint in _SCALARS:
        text, js = _SCALARS[hint]
        return text, js, False
    origin = typing.get_origin(hint)
    if hint is dict or origin is dict:
        return _reject, _dict_from_json, False
    if hint is list or origin is list:
        args = typing.get_args(hint)
        text, js = _list_converters(args[0] if args else None)
        return text, js, True
    if origin in _UNION_TYPES:
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(hint)) == 2:  # Optional[X]
            text, js, multi = _converters(members[0])
            return text, _optional(js), multi
    return None, None, False  # Any, Union[A, B], classes we do not know: passed as they are


def _describe_hint(hint: Any) -> str:
    # get_args: on 3.9/3.10 list[int] passes isinstance(..., type) but its __name__ is "list".
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "")


# ---------------------------------------------------------------------------------- binding


class _Param:
    __slots__ = ("name", "from_text", "from_json", "multi", "required", "default", "expected")

    def __init__(self, parameter: inspect.Parameter, hint: Any) -> None:
        self.name = parameter.name
        try:
            self.from_text, self.from_json, self.multi = _converters(hint)
        except TypeError:  # an unhashable annotation such as `x: [int]`: passed as it is
            self.from_text, self.from_json, self.multi = None, None, False
        self.required = parameter.default is inspect.Parameter.empty
        self.default = parameter.default
        self.expected = _describe_hint(hint)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")  # Python's json would accept NaN/Infinity


# Built once: json.loads with any keyword argument builds a new decoder on every call.
_decode_json = json.JSONDecoder(parse_constant=_reject_constant).decode


def _parse_query(query: str) -> List[Tuple[str, str]]:
    """parse_qsl(query, keep_blank_values=True), with a fast path for the common case."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    # Nothing to unquote: splitting is all parse_qsl would do, at a fifth of the cost.
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def _type_hints(handler: Callable) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(handler)
    except Exception:  # an unresolvable forward reference must not stop the app from loading
        return {}


class ArgumentBinder:
    """Turns one request's arguments into ``(args, kwargs)`` for one handler."""

    def __init__(self, handler: Callable) -> None:
        try:
            signature = inspect.signature(handler)
        except (TypeError, ValueError):  # some builtins have none: accept anything, as sent
            signature = inspect.Signature(
                [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
            )
        hints = _type_hints(handler)
        params: List[_Param] = []
        positional_only: List[_Param] = []
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
            param = _Param(parameter, hint)
            params.append(param)
            if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                positional_only.append(param)
        self._params: Dict[str, _Param] = {p.name: p for p in params}
        self._required = [p for p in params if p.required]
        self._multi = frozenset(p.name for p in params if p.multi)
        self._positional_only = positional_only
        self._first = params[0].name if params else None  # takes a body that is not an object

    def bind(
        self, query: str, path_params: Sequence[Tuple[str, str]], body: Any
    ) -> Tuple[tuple, Dict[str, Any]]:
        """``body`` is bytes-like (empty for none). Raises InvalidBody or InvalidArguments."""
        supplied: Dict[str, Tuple[str, Any]] = {}
        errors: List[Dict[str, Any]] = []
        if query:
            multi = self._multi
            for name, text in _parse_query(query):
                if name in multi:
                    previous = supplied.get(name)
                    if previous is not None:
                        previous[1].append(text)
                        continue
                    supplied[name] = (QUERY, [text])
                else:
                    supplied[name] = (QUERY, text)  # repeated scalar: the last one wins
        if body:
            try:
                data = _decode_json(str(body, "utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise InvalidBody(f"request body is not valid JSON: {exc}") from None
            if type(data) is dict:
                for name, value in data.items():
                    supplied[name] = (BODY, value)
            elif self._first is not None:
                supplied[self._first] = (BODY, data)
            else:
                msg = ("the request body is not a JSON object, "
                       "and the handler has no parameter to take it")
                errors.append(_error(BODY, None, "unexpected", msg))
        for name, text in path_params:
            supplied[name] = (PATH, [text] if name in self._multi else text)

        kwargs: Dict[str, Any] = {}
        params = self._params
        for name, (source, raw) in supplied.items():
            param = params.get(name)
            if param is None:
                if self.accepts_extra:
                    kwargs[name] = raw  # **kwargs gets extra names as sent
                else:
                    msg = f"unexpected argument {name!r}"
                    errors.append(_error(source, name, "unexpected", msg))
                continue
            convert = param.from_json if source is BODY else param.from_text
            if convert is not None:
                try:
                    raw = convert(raw)
                except (ValueError, OverflowError):
                    errors.append(_type_error(param, source, raw))
                    continue
            kwargs[name] = raw
        for param in self._required:
            if param.name not in supplied:
                errors.append(_error(BODY if body else QUERY, param.name, "missing",
                                     f"missing argument {param.name!r}"))
        if errors:
            raise InvalidArguments(errors)
        if self._positional_only:
            args = tuple(kwargs.pop(p.name, p.default) for p in self._positional_only)
            return args, kwargs
        return _NO_ARGS, kwargs


def _error(source: str, name: Optional[str], type_: str, msg: str) -> Dict[str, Any]:
    return {"loc": [source] if name is None else [source, name], "msg": msg, "type": type_}


def _type_error(param: _Param, source: str, raw: Any) -> Dict[str, Any]:
    if source is BODY:
        try:
            shown = json.dumps(raw, ensure_ascii=False)
        except (TypeError, ValueError):
            shown = repr(raw)
    else:
        shown = repr(raw)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    msg = f"argument {param.name!r} must be {param.expected}, got {shown}"
    return _error(source, param.name, "type_error", msg)
