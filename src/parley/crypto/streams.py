"""Sealed files: large byte strings sealed in chunks, so they can be opened as a stream (a download starts
before the whole file is read, memory stays at one chunk) and a cut, reordered or spliced file is refused.

    header: magic (8) | version (1) | data key id (16) | chunk size (4, big-endian) | nonce prefix (7)
    then one AES-256-GCM chunk per `chunk size` bytes of plaintext (the last one shorter, possibly empty):
        nonce = nonce prefix (7) | chunk number (4, big-endian) | 1 for the last chunk, else 0 (1)
        associated data = header | context (the storage key)

The STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the last-chunk flag stops truncation at a
chunk boundary, the counter stops reordering, the header in every chunk's associated data stops splicing two
files' chunks. Bytes without the magic are a file stored before encryption at rest: read as they are.
"""

from __future__ import annotations

import os
import struct
import uuid
from typing import Final

from cryptography.exceptions import InvalidTag

from parley.crypto.envelope import SealingKey
from parley.crypto.errors import SealedValueInvalid

MAGIC: Final = b"\x89PRLYSF\n"
VERSION: Final = 1
HEADER_BYTES: Final = len(MAGIC) + 1 + 16 + 4 + 7
TAG_BYTES: Final = 16
DEFAULT_CHUNK_BYTES: Final = 64 * 1024
_MAX_CHUNK_BYTES = 16 * 1024 * 1024


def is_sealed(prefix: bytes) -> bool:
    """Whether stored bytes starting with `prefix` (at least the magic's length) are a sealed file."""
    return prefix[: len(MAGIC)] == MAGIC


def sealed_size(plain_size: int, chunk_size: int = DEFAULT_CHUNK_BYTES) -> int:
    chunks = plain_size // chunk_size + 1
    return HEADER_BYTES + plain_size + chunks * TAG_BYTES


class Header:
    """A sealed file's header: which data key sealed it, and how."""

    __slots__ = ("chunk_size", "key_id", "nonce_prefix", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) < HEADER_BYTES or not is_sealed(raw):
            raise SealedValueInvalid("not a sealed file")
        if raw[len(MAGIC)] != VERSION:
            raise SealedValueInvalid(f"a sealed file of an unknown version ({raw[len(MAGIC)]})")
        self.raw = raw[:HEADER_BYTES]
        offset = len(MAGIC) + 1
        self.key_id = uuid.UUID(bytes=raw[offset : offset + 16])
        (self.chunk_size,) = struct.unpack(">I", raw[offset + 16 : offset + 20])
        if not 0 < self.chunk_size <= _MAX_CHUNK_BYTES:
            raise SealedValueInvalid("a sealed file with an impossible chunk size")
        self.nonce_prefix = raw[offset + 20 : offset + 27]

    @classmethod
    def new(cls, key: SealingKey, chunk_size: int) -> Header:
        return cls(MAGIC + bytes((VERSION,)) + key.id.bytes + struct.pack(">I", chunk_size) + os.urandom(7))


def _nonce(header: Header, index: int, last: bool) -> bytes:
    if index >= 1 << 32:
        raise SealedValueInvalid("a sealed file with too many chunks")
    return header.nonce_prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def seal_file(key: SealingKey, data: bytes, *, context: str, chunk_size: int = DEFAULT_CHUNK_BYTES) -> bytes:
    """`data` sealed in chunks for `context` (its storage key). CPU-bound: run big ones in a thread."""
    header = Header.new(key, chunk_size)
    aead = key.aead()
    aad = header.raw + context.encode()
    parts = [header.raw]
    view = memoryview(data)
    count = len(data) // chunk_size + 1
    for index in range(count):
        piece = view[index * chunk_size : (index + 1) * chunk_size]
        parts.append(aead.encrypt(_nonce(header, index, index == count - 1), piece, aad))
    return b"".join(parts)


class FileOpener:
    """Opens a sealed file chunk by chunk as its bytes arrive: `feed` returns the plaintext of every chunk known
    not to be the last; `finish` (at the end of the bytes) the last one. Refuses a file that was cut short,
    reordered, spliced with another's chunks or altered."""

    def __init__(self, key: SealingKey, header: Header, *, context: str) -> None:
        if key.id != header.key_id:
            raise SealedValueInvalid("the file was sealed with another data key")
        self._aead = key.aead()
        self._header = header
        self._aad = header.raw + context.encode()
        self._sealed_chunk = header.chunk_size + TAG_BYTES
        self._buffer = bytearray()
        self._index = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        opened = []
        # A full chunk is the last one only if nothing follows it: keep it until more arrives or the end.
        offset = 0
        while len(self._buffer) - offset > self._sealed_chunk:
            opened.append(self._open(self._buffer[offset : offset + self._sealed_chunk], last=False))
            offset += self._sealed_chunk
        del self._buffer[:offset]
        return opened

    def finish(self) -> bytes:
        if len(self._buffer) < TAG_BYTES:
            raise SealedValueInvalid("the sealed file was cut short")
        plain = self._open(bytes(self._buffer), last=True)
        self._buffer.clear()
        return plain

    def _open(self, chunk: bytes | bytearray, *, last: bool) -> bytes:
        try:
            plain = self._aead.decrypt(_nonce(self._header, self._index, last), chunk, self._aad)
        except InvalidTag as exc:
            raise SealedValueInvalid("the sealed file was altered, cut short or is another file's") from exc
        self._index += 1
        return plain


def open_file(key: SealingKey, sealed: bytes, *, context: str) -> bytes:
    """The whole plaintext of a sealed file (CPU-bound: run big ones in a thread)."""
    header = Header(sealed)
    if key.id != header.key_id:
        raise SealedValueInvalid("the file was sealed with another data key")
    aead = key.aead()
    aad = header.raw + context.encode()
    body = memoryview(sealed)[HEADER_BYTES:]
    size = header.chunk_size + TAG_BYTES
    parts = []
    offset = index = 0
    while True:
        last = len(body) - offset <= size
        chunk = body[offset:] if last else body[offset : offset + size]
        if len(chunk) < TAG_BYTES:
            raise SealedValueInvalid("the sealed file was cut short")
        try:
            parts.append(aead.decrypt(_nonce(header, index, last), chunk, aad))
        except InvalidTag as exc:
            raise SealedValueInvalid("the sealed file was altered, cut short or is another file's") from exc
        if last:
            return b"".join(parts)
        offset += size
        index += 1
