"""Refusals particular to uploads (the general ones come from parley.errors)."""

from __future__ import annotations

from parley.errors import ParleyError


class UnsupportedFileType(ParleyError):
    """The content is not a kind of document Parley reads (whatever its name says)."""

    status, code = 415, "unsupported_file_type"


class UnsupportedMediaType(ParleyError):
    """The request body is not in a format this route takes (an upload must be multipart/form-data)."""

    status, code = 415, "unsupported_media_type"
