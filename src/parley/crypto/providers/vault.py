"""HashiCorp Vault's transit engine as the key provider (OpenBao's too: same HTTP API), over plain HTTP calls:
data keys are encrypted and decrypted by Vault under a transit key (aes256-gcm96) that never leaves it.

KEK ids name the key's version (`vault:<mount>/<key>:v<N>`): new data keys are wrapped under the active KEK's
version (`key_version`), `parley keys rotate` makes a new version (`/keys/<key>/rotate`), and retiring the old
one raises the key's `min_decryption_version` past it once no data key needs it (Vault keeps the version: an
operator can lower it again, e.g. to read a backup from before the rotation). Each wrapped key carries the data
key's id as `associated_data`: Vault refuses to decrypt it for another row.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from parley.crypto.errors import KeyUnavailable, SealedValueInvalid
from parley.crypto.settings import CryptoSettings
from parley.db import StartupError

PREFIX = "vault:"
_KEK = re.compile(r"^vault:(?P<mount>[A-Za-z0-9_/-]+)/(?P<key>[A-Za-z0-9_.-]+):v(?P<version>[0-9]+)$")
_AUTHENTICATION_FAILED = "message authentication failed"


class VaultTransit:
    name = "vault"

    def __init__(
        self, url: str, token: str, *, mount: str, key_name: str, namespace: str | None = None, timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self.mount = mount.strip("/")
        self.key_name = key_name
        headers = {"X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        self._client = httpx.AsyncClient(base_url=f"{self.url}/v1/", headers=headers, timeout=timeout)
        self._latest: int | None = None

    def __repr__(self) -> str:
        return f"VaultTransit({self.url}, {self.mount}/{self.key_name})"

    @classmethod
    def from_settings(cls, settings: CryptoSettings) -> VaultTransit:
        if settings.vault_url is None or settings.vault_token is None:
            raise StartupError("PARLEY_CRYPTO__PROVIDER=vault needs PARLEY_CRYPTO__VAULT_URL and __VAULT_TOKEN")
        return cls(
            settings.vault_url,
            settings.vault_token.get_secret_value(),
            mount=settings.vault_mount,
            key_name=settings.vault_key_name,
            namespace=settings.vault_namespace,
            timeout=settings.vault_timeout_seconds,
        )

    # -- the key ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the transit key (creating it when missing)."""
        try:
            key = await self._read_key()
            if key is None:
                await self._call("POST", f"{self.mount}/keys/{self.key_name}", {"type": "aes256-gcm96"})
                key = await self._read_key()
        except KeyUnavailable as exc:
            raise StartupError(f"Vault transit key {self.mount}/{self.key_name} at {self.url}: {exc}") from exc
        if key is None:
            raise StartupError(f"Vault transit key {self.mount}/{self.key_name} at {self.url} could not be created")
        self._latest = int(key["latest_version"])

    async def check(self, kek_id: str) -> None:
        mount, key_name, version = _parse(kek_id)
        try:
            key = await self._read_key(mount, key_name)
        except KeyUnavailable as exc:
            raise StartupError(f"Vault transit key of {kek_id}: {exc}") from exc
        if key is None or not int(key["min_decryption_version"]) <= version <= int(key["latest_version"]):
            raise StartupError(f"Vault has no usable transit key version for {kek_id} at {self.url}")

    def initial_kek_id(self) -> str:
        if self._latest is None:
            raise RuntimeError("the Vault transit key is not read yet (start() first)")
        return f"{PREFIX}{self.mount}/{self.key_name}:v{self._latest}"

    async def wrap(self, kek_id: str, data_key: bytes, *, context: bytes) -> bytes:
        mount, key_name, version = _parse(kek_id)
        body = {"plaintext": _b64(data_key), "associated_data": _b64(context), "key_version": version}
        data = await self._call("POST", f"{mount}/encrypt/{key_name}", body)
        return str(data["ciphertext"]).encode()

    async def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        mount, key_name, _version = _parse(kek_id)
        body = {"ciphertext": wrapped.decode(), "associated_data": _b64(context)}
        data = await self._call("POST", f"{mount}/decrypt/{key_name}", body)
        return base64.b64decode(data["plaintext"])

    async def new_kek(self, target: str | None) -> str:
        if target is not None:
            raise ValueError("Vault rotates its transit key to a new version; --to is for AWS KMS")
        await self._call("POST", f"{self.mount}/keys/{self.key_name}/rotate", {})
        key = await self._read_key()
        if key is None:
            raise KeyUnavailable(f"the Vault transit key {self.mount}/{self.key_name} is gone")
        self._latest = int(key["latest_version"])
        return self.initial_kek_id()

    async def retire(self, kek_id: str) -> str:
        mount, key_name, version = _parse(kek_id)
        key = await self._read_key(mount, key_name)
        if key is None or int(key["min_decryption_version"]) > version:
            return f"{kek_id}: nothing to do"
        await self._call("POST", f"{mount}/keys/{key_name}/config", {"min_decryption_version": version + 1})
        return (
            f"Vault no longer decrypts with {kek_id} (min_decryption_version {version + 1}; lower it to read a backup"
            " from before this rotation)"
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _read_key(self, mount: str | None = None, key_name: str | None = None) -> dict[str, Any] | None:
        try:
            return await self._call("GET", f"{mount or self.mount}/keys/{key_name or self.key_name}")
        except _Missing:
            return None

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise KeyUnavailable(f"Vault at {self.url} did not answer ({type(exc).__name__})") from exc
        if response.status_code == 404:
            raise _Missing(path)
        if response.status_code >= 400:
            errors = _errors(response)
            if any(_AUTHENTICATION_FAILED in error for error in errors):
                raise SealedValueInvalid("Vault refused a wrapped data key (altered, or another row's)")
            raise KeyUnavailable(f"Vault answered {response.status_code} to {path}: {'; '.join(errors)[:300]}")
        if response.status_code == 204 or not response.content:
            return {}
        data = response.json().get("data")
        return data if isinstance(data, dict) else {}


class _Missing(KeyUnavailable):
    def __init__(self, path: str) -> None:
        super().__init__(f"Vault has nothing at {path}")


def _errors(response: httpx.Response) -> list[str]:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return [response.text[:200]]
    return [str(error) for error in errors]


def _parse(kek_id: str) -> tuple[str, str, int]:
    match = _KEK.match(kek_id)
    if match is None:
        raise KeyUnavailable(f"{kek_id} is not a Vault transit KEK (PARLEY_CRYPTO__PROVIDER changed?)")
    return match["mount"], match["key"], int(match["version"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
