"""Type hints compiled once into converters and their JSON Schema, from one walk of the hint.

``compile_hint(hint)`` returns a Conv: how a value of that type is converted from query/path
text and from JSON, and the JSON Schema (2020-12, OpenAPI 3.1's dialect) that documents exactly
what the converters take. The binder (binding.py) uses the converters, the OpenAPI generator the
schema: one walker, so what is documented is what is accepted.
"""

import copy
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
from typing import Any, Callable, Dict, List, Optional, Tuple

from ...uploads import UploadedFile

_UNION_TYPES = (typing.Union, getattr(types, "UnionType", typing.Union))  # X | Y is 3.10+
_NONE_TYPE = type(None)
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string",
               type(None): "null"}


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
        if not math.isfinite(value):  # 1e999 decodes to inf, which no response can carry
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


def _none_from_json(value: Any) -> None:
    if value is not None:
        raise ValueError


def _file_from_form(value: Any) -> UploadedFile:
    if type(value) is not UploadedFile:
        raise ValueError("not a file")
    return value


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
    ``model``: a dataclass, TypedDict or pydantic model, which may take the whole JSON body;
    ``schema``: the JSON Schema of what the converters take (never mutated: copy it);
    ``file``: an UploadedFile, which only a multipart form's file part can give.
    """

    __slots__ = ("text", "json", "multi", "kind", "expected", "textual", "model", "schema",
                 "file")

    def __init__(self, text: Fn, json_: Fn, kind: str, expected: str, *, multi: bool = False,
                 textual: bool = True, model: bool = False,
                 schema: Optional[Dict[str, Any]] = None, file: bool = False) -> None:
        self.file = file
        self.schema: Dict[str, Any] = {} if schema is None else schema
        self.text = text
        self.json = json_
        self.kind = kind
        self.expected = expected
        self.multi = multi
        self.textual = textual
        self.model = model


_ANY = Conv(None, None, "type_error", "any value")

_SCALARS: Dict[Any, Conv] = {
    int: Conv(_int_from_text, _int_from_json, "int_parsing", "int",
              schema={"type": "integer"}),
    float: Conv(_float_from_text, _float_from_json, "float_parsing", "float",
                schema={"type": "number"}),
    bool: Conv(_bool_from_text, _bool_from_json, "bool_parsing", "bool",
               schema={"type": "boolean"}),
    str: Conv(None, _str_from_json, "string_type", "str", schema={"type": "string"}),
    bytes: Conv(_bytes_from_text, _bytes_from_json, "bytes_type", "bytes",
                schema={"type": "string", "format": "binary"}),
    dt.datetime: Conv(_datetime_from_text, _datetime_from_json, "datetime_parsing", "datetime",
                      schema={"type": "string", "format": "date-time"}),
    dt.date: Conv(_date_from_text, _string_only(_date_from_text), "date_parsing", "date",
                  schema={"type": "string", "format": "date"}),
    dt.time: Conv(dt.time.fromisoformat, _string_only(dt.time.fromisoformat), "time_parsing",
                  "time", schema={"type": "string", "format": "time"}),
    uuid.UUID: Conv(uuid.UUID, _string_only(uuid.UUID), "uuid_parsing", "UUID",
                    schema={"type": "string", "format": "uuid"}),
    _NONE_TYPE: Conv(_reject, _none_from_json, "none_required", "null", textual=False,
                     schema={"type": "null"}),
    UploadedFile: Conv(_file_from_form, _reject, "file_type", "a file (a multipart form's file part)",
                       textual=False, file=True, schema={"type": "string", "format": "binary"}),
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


def _sequence_conv(element: Conv, container: type = list) -> Conv:
    """list, set, frozenset or Tuple[X, ...]: a parameter of one takes every repeated query
    value; elements convert like scalars; the handler gets the container it declared."""
    elem_text, elem_json = element.text, element.json
    build = None if container is list else container

    def convert_all(fn: Fn, values: list, from_json: bool) -> Any:
        if fn is None:
            out = values
        else:
            try:
                out = [fn(v) for v in values]
            except (ValueError, OverflowError, TypeError, Invalid):
                errors: list = []
                out = [_convert_item(element, fn, v, i, errors, from_json)
                       for i, v in enumerate(values)]
                if errors:
                    raise Invalid(errors) from None
        if build is None:
            return out
        try:
            return build(out)
        except TypeError:  # a set of unhashable elements (lists, dicts)
            raise ValueError from None

    def from_text(values: List[str]) -> Any:
        return convert_all(elem_text, values, False)

    def from_json(value: Any) -> Any:
        if type(value) is not list:
            raise ValueError
        return convert_all(elem_json, value, True)

    textual = element.textual and not element.multi
    schema: Dict[str, Any] = {"type": "array"}
    if element is not _ANY:
        schema["items"] = element.schema
    # No uniqueItems for a set: repeated values are accepted (and merged), so saying the
    # array must be unique would document a rule that is not enforced.
    name = {list: "list", set: "set", frozenset: "set", tuple: "tuple"}[container]
    return Conv(from_text if textual else _reject, from_json, f"{name}_type",
                f"a {name} of {element.expected}" if element is not _ANY else f"a {name}",
                multi=textual, textual=textual, schema=schema)


def _tuple_conv(members: List[Conv]) -> Conv:
    """Tuple[A, B]: exactly that many values, each converted by its own member."""
    count = len(members)

    def convert_all(values: list, from_json: bool) -> tuple:
        if len(values) != count:
            raise ValueError
        errors: list = []
        out = tuple(_convert_item(conv, conv.json if from_json else conv.text, v, i, errors,
                                  from_json) for i, (conv, v) in enumerate(zip(members, values)))
        if errors:
            raise Invalid(errors)
        return out

    def from_text(values: List[str]) -> tuple:
        return convert_all(values, False)

    def from_json(value: Any) -> tuple:
        if type(value) is not list:
            raise ValueError
        return convert_all(value, True)

    textual = all(m.textual and not m.multi for m in members)
    schema = {"type": "array", "prefixItems": [m.schema for m in members],
              "minItems": count, "maxItems": count}
    if count:
        schema["items"] = False
    expected = f"a tuple of {count} ({', '.join(m.expected for m in members)})"
    return Conv(from_text if textual else _reject, from_json, "tuple_type", expected,
                multi=textual, textual=textual, schema=schema)


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

    schema: Dict[str, Any] = {"type": "object"}
    if value_conv is not _ANY:
        schema["additionalProperties"] = value_conv.schema
    return Conv(_reject, from_json, "dict_type", "an object", textual=False, schema=schema)


def _nullable(inner: Conv) -> Conv:
    inner_json = inner.json
    if inner_json is None:
        return inner

    def from_json(value: Any) -> Any:
        return None if value is None else inner_json(value)

    return Conv(inner.text, from_json, inner.kind, inner.expected, multi=inner.multi,
                textual=inner.textual, model=inner.model, file=inner.file,
                schema={"anyOf": [inner.schema, {"type": "null"}]})


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

    schemas = [c.schema for c in members] + ([{"type": "null"}] if nullable else [])
    return Conv(from_text, from_json, "type_error", expected,
                textual=bool(textual_members), model=any(c.model for c in members),
                schema={"anyOf": schemas})


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

    return Conv(from_text, from_json, "literal_error", expected, schema=_enum_schema(values))


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

    schema = {"title": cls.__name__, **_enum_schema([m.value for m in members])}
    return Conv(from_text, from_json, "enum", expected, schema=schema)


def _enum_schema(values: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {"enum": list(values)}
    kinds = {_JSON_TYPES.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        out["type"] = kinds.pop()
    return out


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
    # Its schema meanwhile is a stub, which is what a recursive field documents.
    conv = _ModelConv(_reject, from_json, "model_type", cls.__name__, textual=False, model=True,
                      schema={"type": "object", "title": cls.__name__})
    seen[cls] = conv
    hints = _hints_of(cls)
    properties: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        fields[f.name] = field = _compile(hints.get(f.name, Any), seen)
        properties[f.name] = prop = dict(field.schema)
        if f.default is not dataclasses.MISSING:
            set_default(prop, f.default)
        elif f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    doc = inspect.getdoc(cls)
    if doc and doc.startswith(cls.__name__ + "("):  # the signature dataclass generates
        doc = None
    conv.schema = _object_schema(cls.__name__, properties, required, doc)
    return conv


def _object_schema(title: str, properties: Dict[str, Any], required: List[str],
                   doc: Optional[str] = None) -> Dict[str, Any]:
    out: Dict[str, Any] = {"type": "object", "title": title, "properties": properties}
    if required:
        out["required"] = list(required)
    out["additionalProperties"] = False  # unknown fields are refused (422)
    if doc:
        out["description"] = doc
    return out


def set_default(schema: Dict[str, Any], default: Any) -> None:
    """Documents `default` in `schema` when JSON can show it."""
    from .jsondata import encode_json

    try:
        schema["default"] = json.loads(encode_json(default))
    except Exception:
        pass  # a default JSON cannot show (an object): leave it out


def _is_typeddict(hint: Any) -> bool:
    return (isinstance(hint, type) and issubclass(hint, dict)
            and hasattr(hint, "__required_keys__") and hasattr(hint, "__annotations__"))


def _typeddict_conv(cls: Any, seen: Dict[Any, Conv]) -> Conv:
    fields: Dict[str, Conv] = {}
    required: List[str] = []

    def from_json(value: Any) -> Any:
        return _fields_from_json(cls, fields, required, value)

    conv = _ModelConv(_reject, from_json, "dict_type", cls.__name__, textual=False, model=True,
                      schema={"type": "object", "title": cls.__name__})
    seen[cls] = conv  # before the fields, as for dataclasses
    for name, hint in _hints_of(cls).items():
        fields[name] = _compile(hint, seen)
        if name in cls.__required_keys__:
            required.append(name)
    conv.schema = _object_schema(cls.__name__, {n: c.schema for n, c in fields.items()},
                                 required)
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

    return Conv(_reject, from_json, "model_type", cls.__name__, textual=False, model=True,
                schema=_pydantic_schema(cls))


def _pydantic_schema(cls: Any) -> Dict[str, Any]:
    try:
        if hasattr(cls, "model_json_schema"):
            raw = cls.model_json_schema()  # v2: nested models under $defs
            defs = raw.pop("$defs", {})
            prefix = "#/$defs/"
        else:
            raw = cls.schema()  # v1: under definitions
            defs = raw.pop("definitions", {})
            prefix = "#/definitions/"
    except Exception:
        return {"type": "object", "title": cls.__name__}
    return _inline_refs(raw, defs, prefix, ())


def _inline_refs(node: Any, defs: Dict[str, Any], prefix: str, stack: tuple) -> Any:
    """Replaces every {"$ref": "#/$defs/X"} by X itself (a recursive one by a stub): the
    OpenAPI operations are written inline, each standing alone."""
    if isinstance(node, list):
        return [_inline_refs(n, defs, prefix, stack) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(prefix):
        name = ref[len(prefix):]
        rest = {k: _inline_refs(v, defs, prefix, stack) for k, v in node.items() if k != "$ref"}
        if name in stack or name not in defs:
            target: Dict[str, Any] = {"type": "object", "title": name}
        else:
            target = _inline_refs(defs[name], defs, prefix, stack + (name,))
        return {**target, **rest}
    return {k: _inline_refs(v, defs, prefix, stack) for k, v in node.items()}


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
    for container in (list, set, frozenset):
        if hint is container or origin is container:
            return _sequence_conv(_compile(args[0], seen) if args else _ANY, container)
    if hint is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return _sequence_conv(_compile(args[0], seen) if args else _ANY, tuple)
        if args == ((),):  # Tuple[()]
            return _tuple_conv([])
        return _tuple_conv([_compile(a, seen) for a in args])
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


def schema_for(hint: Any) -> Dict[str, Any]:
    """The JSON Schema of a type hint (a copy, the caller's to change); {} for anything."""
    return copy.deepcopy(compile_hint(hint).schema)
