"""Reading the images a client names: `data:` URLs decoded, http(s) URLs fetched, each checked to be a PNG, JPEG,
WebP or GIF within `images.max_bytes`.

Fetching a URL a client chose is a server-side request forgery risk: it must not let a caller reach what only
Parley can (a cloud metadata endpoint, the database, an admin port on localhost). So the fetch
- resolves the host name itself and refuses unless every address is public: loopback, private, link-local,
  carrier-grade NAT, multicast, reserved and unspecified addresses are refused, IPv4 and IPv6 alike, including
  IPv4 addresses wrapped in IPv6 (mapped, NAT64, 6to4, Teredo); `images.allowed_private_hosts` names the
  exceptions a deployment wants (an internal image server);
- connects to the address it checked (the URL's host name travels as the Host header and the TLS server name,
  and certificates are verified against it), so a second DNS answer cannot swap the address in between;
- follows at most `images.max_redirects` redirects, checking each target the same way; ignores proxy
  variables; stops after `images.fetch_timeout_seconds` in all; stops reading beyond `images.max_bytes`;
- wants an image content type and bytes that really are one of the accepted formats.
Each refusal is an `ImageRefused` saying why, which the API surfaces turn into a 400 naming the part.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from parley.config import ImageSettings
from parley.images.formats import MEDIA_TYPES, Detail, NotAnImage, identify, image_tokens
from parley.llm.base import ImagePart

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses it resolves to (a test injects its own).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
_USER_AGENT = "Parley image fetcher"
# Image URLs of one request fetched at the same time.
_FETCHES_AT_ONCE = 4


class ImageRefused(ValueError):
    """An image that cannot be used, with the reason a client can act on."""


async def system_resolver(host: str, port: int) -> Sequence[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ImageRefused(f"the image URL's host '{host}' does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    """Whether `address` is one anyone on the internet could reach (so fetching it exposes nothing internal)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    if address in _CARRIER_GRADE_NAT:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


class ImageLoader:
    """Reads images for requests under the deployment's `ImageSettings`."""

    def __init__(
        self, settings: ImageSettings, *, resolver: Resolver = system_resolver, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.settings = settings
        self._resolver = resolver
        # Certificates are checked against the URL's host name (tests pass a context trusting their own CA).
        self._verify = verify
        self._allowed = {host.lower().strip("[]") for host in settings.allowed_private_hosts}

    async def load(self, url: str, *, detail: Detail = "auto") -> ImagePart:
        """The image at `url` (a `data:` URL or an http(s) URL), or `ImageRefused`."""
        if url[:5].lower() == "data:":
            data = self.decode_data_url(url)
        elif _fetchable(url):
            data = await self._fetched(url)
        else:
            raise ImageRefused("an image URL must be a data: URL (base64) or an http(s) URL")
        return self.image(data, detail=detail)

    @contextlib.asynccontextmanager
    async def fetching(self, urls: Iterable[str]) -> AsyncIterator[ImageLoader]:
        """This loader with the http(s) images among `urls` being fetched side by side (at most
        `_FETCHES_AT_ONCE` at a time) while the caller reads the request in order: `load` of one of them waits
        for its fetch instead of starting it, so a request naming several image URLs waits about as long as its
        slowest, not their sum, and a refusal still names the first bad part. What nobody awaited is cancelled
        on leaving."""
        wanted = list(dict.fromkeys(url for url in urls if _fetchable(url)))
        if len(wanted) < 2:
            yield self
            return
        turns = asyncio.Semaphore(_FETCHES_AT_ONCE)

        async def fetch(url: str) -> bytes:
            async with turns:
                return await self._fetched(url)

        tasks = {url: asyncio.ensure_future(fetch(url)) for url in wanted}
        try:
            yield _Prefetched(self, tasks)
        finally:
            for task in tasks.values():
                task.cancel()
            # Collected, so a fetch that failed unawaited is not reported as never retrieved.
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _fetched(self, url: str) -> bytes:
        try:
            async with asyncio.timeout(self.settings.fetch_timeout_seconds):
                return await self._fetch(url)
        except TimeoutError as exc:
            raise ImageRefused(
                f"fetching the image took longer than {self.settings.fetch_timeout_seconds:g} s"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            if isinstance(exc, ImageRefused):
                raise
            raise ImageRefused(f"fetching the image failed: {type(exc).__name__}") from exc

    def image(self, data: bytes, *, detail: Detail = "auto") -> ImagePart:
        """`data` as a checked image: its real format and size read from its header."""
        if len(data) > self.settings.max_bytes:
            raise ImageRefused(self._too_large())
        try:
            info = identify(data)
        except NotAnImage as exc:
            raise ImageRefused(f"the image is {exc}") from exc
        return ImagePart(
            media_type=info.media_type,
            data=data,
            width=info.width,
            height=info.height,
            detail=detail,
            tokens=image_tokens(info.width, info.height, detail),
        )

    def decode_data_url(self, url: str) -> bytes:
        header, comma, payload = url.partition(",")
        media_type, _, encoding = header[5:].partition(";")
        if not comma or encoding.lower() != "base64":
            raise ImageRefused("a data URL image must be base64: data:image/png;base64,...")
        return self.decode_base64(media_type, payload)

    def decode_base64(self, media_type: str, payload: str) -> bytes:
        """The bytes of a base64 image said to be of `media_type` (checked against its header later)."""
        if media_type.lower() not in MEDIA_TYPES:
            raise ImageRefused(f"images must be one of {', '.join(MEDIA_TYPES)} (not '{media_type}')")
        # Refused before decoding: base64 takes 4 characters per 3 bytes.
        if len(payload) // 4 * 3 > self.settings.max_bytes + 2:
            raise ImageRefused(self._too_large())
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImageRefused("the image is not valid base64") from exc

    def _too_large(self) -> str:
        return f"the image is larger than {self.settings.max_bytes} bytes (images.max_bytes)"

    async def _fetch(self, url: str) -> bytes:
        # trust_env=False: an HTTP(S)_PROXY variable would otherwise route the request through a proxy that
        # resolves the name again, undoing the address check.
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=self.settings.fetch_timeout_seconds, verify=self._verify
        ) as client:
            for _ in range(self.settings.max_redirects + 1):
                request = await self._request_to_checked_address(client, url)
                response = await client.send(request, stream=True)
                try:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        url = str(httpx.URL(url).join(response.headers["location"]))
                        continue
                    return await self._body(response)
                finally:
                    await response.aclose()
        raise ImageRefused(f"the image URL redirects more than {self.settings.max_redirects} times")

    async def _request_to_checked_address(self, client: httpx.AsyncClient, url: str) -> httpx.Request:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImageRefused("an image URL must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise ImageRefused("an image URL may not carry a user name or password")
        host = parts.hostname.lower()
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ImageRefused("the image URL's port is not valid") from exc
        address = await self._checked_address(host, port)
        target = httpx.URL(url).copy_with(host=str(address))
        headers = {"Host": parts.netloc.rpartition("@")[2], "User-Agent": _USER_AGENT, "Accept": "image/*"}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return client.build_request("GET", target, headers=headers, extensions=extensions)

    async def _checked_address(self, host: str, port: int) -> IPAddress:
        """The address to connect to: the host's own when it is a literal, else the first it resolves to; every
        address must be public unless the host is allowed."""
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        except ValueError:
            resolved = await self._resolver(host, port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        if not addresses:
            raise ImageRefused(f"the image URL's host '{host}' does not resolve")
        if host not in self._allowed:
            for address in addresses:
                if not is_public(address):
                    raise ImageRefused(
                        f"the image URL's host '{host}' is not a public address: Parley does not fetch from "
                        "private, loopback, link-local or reserved addresses"
                    )
        return addresses[0]

    async def _body(self, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            raise ImageRefused(f"fetching the image failed: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in MEDIA_TYPES:
            raise ImageRefused(
                f"the image URL's content type is '{content_type or 'missing'}', not one of {', '.join(MEDIA_TYPES)}"
            )
        limit = self.settings.max_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ImageRefused(self._too_large())
        received = bytearray()
        try:
            async for piece in response.aiter_bytes():
                received += piece
                if len(received) > limit:
                    raise ImageRefused(self._too_large())
        except httpx.HTTPError as exc:
            raise ImageRefused(f"fetching the image failed: {type(exc).__name__}") from exc
        return bytes(received)


class _Prefetched(ImageLoader):
    """A loader whose http(s) images are already being fetched (`ImageLoader.fetching`)."""

    def __init__(self, loader: ImageLoader, tasks: Mapping[str, asyncio.Future[bytes]]) -> None:
        self.__dict__.update(loader.__dict__)
        self._tasks = tasks

    async def _fetched(self, url: str) -> bytes:
        task = self._tasks.get(url)
        return await (task if task is not None else super()._fetched(url))


def _fetchable(url: str) -> bool:
    return url[:7].lower() == "http://" or url[:8].lower() == "https://"
