"""OpenAPI 3.1 Operation objects for an app's routes, from their signatures and type hints.

Each route's RouteRegistry entry carries one (``"openapi"``); the orchestrator assembles the
document at /openapi.json. Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect), written
inline: no ``$ref``, so every operation stands alone. Where the argument rule lets a value come
from several places, the operation documents the usual one: path parameters in the path, values
that can be written as text (numbers, strings, booleans, enums, dates, lists of those) in the
query string, the rest (objects, models) in a JSON body.
"""

import inspect
import typing
from typing import Any, Dict, List, Optional

from ..response import Response, reason_phrase
from .worker.binding import ArgumentBinder, Param
from .worker.conversion import schema_for, set_default

# Every error body: {"error": <reason phrase>, "detail": <what was wrong>}.
ERROR_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "properties": {"error": {"type": "string"}, "detail": {}},
    "required": ["error", "detail"],
}

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
    # "errors" is there when the arguments did not fit the handler; a handler's own
    # HTTPException(422) has none.
    "required": ["error", "detail"],
}


def _without_null(schema: Dict[str, Any]) -> Dict[str, Any]:
    """A query string cannot carry null (a missing value takes the default): ``Optional[X]``
    in the query is documented as X, so what the schema allows is what the binder takes."""
    members = schema.get("anyOf")
    if isinstance(members, list):
        rest = [m for m in members if m != {"type": "null"}]
        if len(rest) == 1 and len(schema) == 1:
            return rest[0]
        if len(rest) != len(members):
            return {**schema, "anyOf": rest}
    return schema


def _summary(handler: Any, name: str) -> Dict[str, str]:
    doc = inspect.getdoc(handler)
    if not doc:
        return {"summary": name.replace("_", " ").strip().capitalize() or name}
    first, _, rest = doc.partition("\n")
    out = {"summary": first.strip()}
    if rest.strip():
        out["description"] = rest.strip()
    return out


def _param_schema(param: Param, in_query: bool = False) -> Dict[str, Any]:
    schema = schema_for(param.hint)
    if in_query:
        schema = _without_null(schema)
    if not param.required and not (in_query and param.default is None):
        set_default(schema, param.default)
    return schema


_BINARY = {"type": "string", "format": "binary"}


def _return_content(handler: Any, media_type: Optional[str]) -> Optional[Dict[str, Any]]:
    """The success response's content: the route's declared media type, else what the return
    annotation says (bytes go out as application/octet-stream), else JSON."""
    try:
        hint = typing.get_type_hints(handler).get("return", inspect.Parameter.empty)
    except Exception:
        hint = inspect.signature(handler).return_annotation if callable(handler) else None
    if media_type is not None:
        if media_type.split(";")[0].strip().lower() in ("application/json", "application/*+json"):
            return {media_type: {"schema": _json_return_schema(hint)}}
        schema = {"type": "string"} if media_type.startswith("text/") else dict(_BINARY)
        return {media_type: {"schema": schema}}
    if isinstance(hint, type) and issubclass(hint, Response):
        return None  # the handler decides
    if inspect.isgeneratorfunction(handler) or inspect.isasyncgenfunction(handler):
        return {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}  # a stream
    if hint in (bytes, bytearray):
        return {"application/octet-stream": {"schema": dict(_BINARY)}}
    return {"application/json": {"schema": _json_return_schema(hint)}}


def _json_return_schema(hint: Any) -> Dict[str, Any]:
    if hint is inspect.Parameter.empty or hint is None or isinstance(hint, str):
        return {}
    if isinstance(hint, type) and issubclass(hint, Response):
        return {}
    return schema_for(hint)


def _error_response(description: str) -> Dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": dict(ERROR_SCHEMA)}}}


def _declared_response(status: int, declared: Any) -> Dict[str, Any]:
    """A route's ``responses`` entry: a description, or an OpenAPI Response object."""
    if isinstance(declared, dict):
        out = dict(declared)
        out.setdefault("description", reason_phrase(status))
        return out
    description = str(declared) if declared else reason_phrase(status)
    if 400 <= status:  # an HTTPException: the SDK's error body
        return _error_response(description)
    return {"description": description}


def operation(handler: Any, path_params: List[str], binder: Optional[ArgumentBinder] = None,
              name: Optional[str] = None, status_code: int = 200,
              responses: Optional[Dict[int, Any]] = None,
              media_type: Optional[str] = None, stream_body: bool = False) -> Dict[str, Any]:
    """The OpenAPI Operation object for one route.

    ``status_code``: the status a plain return value gets; ``responses``: the other statuses
    the route declares (status -> description or Response object); ``media_type``: the success
    response's content type, when not JSON; ``stream_body``: the handler reads the body as a
    stream of bytes (``request.stream()``).
    """
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
                                     "required": param.required,
                                     "schema": _param_schema(param, in_query=True)}
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
            # What the query can carry, a JSON object may carry too (the query wins).
            props.update((p.name, _param_schema(p)) for p in binder.params
                         if not p.in_path and p.name not in props)
            schema = {"type": "object", "properties": props}
            names = [p.name for p in body if p.required]
            if names:
                schema["required"] = names
            if not binder.accepts_extra and not binder.wants_request:
                schema["additionalProperties"] = False  # unknown members get 422
            required = bool(names)
        op["requestBody"] = {"required": required,
                             "content": {"application/json": {"schema": schema}}}
    if stream_body:  # whatever the client sends, read as it arrives
        op["requestBody"] = {"content": {"application/octet-stream": {"schema": dict(_BINARY)}}}
    ok: Dict[str, Any] = {"description": "Successful Response"}
    content = _return_content(handler, media_type)
    if content is not None:
        ok["content"] = content
    out: Dict[str, Any] = {str(status_code): ok}
    if binder.parses_body:
        out["400"] = _error_response("The request body is not valid JSON")
    if body:
        out["413"] = _error_response("The request body is larger than --max-body-size")
    out["422"] = {"description": "Validation Error",
                  "content": {"application/json": {"schema": VALIDATION_ERROR_SCHEMA}}}
    for status, declared in (responses or {}).items():
        out[str(status)] = _declared_response(int(status), declared)
    op["responses"] = out
    return op
