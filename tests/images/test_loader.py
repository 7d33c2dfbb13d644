"""Reading images (README, "Images"): formats and sizes from headers, token costs, data URLs, and fetching http(s)
URLs with SSRF protection against a real server on 127.0.0.1."""

from __future__ import annotations

import base64
import ipaddress
import ssl
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio

from parley.config import ImageSettings
from parley.images.formats import NotAnImage, identify, image_tokens
from parley.images.loader import ImageLoader, ImageRefused, is_public
from tests.images.samples import (
    PICTURE,
    gif_header,
    image_server,
    jpeg_header,
    png,
    self_signed,
    webp_lossless_header,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server() -> AsyncIterator[str]:
    async with image_server() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tls_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    """An HTTPS image server whose certificate names `pictures.test`, and a client context trusting it."""
    certificate, key = self_signed("pictures.test")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate)
    (folder / "key.pem").write_bytes(key)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    async with image_server(served) as url:
        yield url, ssl.create_default_context(cadata=certificate.decode())


def loader(
    *,
    allowed: Sequence[str] = (),
    names: dict[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
    **limits: object,
) -> ImageLoader:
    """A loader whose resolver knows `names` (host → address) besides the real one."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if names and host in names:
            return [names[host]]
        from parley.images.loader import system_resolver

        return await system_resolver(host, port)

    settings = ImageSettings(allowed_private_hosts=list(allowed), **limits)  # type: ignore[arg-type]
    return ImageLoader(settings, resolver=resolve, verify=verify)


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


class TestFormats:
    @pytest.mark.parametrize(
        ("data", "media_type", "size"),
        [
            (png(640, 480), "image/png", (640, 480)),
            (gif_header(320, 200), "image/gif", (320, 200)),
            (jpeg_header(1920, 1080), "image/jpeg", (1920, 1080)),
            (webp_lossless_header(1000, 17), "image/webp", (1000, 17)),
        ],
    )
    def test_format_and_size_come_from_the_header(self, data: bytes, media_type: str, size: tuple[int, int]) -> None:
        info = identify(data)
        assert (info.media_type, (info.width, info.height)) == (media_type, size)

    @pytest.mark.parametrize("data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n", b"<svg xmlns='...'/>", b"BM6\x00"])
    def test_anything_else_is_not_an_image(self, data: bytes) -> None:
        with pytest.raises(NotAnImage):
            identify(data)

    def test_tokens_follow_openais_tiles(self) -> None:
        assert image_tokens(1024, 1024) == 765  # 4 tiles after scaling the short side to 768
        assert image_tokens(2048, 4096) == 1105  # fitted into 2048, then 768x1536: 6 tiles
        assert image_tokens(4000, 3000, "low") == 85
        assert image_tokens(2, 2) == 255


class TestAddresses:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",  # cloud metadata
            "100.64.0.1",  # carrier-grade NAT
            "0.0.0.0",  # noqa: S104 (an address under test, not a binding)
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",  # IPv4-mapped
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
            "2002:7f00:1::",  # 6to4 of 127.0.0.1
        ],
    )
    def test_internal_addresses_are_not_public(self, address: str) -> None:
        assert not is_public(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
    def test_internet_addresses_are(self, address: str) -> None:
        assert is_public(ipaddress.ip_address(address))


class TestDataUrls:
    async def test_the_bytes_arrive_unchanged_with_their_size_and_cost(self) -> None:
        image = await loader().load(data_url(PICTURE), detail="low")
        assert (image.data, image.media_type, image.width, image.height) == (PICTURE, "image/png", 3, 2)
        assert (image.detail, image.tokens) == ("low", 85)

    async def test_the_real_format_wins_over_the_declared_one(self) -> None:
        image = await loader().load(data_url(PICTURE, "image/jpeg"))
        assert image.media_type == "image/png"

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("data:image/png," + "abc", "must be base64"),
            ("data:image/svg+xml;base64,PHN2Zy8+", "images must be one of"),
            ("data:image/png;base64,***", "not valid base64"),
            (data_url(b"plain text"), "not a PNG, JPEG, WebP or GIF"),
            ("file:///etc/passwd", r"data: URL \(base64\) or an http\(s\) URL"),
            ("ftp://example.com/a.png", r"data: URL \(base64\) or an http\(s\) URL"),
        ],
    )
    async def test_bad_data_is_refused_saying_why(self, url: str, reason: str) -> None:
        with pytest.raises(ImageRefused, match=reason):
            await loader().load(url)

    async def test_too_large_is_refused_before_decoding(self) -> None:
        with pytest.raises(ImageRefused, match="larger than 1024 bytes"):
            await loader(max_bytes=1024).load(data_url(png(200, 200, (1, 2, 3)) + b"\0" * 2000))


class TestFetching:
    async def test_an_allowed_internal_host_is_fetched(self, server: str) -> None:
        image = await loader(allowed=["127.0.0.1"]).load(f"{server}/picture.png")
        assert (image.data, image.media_type, (image.width, image.height)) == (PICTURE, "image/png", (3, 2))

    async def test_the_checked_address_is_the_one_connected_to(self, server: str) -> None:
        # `pictures.test` resolves (once, by the loader) to 127.0.0.1: the request goes there with the name as Host.
        port = server.rsplit(":", 1)[1]
        image = await loader(allowed=["pictures.test"], names={"pictures.test": "127.0.0.1"}).load(
            f"http://pictures.test:{port}/picture.png"
        )
        assert image.data == PICTURE

    async def test_https_is_verified_against_the_name_on_the_checked_address(
        self, tls_server: tuple[str, ssl.SSLContext]
    ) -> None:
        url, trusted = tls_server
        port = url.rsplit(":", 1)[1]
        fetching = loader(allowed=["pictures.test"], names={"pictures.test": "127.0.0.1"}, verify=trusted)
        assert (await fetching.load(f"https://pictures.test:{port}/picture.png")).data == PICTURE
        # The same server under a name its certificate does not carry: the TLS check fails.
        other = loader(allowed=["other.test"], names={"other.test": "127.0.0.1"}, verify=trusted)
        with pytest.raises(ImageRefused, match="fetching the image failed: ConnectError"):
            await other.load(f"https://other.test:{port}/picture.png")

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1"])
    async def test_loopback_is_refused_unless_allowed(self, server: str, host: str) -> None:
        port = server.rsplit(":", 1)[1]
        with pytest.raises(ImageRefused, match="not a public address"):
            await loader().load(f"http://{host}:{port}/picture.png")

    async def test_a_public_name_resolving_to_a_private_address_is_refused(self, server: str) -> None:
        port = server.rsplit(":", 1)[1]
        with pytest.raises(ImageRefused, match=r"'rebind\.example' is not a public address"):
            await loader(names={"rebind.example": "169.254.169.254"}).load(f"http://rebind.example:{port}/x.png")

    async def test_a_redirect_to_loopback_is_refused(self, server: str) -> None:
        # The first host is allowed; the redirect's target (127.0.0.1) is checked on its own and is not.
        port = server.rsplit(":", 1)[1]
        fetching = loader(allowed=["pictures.test"], names={"pictures.test": "127.0.0.1"})
        with pytest.raises(ImageRefused, match=r"'127\.0\.0\.1' is not a public address"):
            await fetching.load(f"http://pictures.test:{port}/to-loopback")

    async def test_redirects_are_limited(self, server: str) -> None:
        with pytest.raises(ImageRefused, match="redirects more than 2 times"):
            await loader(allowed=["127.0.0.1"], max_redirects=2).load(f"{server}/loop")

    async def test_a_response_that_is_not_an_image_is_refused(self, server: str) -> None:
        with pytest.raises(ImageRefused, match="content type is 'text/plain'"):
            await loader(allowed=["127.0.0.1"]).load(f"{server}/text")

    async def test_an_error_status_is_refused(self, server: str) -> None:
        with pytest.raises(ImageRefused, match="HTTP 404"):
            await loader(allowed=["127.0.0.1"]).load(f"{server}/missing.png")

    async def test_reading_stops_at_the_byte_cap(self, server: str) -> None:
        with pytest.raises(ImageRefused, match="larger than 100000 bytes"):
            await loader(allowed=["127.0.0.1"], max_bytes=100_000).load(f"{server}/huge")

    async def test_a_silent_server_times_out(self, server: str) -> None:
        with pytest.raises(ImageRefused, match=r"longer than 0\.2 s"):
            await loader(allowed=["127.0.0.1"], fetch_timeout_seconds=0.2).load(f"{server}/slow")

    async def test_nothing_listening_is_refused(self) -> None:
        with pytest.raises(ImageRefused, match="fetching the image failed: ConnectError"):
            await loader(allowed=["127.0.0.1"]).load("http://127.0.0.1:9/picture.png")

    async def test_credentials_in_the_url_are_refused(self, server: str) -> None:
        with pytest.raises(ImageRefused, match="user name or password"):
            await loader(allowed=["127.0.0.1"]).load(server.replace("http://", "http://me:secret@") + "/picture.png")

    async def test_the_urls_of_one_request_are_fetched_side_by_side(self, server: str) -> None:
        """Two images of one request: the server answers neither until both are asked for, so reading them one
        after the other would time out on the first."""
        images = loader(allowed=["127.0.0.1"], fetch_timeout_seconds=5)
        urls = [f"{server}/pair?group=side-by-side&i={i}" for i in (1, 2)]
        async with images.fetching(urls) as fetching:
            read = [await fetching.load(url) for url in urls]
        assert [image.data for image in read] == [PICTURE, PICTURE]

    async def test_the_first_bad_part_is_named_and_the_rest_are_cancelled(self, server: str) -> None:
        images = loader(allowed=["127.0.0.1"], fetch_timeout_seconds=5)
        urls = [f"{server}/text", f"{server}/slow", f"{server}/picture.png"]
        async with images.fetching(urls) as fetching:
            with pytest.raises(ImageRefused, match="content type is 'text/plain'"):
                await fetching.load(urls[0])
        # Leaving cancelled the fetch of /slow rather than waiting out its timeout.
        assert fetching._tasks[urls[1]].cancelled()  # type: ignore[attr-defined]
