"""HTML form bodies: application/x-www-form-urlencoded and multipart/form-data, parsed once in
the worker (the orchestrator passes the raw bytes: parsing there would mean encoding every field
again into the frame) into (name, value) pairs for the binder; a value is a str, or an
UploadedFile for a file part.

Limits: the body itself is capped by the orchestrator's --max-body-size; a form may have at most
MAX_FIELDS fields (413 beyond).
"""

from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any, List, Optional, Tuple
from urllib.parse import parse_qsl

from ...uploads import UploadedFile

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
#: Fields (parts) one form may have: each costs an object, so a form of a million empty
#: fields must not cost a million.
MAX_FIELDS = 1000


class InvalidForm(ValueError):
    """The form body cannot be parsed (HTTP 400)."""


class FormTooLarge(InvalidForm):
    """More than MAX_FIELDS fields (HTTP 413)."""


def form_kind(content_type: str, body: Any) -> Optional[str]:
    """URLENCODED or MULTIPART when the body is such a form, else None (JSON, or anything else).

    ``curl -d '{"x": 1}'`` labels a JSON body as urlencoded: a body that starts like JSON is
    JSON, whatever the label says.
    """
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == MULTIPART:
        return MULTIPART
    if media == URLENCODED:
        head = bytes(body[:64]).lstrip()
        return None if head[:1] in (b"{", b"[") else URLENCODED
    return None


def parse_form(kind: str, content_type: str, body: Any) -> List[Tuple[str, Any]]:
    if kind == URLENCODED:
        return _urlencoded(bytes(body))
    return _multipart(content_type, bytes(body))


def _urlencoded(body: bytes) -> List[Tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidForm("the form body is not valid UTF-8") from None
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise FormTooLarge(f"the form has more than {MAX_FIELDS} fields") from None


def _multipart(content_type: str, body: bytes) -> List[Tuple[str, Any]]:
    """The parts of a multipart/form-data body (RFC 7578). The parts are found with bytes.find;
    only each part's few header lines go through the standard library's header parser, which is
    ten times faster on a file than handing the whole body to email.parser."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise InvalidForm("multipart/form-data without a boundary parameter")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    start = body.find(delimiter)
    if start < 0:
        raise InvalidForm("the multipart body has no parts (is the boundary right?)")
    separator = b"\r\n" + delimiter
    fields: List[Tuple[str, Any]] = []
    count = 0
    pos = start + len(delimiter)
    while not body.startswith(b"--", pos):  # "--" after a delimiter closes the body
        eol = body.find(b"\r\n", pos)
        end = body.find(separator, eol) if eol >= 0 else -1
        if end < 0:
            raise InvalidForm("the multipart body ends inside a part (no closing boundary)")
        count += 1
        if count > MAX_FIELDS:
            raise FormTooLarge(f"the form has more than {MAX_FIELDS} parts")
        field = _part(body[eol + 2:end])
        if field is not None:
            fields.append(field)
        pos = end + len(separator)
    return fields


def _part(part: bytes) -> Optional[Tuple[str, Any]]:
    """One part's (name, value), or None for a part without a name (it binds to nothing)."""
    if part.startswith(b"\r\n"):  # no headers at all
        head, data = b"", part[2:]
    else:
        cut = part.find(b"\r\n\r\n")
        if cut < 0:
            raise InvalidForm("a multipart part has no blank line after its headers")
        head, data = part[:cut + 2], part[cut + 4:]
    headers = _HEADERS.parsebytes(head + b"\r\n")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        return None
    filename = headers.get_filename()
    if filename is not None:
        return name, UploadedFile(filename, headers.get_content_type(), data, dict(headers.items()))
    charset = headers.get_content_charset() or "utf-8"
    try:
        return name, data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise InvalidForm(f"form field {name!r} is not valid {charset}") from None


_HEADERS = BytesHeaderParser(policy=policy.HTTP)
