"""Filenames from users: cleaned before they are stored, and quoted safely when served back."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_FILENAME_BYTES = 255
_MAX_EXTENSION_CHARS = 16
_FORBIDDEN = re.compile(r'[<>:"|?*]')
# Names Windows refuses whatever the extension (CON.txt included).
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)


def sanitize_filename(raw: str) -> str:
    """A name safe to store and to offer on download: no directories, no control or invisible formatting
    characters (a right-to-left override can disguise `exe` as `pdf`), none of `<>:"|?*`, no leading or
    trailing dots and spaces, no Windows device name, at most 255 UTF-8 bytes, the extension kept."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _FORBIDDEN.sub("_", name).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_CHARS or not extension.strip():
        stem, extension = name, ""
    stem = stem.rstrip(" .")
    if stem.split(".", 1)[0].strip().upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    stem = stem or "file"
    suffix = f".{extension}" if extension else ""
    budget = MAX_FILENAME_BYTES - len(suffix.encode())
    while len(stem.encode()) > budget:
        stem = stem[:-1]
    return f"{stem.rstrip(' .') or 'file'}{suffix}"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 5987 form (RFC 6266 §4.3)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
