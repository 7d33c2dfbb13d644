"""Reading a multipart upload as it streams in, refusing it the moment it is too large.

Starlette's form parser spools any size of file to disk before the endpoint sees it; here the body is parsed
chunk by chunk and the upload stops at the plan's limit, so a 10 GB body costs one chunk of memory before the
413, not 10 GB of disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from parley.errors import PayloadTooLarge, Unprocessable
from parley.files.errors import UnsupportedMediaType

# Room for the multipart framing and the small form fields around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024
MAX_PARTS = 8


@dataclass
class UploadForm:
    filename: str
    data: bytes
    fields: dict[str, str]


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    body: bytearray = field(default_factory=bytearray)


class _FormCollector:
    def __init__(self, *, max_file_bytes: int, too_large: str, allowed_fields: frozenset[str]) -> None:
        self.max_file_bytes = max_file_bytes
        self.too_large = too_large
        self.allowed_fields = allowed_fields
        self.file: _Part | None = None
        self.fields: dict[str, str] = {}
        self.parts = 0
        self.ended = False
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()

    def on_end(self) -> None:
        self.ended = True

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Unprocessable("the form has too many parts")
        self._part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self._header_value))
            name, filename = options.get(b"name"), options.get(b"filename")
            self._part.name = name.decode("utf-8", errors="replace") if name is not None else None
            if filename is not None:
                self._part.filename = filename.decode("utf-8", errors="replace")
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        part = self._part
        if part.name == "file":
            if self.file is not None:
                raise Unprocessable("file: only one file per upload")
            if part.filename is None:
                raise Unprocessable("file: must be a file, not a text field")
            self.file = part
        elif part.name in self.allowed_fields:
            if part.name in self.fields:
                raise Unprocessable(f"{part.name}: given more than once")
        else:
            raise Unprocessable(
                f"unknown form field {str(part.name)[:50]!r}; expected file, {', '.join(sorted(self.allowed_fields))}"
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.body += data[start:end]
        if part is self.file:
            if len(part.body) > self.max_file_bytes:
                raise PayloadTooLarge(self.too_large)
        elif len(part.body) > MAX_FIELD_BYTES:
            raise Unprocessable(f"{part.name}: too long")

    def on_part_end(self) -> None:
        part = self._part
        if part is not self.file and part.name is not None:
            try:
                self.fields[part.name] = part.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Unprocessable(f"{part.name}: not UTF-8 text") from exc


async def read_upload(
    request: Request, *, max_file_bytes: int, too_large: str, allowed_fields: frozenset[str]
) -> UploadForm:
    """The file part (`file`) and the allowed text fields of a multipart/form-data body."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("an upload must be sent as multipart/form-data with a `file` part")
    max_body = max_file_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise PayloadTooLarge(too_large)

    collector = _FormCollector(max_file_bytes=max_file_bytes, too_large=too_large, allowed_fields=allowed_fields)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": collector.on_part_begin,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_end": collector.on_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body:
                raise PayloadTooLarge(too_large)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise Unprocessable("the multipart body is malformed") from exc
    if not collector.ended:
        raise Unprocessable("the multipart body is incomplete (no closing boundary)")
    if collector.file is None:
        raise Unprocessable("file: a file is required")
    return UploadForm(filename=collector.file.filename or "", data=bytes(collector.file.body), fields=collector.fields)
