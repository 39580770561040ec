"""JSON in and out of a worker: request bodies decoded with a nesting bound, results encoded.

Python's json module recurses once per nesting level, in C and in the converters after it, and
the interpreter's recursion limit (or, worse, its C stack) is all that stops it: a body of a few
thousand brackets could raise RecursionError from whichever frame happened to be deepest, or
crash the worker. So a body nesting deeper than MAX_DEPTH is refused before it is decoded, with
a scan that costs nothing for ordinary bodies (it runs only when the body holds more brackets
than the limit) and never recurses itself.
"""

import dataclasses
import datetime as dt
import enum
import json
import json.encoder
import uuid
from typing import Any, Callable

#: The deepest nesting of arrays and objects a request body may have. Deep enough for any real
#: document, shallow enough that decoding, converting and encoding it again stay far from the
#: recursion limit, whatever the stack depth of the frame that does it.
MAX_DEPTH = 128

# Brackets become "(" and ")"; everything but brackets and quotes is deleted.
_TO_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')


class InvalidJSON(ValueError):
    """The text is not JSON, or nests deeper than MAX_DEPTH."""


def nesting_exceeds(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in `data` (JSON text) nest deeper than `limit`; brackets in
    strings do not count.

    Every step runs in C: escaped backslashes and quotes go, then everything but brackets and
    quotes, then what lies between quotes; each pass then removes the innermost pairs, one
    level per pass, `limit` passes at most.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    if b"\\" in data:  # left to right, as JSON reads escapes: \\ first, then \"
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = data.translate(None, _NOT_STRUCTURE).split(b'"')[::2]
    nesting = b"".join(outside_strings).translate(_TO_PARENS)
    if b"(" * (limit + 1) in nesting:  # the usual attack, found at once
        return True
    for _ in range(limit):
        inner = nesting.replace(b"()", b"")
        if not inner or inner == nesting:  # all matched, or unbalanced (the decoder says so)
            return False
        nesting = inner
    return b"()" in nesting


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")  # Python's json would accept NaN/Infinity


# Built once: json.loads with any keyword argument builds a new decoder on every call.
_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


def decode_json(body: Any) -> Any:
    """The JSON value of a request body (bytes-like, UTF-8). Raises InvalidJSON saying why."""
    data = body if type(body) is bytes else bytes(body)
    if nesting_exceeds(data):
        raise InvalidJSON(f"request body nests arrays and objects deeper than {MAX_DEPTH} levels")
    try:
        text = str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"request body is not valid JSON: not UTF-8: {exc}") from None
    try:
        return _decode(text)
    except ValueError as exc:  # JSONDecodeError, the constants above, int's digit limit
        raise InvalidJSON(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # cannot happen under MAX_DEPTH; a 400 all the same if it does
        raise InvalidJSON("request body is not valid JSON: nested too deeply") from None


# ------------------------------------------------------------------------------ encoding


def _json_default(obj: Any) -> Any:
    """What JSON cannot say natively: called by the encoder for objects it does not know."""
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    from .conversion import pydantic_model

    if pydantic_model(type(obj)) is not None:
        dump = getattr(obj, "model_dump", None)
        return dump(mode="json") if dump is not None else obj.dict()  # v2, else v1
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _make_result_encoder() -> Callable[[Any], str]:
    """json.dumps(obj, allow_nan=False, default=_json_default), built once.

    Default separators, so a handler's {"result": 5} reaches the client as written; NaN and
    Infinity are refused because they would make the response invalid JSON. json.dumps builds
    its C encoder anew on every call; building it once saves about 1 us per request. Its
    failures (TypeError, ValueError, RecursionError for a structure too deep or circular) are
    the caller's to turn into a 500.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator (e.g. PyPy)
        return json.JSONEncoder(allow_nan=False, default=_json_default).encode
    # No markers dict: it would have to be emptied after every failed encode. A circular
    # structure still fails, with RecursionError instead of "Circular reference detected".
    iterencode = c_make_encoder(
        None, _json_default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
        False, False, False,
    )

    def encode(obj: Any) -> str:
        return "".join(iterencode(obj, 0))

    return encode


encode_json = _make_result_encoder()
