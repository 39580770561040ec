"""UploadedFile: a file part of a multipart/form-data request, bound to a parameter so annotated."""

import tempfile
from typing import Any, Optional

#: A file bigger than this lives in a temporary file on disk rather than in memory.
SPOOL_MAX_SIZE = 1024 * 1024


class UploadedFile:
    """A file sent in a form: ``filename`` (as the client named it: never trust it as a path),
    ``content_type``, ``size`` in bytes, ``read()``, and ``file``, a file object spooled to disk
    past 1 MiB. ``headers``: the part's own headers."""

    __slots__ = ("filename", "content_type", "size", "file", "headers")

    def __init__(self, filename: str, content_type: str, data: bytes,
                 headers: Optional[Any] = None) -> None:
        self.filename = filename
        self.content_type = content_type
        self.size = len(data)
        self.headers = headers
        self.file: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE)
        self.file.write(data)
        self.file.seek(0)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int) -> None:
        self.file.seek(offset)

    def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadedFile {self.filename!r} {self.content_type} {self.size} bytes>"
