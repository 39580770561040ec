"""OpenAPI 3.1 Operation objects for an app's routes, from their signatures and type hints.

Each route's RouteRegistry entry carries one (``"openapi"``); the orchestrator assembles the
document at /openapi.json. Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect), written
inline: no ``$ref``, so every operation stands alone. Where the argument rule lets a value come
from several places, the operation documents the usual one: path parameters in the path, values
that can be written as text (numbers, strings, booleans, enums, dates, lists of those) in the
query string, the rest (objects, models) in a JSON body.
"""

import dataclasses
import datetime as dt
import enum
import inspect
import json
import types
import typing
import uuid
from typing import Any, Dict, List, Optional

from ..response import Response
from .worker.arguments import ArgumentBinder, Param, pydantic_model
from .worker.executor import encode_json

_UNION_TYPES = (typing.Union, getattr(types, "UnionType", typing.Union))  # X | Y is 3.10+
_NONE_TYPE = type(None)

_SCALARS: Dict[Any, Dict[str, Any]] = {
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    str: {"type": "string"},
    bytes: {"type": "string", "format": "binary"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    dt.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    type(None): {"type": "null"},
}

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string",
               type(None): "null"}

# The 422 body, as the SDKs and the orchestrator write it.
VALIDATION_ERROR_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "title": "ValidationError",
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array",
                            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        },
    },
    "required": ["error", "detail", "errors"],
}


def _json_value(value: Any) -> Any:
    """`value` as plain JSON data, or raises (encode_json knows dates, enums, dataclasses)."""
    return json.loads(encode_json(value))


def schema_for(hint: Any, _seen: Optional[tuple] = None) -> Dict[str, Any]:
    """The JSON Schema of a type hint; {} (anything) for what we do not know."""
    seen = _seen or ()
    try:
        scalar = _SCALARS.get(hint)
    except TypeError:
        return {}
    if scalar is not None:
        return dict(scalar)
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, str):
        return {}
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:
        return schema_for(supertype, seen)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in (list, tuple, set, frozenset) or origin in (list, set, frozenset):
        out: Dict[str, Any] = {"type": "array"}
        if args:
            out["items"] = schema_for(args[0], seen)
        if hint in (set, frozenset) or origin in (set, frozenset):
            out["uniqueItems"] = True
        return out
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_for(args[0], seen)}
        return {"type": "array", "prefixItems": [schema_for(a, seen) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    if hint is dict or origin is dict:
        out = {"type": "object"}
        if len(args) == 2:
            out["additionalProperties"] = schema_for(args[1], seen)
        return out
    if origin in _UNION_TYPES:
        return {"anyOf": [schema_for(a, seen) for a in args]}
    if origin is typing.Literal:
        out = {"enum": list(args)}
        kinds = {_JSON_TYPES.get(type(a)) for a in args}
        if len(kinds) == 1 and None not in kinds:
            out["type"] = kinds.pop()
        return out
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            values = [m.value for m in hint]
            out = {"title": hint.__name__, "enum": values}
            kinds = {_JSON_TYPES.get(type(v)) for v in values}
            if len(kinds) == 1 and None not in kinds:
                out["type"] = kinds.pop()
            return out
        if hint in seen:  # a recursive type: say no more than its name
            return {"type": "object", "title": hint.__name__}
        if dataclasses.is_dataclass(hint):
            return _dataclass_schema(hint, seen + (hint,))
        if isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__"):
            return _typeddict_schema(hint, seen + (hint,))
        if pydantic_model(hint) is not None:
            return _pydantic_schema(hint)
    return {}


def _hints(cls: Any) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


def _dataclass_schema(cls: Any, seen: tuple) -> Dict[str, Any]:
    hints = _hints(cls)
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        prop = schema_for(hints.get(f.name, Any), seen)
        if f.default is not dataclasses.MISSING:
            _set_default(prop, f.default)
        elif f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        properties[f.name] = prop
    out: Dict[str, Any] = {"type": "object", "title": cls.__name__, "properties": properties}
    if required:
        out["required"] = required
    out["additionalProperties"] = False  # the SDK refuses fields it does not know
    doc = inspect.getdoc(cls)
    if doc and not doc.startswith(cls.__name__ + "("):  # not the generated signature
        out["description"] = doc
    return out


def _typeddict_schema(cls: Any, seen: tuple) -> Dict[str, Any]:
    hints = _hints(cls)
    out: Dict[str, Any] = {
        "type": "object",
        "title": cls.__name__,
        "properties": {name: schema_for(hint, seen) for name, hint in hints.items()},
    }
    required = [k for k in hints if k in cls.__required_keys__]
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


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
    """Replaces every {"$ref": "#/$defs/X"} by X itself (a recursive one by a stub)."""
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


def _set_default(schema: Dict[str, Any], default: Any) -> None:
    try:
        schema["default"] = _json_value(default)
    except Exception:
        pass  # a default JSON cannot show (an object): leave it out


def _summary(handler: Any, name: str) -> Dict[str, str]:
    doc = inspect.getdoc(handler)
    if not doc:
        return {"summary": name.replace("_", " ").strip().capitalize() or name}
    first, _, rest = doc.partition("\n")
    out = {"summary": first.strip()}
    if rest.strip():
        out["description"] = rest.strip()
    return out


def _param_schema(param: Param) -> Dict[str, Any]:
    schema = schema_for(param.hint)
    if not param.required:
        _set_default(schema, param.default)
    return schema


def _return_content(handler: Any) -> Optional[Dict[str, Any]]:
    try:
        hint = typing.get_type_hints(handler).get("return", inspect.Parameter.empty)
    except Exception:
        hint = inspect.signature(handler).return_annotation if callable(handler) else None
    if hint is inspect.Parameter.empty or hint is None or isinstance(hint, str):
        return {"application/json": {"schema": {}}}
    if isinstance(hint, type) and issubclass(hint, Response):
        return None  # the handler decides
    if hint in (bytes, bytearray):
        return {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    return {"application/json": {"schema": schema_for(hint)}}


def operation(handler: Any, path_params: List[str], binder: Optional[ArgumentBinder] = None,
              name: Optional[str] = None) -> Dict[str, Any]:
    """The OpenAPI Operation object for one route."""
    if binder is None:
        binder = ArgumentBinder(handler, path_params)
    name = name or getattr(handler, "__name__", None) or type(handler).__name__
    op: Dict[str, Any] = dict(_summary(handler, name))
    parameters: List[Dict[str, Any]] = []
    body: List[Param] = []
    for param in binder.params:
        if param.in_path:
            parameters.append({"name": param.name, "in": "path", "required": True,
                               "schema": schema_for(param.hint)})
        elif param.conv.textual:
            entry: Dict[str, Any] = {"name": param.name, "in": "query",
                                     "required": param.required, "schema": _param_schema(param)}
            parameters.append(entry)
        else:
            body.append(param)
    known = {p.name for p in binder.params}
    for extra in path_params:  # taken by **kwargs
        if extra not in known:
            parameters.append({"name": extra, "in": "path", "required": True,
                               "schema": {"type": "string"}})
    if parameters:
        op["parameters"] = parameters
    if body:
        model = binder.model_param
        if len(body) == 1 and model is not None and body[0] is model:
            schema = schema_for(model.hint)  # the whole body is the model
            required = model.required
        else:
            props = {p.name: _param_schema(p) for p in body}
            schema = {"type": "object", "properties": props}
            names = [p.name for p in body if p.required]
            if names:
                schema["required"] = names
            required = bool(names)
        op["requestBody"] = {"required": required,
                             "content": {"application/json": {"schema": schema}}}
    ok: Dict[str, Any] = {"description": "Successful Response"}
    content = _return_content(handler)
    if content is not None:
        ok["content"] = content
    op["responses"] = {
        "200": ok,
        "422": {"description": "Validation Error",
                "content": {"application/json": {"schema": VALIDATION_ERROR_SCHEMA}}},
    }
    return op
