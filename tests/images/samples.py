"""Real images made in a few lines (no imaging library), and a small image server on 127.0.0.1 for fetch tests."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ssl
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (220, 40, 40)) -> bytes:
    """A valid PNG of one colour (browsers render it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment, then a baseline SOF0 with the size (enough to identify the image)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_lossless_header(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(payload))
        + b"WEBP"
        + b"VP8L"
        + struct.pack("<I", len(payload))
        + payload
    )


def described(data: bytes, media_type: str, width: int, height: int) -> str:
    """What the scripted model says of an image (`scripted.describe_image`)."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"[image {media_type} {len(data)} bytes {width}x{height} sha256:{digest}]"


PICTURE = png(3, 2)


def self_signed(hostname: str) -> tuple[bytes, bytes]:
    """A certificate for `hostname` (PEM) and its key (PEM), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@asynccontextmanager
async def image_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serves `/picture.png`, `/text` (not an image), `/huge` (streamed, no length), `/to-loopback` (a redirect to
        127.0.0.1), `/loop` (redirects to itself), `/slow` (never answers), `/pair?group=G&i=N` (answers only once two
    requests of group G are waiting: fetched one after the other, the first never gets its image); yields its base
    URL."""
    pairs: dict[str, list[asyncio.Event]] = {}

    async def pair(request: web.Request) -> web.Response:
        waiting = pairs.setdefault(request.query["group"], [])
        arrived = asyncio.Event()
        waiting.append(arrived)
        if len(waiting) >= 2:
            for event in waiting:
                event.set()
        await arrived.wait()
        return web.Response(body=PICTURE, content_type="image/png")

    async def picture(request: web.Request) -> web.Response:
        return web.Response(body=PICTURE, content_type="image/png", headers={"X-Seen-Host": request.host})

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="not an image", content_type="text/plain")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"\0" * 65536)
        await response.write_eof()
        return response

    async def to_loopback(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/picture.png")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError

    app = web.Application()
    app.router.add_get("/picture.png", picture)
    app.router.add_get("/text", text)
    app.router.add_get("/huge", huge)
    app.router.add_get("/to-loopback", to_loopback)
    app.router.add_get("/loop", loop)
    app.router.add_get("/slow", slow)
    app.router.add_get("/pair", pair)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
