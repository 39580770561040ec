"""HTML form bodies: application/x-www-form-urlencoded and multipart/form-data, parsed once in
the worker (the orchestrator passes the raw bytes: parsing there would mean encoding every field
again into the frame) into (name, value) pairs for the binder; a value is a str, or an
UploadedFile for a file part.

Limits: the body itself is capped by the orchestrator's --max-body-size; a form may have at most
MAX_FIELDS fields (413 beyond).
"""

from email import policy
from email.parser import BytesParser
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
    if "boundary=" not in content_type.lower():
        raise InvalidForm("multipart/form-data without a boundary parameter")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise InvalidForm("the multipart body could not be parsed")
    parts = message.get_payload()
    if not isinstance(parts, list) or (not parts and body.strip()):
        raise InvalidForm("the multipart body has no parts (is the boundary right?)")
    if len(parts) > MAX_FIELDS:
        raise FormTooLarge(f"the form has more than {MAX_FIELDS} parts")
    fields: List[Tuple[str, Any]] = []
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue  # a part without a name cannot bind to anything
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            fields.append((name, UploadedFile(filename, part.get_content_type(), data,
                                              dict(part.items()))))
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            fields.append((name, data.decode(charset)))
        except (UnicodeDecodeError, LookupError):
            raise InvalidForm(f"form field {name!r} is not valid {charset}") from None
    return fields
