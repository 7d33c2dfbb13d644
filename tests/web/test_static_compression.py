"""Static files go out precompressed (brotli, else gzip) to browsers that accept it, byte-identical once
decoded; ranges, HEAD and browsers that accept nothing get the file itself; a CDN base URL moves the hashed
assets of index.html there."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from parley.web.spa import STATIC_DIR, SinglePageApp, accepted_encodings

NODE = shutil.which("node")
SCRIPT = b"export const greeting = 'hello';\n" * 400


def _brotli(data: bytes, *, decompress: bool) -> bytes:
    """Node's zlib, the same that web/precompress.ts uses (Python's standard library has no brotli)."""
    if NODE is None:
        pytest.skip("node is not installed (it builds the web app: `make install`)")
    function = "brotliDecompressSync" if decompress else "brotliCompressSync"
    program = f"process.stdout.write(require('zlib').{function}(require('fs').readFileSync(0)))"
    return subprocess.run([NODE, "-e", program], input=data, capture_output=True, check=True).stdout


@pytest.fixture
def built(tmp_path: Path) -> Path:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index-abc123.js").write_bytes(SCRIPT)
    (assets / "index-abc123.js.br").write_bytes(_brotli(SCRIPT, decompress=False))
    (assets / "index-abc123.js.gz").write_bytes(gzip.compress(SCRIPT))
    (assets / "icon-1.png").write_bytes(b"\x89PNG not compressed")
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" crossorigin src="/assets/index-abc123.js"></script>'
        '<link rel="stylesheet" crossorigin href="/assets/index-abc123.css"><link rel="icon" href="/icons/i.svg">'
    )
    return tmp_path


class Served:
    """A response and its body as sent (httpx would add its own Accept-Encoding and decode gzip)."""

    def __init__(self, response: httpx.Response, body: bytes) -> None:
        self.headers = response.headers
        self.status_code = response.status_code
        self.content = body
        self.text = body.decode(errors="replace")


async def _request(app: SinglePageApp, path: str, method: str = "GET", **headers: str) -> Served:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        request = client.build_request(method, path, headers=headers)
        if "Accept-Encoding" not in headers:
            del request.headers["Accept-Encoding"]
        response = await client.send(request, stream=True)
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        return Served(response, body)


class TestEncodingChoice:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("gzip, deflate, br, zstd", ["br", "gzip"]),
            ("gzip, deflate", ["gzip"]),
            ("br;q=0.5, gzip;q=0.9", ["gzip", "br"]),
            ("*", ["br", "gzip"]),
            ("*;q=0.3, br;q=0", ["gzip"]),
            ("identity", []),
            ("", []),
            ("gzip;q=nonsense", []),
        ],
    )
    def test_accept_encoding_is_read_with_q_values(self, header, expected):
        assert accepted_encodings(header) == expected


class TestCompressedAssets:
    async def test_brotli_when_accepted_and_it_decodes_to_the_same_bytes(self, built):
        response = await _request(SinglePageApp(built), "/assets/index-abc123.js", **{"Accept-Encoding": "gzip, br"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "br"
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["vary"] == "Accept-Encoding"
        assert "immutable" in response.headers["cache-control"]
        assert int(response.headers["content-length"]) < len(SCRIPT) / 5
        assert _brotli(response.content, decompress=True) == SCRIPT

    async def test_gzip_when_brotli_is_not_accepted(self, built):
        response = await _request(SinglePageApp(built), "/assets/index-abc123.js", **{"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-type"].startswith("text/javascript")
        assert gzip.decompress(response.content) == SCRIPT

    async def test_no_accept_encoding_gets_the_file_itself(self, built):
        response = await _request(SinglePageApp(built), "/assets/index-abc123.js")
        assert "content-encoding" not in response.headers
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.content == SCRIPT

    async def test_a_range_is_of_the_file_itself(self, built):
        response = await _request(
            SinglePageApp(built), "/assets/index-abc123.js", **{"Accept-Encoding": "br, gzip", "Range": "bytes=7-12"}
        )
        assert response.status_code == 206 and "content-encoding" not in response.headers
        assert response.content == SCRIPT[7:13]
        assert response.headers["content-range"] == f"bytes 7-12/{len(SCRIPT)}"

    async def test_head_announces_the_compressed_length_without_a_body(self, built):
        response = await _request(SinglePageApp(built), "/assets/index-abc123.js", "HEAD", **{"Accept-Encoding": "br"})
        assert response.status_code == 200 and response.content == b""
        assert response.headers["content-encoding"] == "br"
        assert int(response.headers["content-length"]) == (built / "assets" / "index-abc123.js.br").stat().st_size

    async def test_a_file_without_copies_is_served_as_it_is(self, built):
        response = await _request(SinglePageApp(built), "/assets/icon-1.png", **{"Accept-Encoding": "br"})
        assert response.content == b"\x89PNG not compressed"
        assert "content-encoding" not in response.headers and "vary" not in response.headers

    async def test_the_compressed_copy_is_not_served_as_a_file_of_its_own(self, built):
        response = await _request(SinglePageApp(built), "/assets/index-abc123.js.br")
        assert response.headers["content-type"].startswith("text/html")


@pytest.mark.skipif(not (STATIC_DIR / "index.html").is_file(), reason="the web app is not built (make web)")
class TestTheBuiltWebApp:
    """The real build output (web/precompress.ts): its entry script goes out compressed."""

    async def test_the_entry_script_is_precompressed_and_decodes_to_the_build(self):
        index = (STATIC_DIR / "index.html").read_text()
        entry = index.split('type="module" crossorigin src="', 1)[1].split('"', 1)[0]
        original = (STATIC_DIR / entry.lstrip("/")).read_bytes()
        app = SinglePageApp()
        brotli = await _request(app, entry, **{"Accept-Encoding": "gzip, deflate, br"})
        assert brotli.headers["content-encoding"] == "br"
        assert _brotli(brotli.content, decompress=True) == original
        gzipped = await _request(app, entry, **{"Accept-Encoding": "gzip"})
        assert gzipped.headers["content-encoding"] == "gzip" and gzip.decompress(gzipped.content) == original
        assert len(brotli.content) < len(gzipped.content) < len(original) / 2


class TestCdn:
    async def test_index_points_hashed_assets_at_the_cdn_and_allows_it(self, built):
        app = SinglePageApp(built, cdn_url="https://cdn.example.com/parley/")
        response = await _request(app, "/c/some-chat")
        page = response.text
        assert 'src="https://cdn.example.com/parley/assets/index-abc123.js"' in page
        assert 'href="https://cdn.example.com/parley/assets/index-abc123.css"' in page
        # Only the hashed assets move: other files stay on this origin.
        assert 'href="/icons/i.svg"' in page
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' https://cdn.example.com;" in policy
        assert "font-src 'self' https://cdn.example.com" in policy
        assert response.headers["cache-control"] == "no-cache"

    async def test_rewritten_index_is_gzipped_when_accepted(self, built):
        app = SinglePageApp(built, cdn_url="https://cdn.example.com")
        response = await _request(app, "/", **{"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert b"https://cdn.example.com/assets/index-abc123.js" in gzip.decompress(response.content)

    async def test_assets_pulled_by_the_cdn_allow_any_origin(self, built):
        response = await _request(SinglePageApp(built, cdn_url="https://cdn.example.com"), "/assets/index-abc123.js")
        assert response.headers["access-control-allow-origin"] == "*"
        assert "immutable" in response.headers["cache-control"]

    async def test_without_a_cdn_index_is_untouched(self, built):
        response = await _request(SinglePageApp(built), "/")
        assert 'src="/assets/index-abc123.js"' in response.text
        assert "script-src 'self';" in response.headers["content-security-policy"]
