"""What an image is, read from its first bytes: its format (whatever the sender claimed) and its size in pixels,
without decoding it (no imaging library), and what it costs in prompt tokens."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Literal

# The formats every vision provider takes (OpenAI, Anthropic, Bedrock Converse, Gemini).
MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
# `original` (offered by OpenAI's SDKs for models that read images at full size) is passed on as given and counted
# as `high` is: one formula keeps quotas predictable, and billing uses the provider's own count.
Detail = Literal["auto", "low", "high", "original"]

# OpenAI's published accounting for images (GPT-4o class models): 85 tokens for a low-detail image; otherwise the
# image is scaled to fit in 2048x2048, then so that its shortest side is at most 768, and each 512-pixel tile
# costs 170 more. Other providers count differently (Anthropic: about w*h/750), within the same order of
# magnitude; one formula for all keeps quotas predictable, and billing uses each provider's reported usage.
_BASE_TOKENS = 85
_TILE_TOKENS = 170
_TILE = 512
_FIT = 2048
_SHORT_SIDE = 768
# JPEG start-of-frame markers (SOF0-SOF15 but DHT, JPG and DAC), which carry the frame's size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


class NotAnImage(ValueError):
    """The bytes are not a PNG, JPEG, WebP or GIF whose size can be read."""


def identify(data: bytes) -> ImageInfo:
    """The image's real format and size, from its header; `NotAnImage` when it is none of the accepted formats
    or its header is cut short."""
    try:
        info = _identify(data)
    except (struct.error, IndexError):
        info = None
    if info is None or info.width <= 0 or info.height <= 0:
        raise NotAnImage("not a PNG, JPEG, WebP or GIF image")
    return info


def _identify(data: bytes) -> ImageInfo | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("image/png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return ImageInfo("image/gif", width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    return None


def _webp(data: bytes) -> ImageInfo | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and data[20] == 0x2F:
        b0, b1, b2, b3 = data[21:25]
        width = 1 + (((b1 & 0x3F) << 8) | b0)
        height = 1 + (((b3 & 0x0F) << 10) | (b2 << 2) | ((b1 & 0xC0) >> 6))
        return ImageInfo("image/webp", width, height)
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageInfo("image/webp", width, height)
    return None


def _jpeg(data: bytes) -> ImageInfo | None:
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return ImageInfo("image/jpeg", width, height)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    return None


def image_tokens(width: int, height: int, detail: Detail = "auto") -> int:
    """Prompt tokens an image of this size counts for (OpenAI's tile formula, see above)."""
    if detail == "low":
        return _BASE_TOKENS
    scale = min(1.0, _FIT / max(width, height))
    scale *= min(1.0, _SHORT_SIDE / (min(width, height) * scale))
    tiles = math.ceil(width * scale / _TILE) * math.ceil(height * scale / _TILE)
    return _BASE_TOKENS + _TILE_TOKENS * tiles
