"""The default key provider: KEKs in a key file under the data dir (`crypto/keyring.json`, mode 0600).

Created on first start; several processes sharing the data dir that start together end up with the same file
(it is written aside and linked into place, and the loser reads the winner's). A file other accounts may read is
refused at start: the KEK in it opens every data key. Rotation adds a KEK to the file (written aside and renamed
over it) and later drops the retired one; processes reread the file when they meet a KEK id they do not know, so
replicas on one data dir follow a rotation without restarting.

The file opens every user's data keys together with the database: keep it out of the database's backups' reach
(`parley backup` includes it, so protect the archive), or use KMS or Vault, which never hand out the KEK.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import anyio.to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parley.crypto.errors import KeyUnavailable, SealedValueInvalid
from parley.db import StartupError
from parley.kit.private_paths import make_private_dir, open_private_file

FORMAT = "parley-keyring-1"
PREFIX = "local:"
_AAD = b"parley-data-key-v1\x00"


class LocalKeyFile:
    """KEKs (AES-256) read from `path`; wrapping is AES-256-GCM with the data key's id as associated data."""

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, AESGCM] = {}
        self._current: str | None = None

    def __repr__(self) -> str:
        return f"LocalKeyFile({self.path})"

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self._load_or_create)

    async def check(self, kek_id: str) -> None:
        try:
            await self._kek(kek_id)
        except KeyUnavailable as exc:
            raise StartupError(
                f"the key file {self.path} does not hold the active key-encryption key {kek_id}: every Parley"
                " process of one database needs the same key file (PARLEY_CRYPTO__KEY_FILE)"
            ) from exc

    def initial_kek_id(self) -> str:
        if self._current is None:
            raise RuntimeError("the key file is not loaded (start() first)")
        return self._current

    async def wrap(self, kek_id: str, data_key: bytes, *, context: bytes) -> bytes:
        aead = await self._kek(kek_id)
        nonce = os.urandom(12)
        return nonce + aead.encrypt(nonce, data_key, _AAD + context)

    async def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        aead = await self._kek(kek_id)
        try:
            return aead.decrypt(wrapped[:12], wrapped[12:], _AAD + context)
        except InvalidTag as exc:
            raise SealedValueInvalid("a wrapped data key does not unwrap (altered, or another key's)") from exc

    async def new_kek(self, target: str | None) -> str:
        if target is not None:
            raise ValueError("the local key file makes its own new KEK; --to is for AWS KMS")
        return await anyio.to_thread.run_sync(self._add_key)

    async def retire(self, kek_id: str) -> str:
        await anyio.to_thread.run_sync(self._drop_key, kek_id)
        return f"removed {kek_id} from {self.path}"

    async def aclose(self) -> None:
        self._keys.clear()

    # -- the file ----------------------------------------------------------------------------------------------

    async def _kek(self, kek_id: str) -> AESGCM:
        aead = self._keys.get(kek_id)
        if aead is None:
            # Another process rotated: the new KEK is in the file by now.
            await anyio.to_thread.run_sync(self._load)
            aead = self._keys.get(kek_id)
        if aead is None:
            raise KeyUnavailable(f"the key-encryption key {kek_id} is not in {self.path}")
        return aead

    def _load_or_create(self) -> None:
        if not self.path.exists():
            make_private_dir(self.path.parent)
            key_id = _new_id()
            self._publish({"format": FORMAT, "current": key_id, "keys": {key_id: _new_entry()}}, replace=False)
        self._load()

    def _load(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError as exc:
            raise StartupError(f"the key file {self.path} is missing (PARLEY_CRYPTO__KEY_FILE)") from exc
        if status.st_mode & stat.S_IRWXO:
            # Group bits are tolerated: a Kubernetes Secret mounted with an fsGroup comes group-readable.
            raise StartupError(
                f"the key file {self.path} may be read by every account (mode {stat.S_IMODE(status.st_mode):o}):"
                f" it opens every user's data; `chmod 600 {self.path}`"
            )
        try:
            document = json.loads(self.path.read_text())
            if document.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            keys = {
                key_id: AESGCM(base64.b64decode(entry["key"], validate=True))
                for key_id, entry in document["keys"].items()
            }
            current = str(document["current"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StartupError(f"the key file {self.path} cannot be read: {type(exc).__name__}") from exc
        if current not in keys:
            raise StartupError(f"the key file {self.path} names a current key it does not hold")
        self._keys, self._current = keys, current

    def _document(self) -> dict[str, object]:
        return json.loads(self.path.read_text())  # type: ignore[no-any-return]

    def _add_key(self) -> str:
        document = self._document()
        key_id = _new_id()
        keys = document["keys"]
        assert isinstance(keys, dict)
        keys[key_id] = _new_entry()
        document["current"] = key_id
        self._publish(document, replace=True)
        self._load()
        return key_id

    def _drop_key(self, kek_id: str) -> None:
        document = self._document()
        keys = document["keys"]
        assert isinstance(keys, dict)
        if document["current"] == kek_id:
            raise ValueError(f"{kek_id} is the current key of {self.path}; it cannot be retired")
        if keys.pop(kek_id, None) is not None:
            self._publish(document, replace=True)
        self._load()

    def _publish(self, document: dict[str, object], *, replace: bool) -> None:
        """Write the file aside (0600 from its first byte, synced) and move it into place: replacing the file,
        or, on first start, only if no other process created it meanwhile (then theirs is kept)."""
        scratch = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with os.fdopen(open_private_file(scratch), "w") as handle:
                json.dump(document, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            if replace:
                os.replace(scratch, self.path)
            else:
                with contextlib.suppress(FileExistsError):
                    os.link(scratch, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()


class LocalKeys:
    """KEKs given in settings (`PARLEY_CRYPTO__KEYS`) rather than a file: every replica gets the same ones from
    its environment (a Kubernetes Secret), none writes them. Wrapping as `LocalKeyFile`."""

    name = "local"

    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = {f"{PREFIX}{name}": AESGCM(key) for name, key in keys.items()}
        self._current = f"{PREFIX}{list(keys)[-1]}"

    def __repr__(self) -> str:
        return f"LocalKeys({', '.join(self._keys)})"

    async def start(self) -> None:
        return None

    async def check(self, kek_id: str) -> None:
        if kek_id not in self._keys:
            raise StartupError(
                f"PARLEY_CRYPTO__KEYS does not hold the active key-encryption key {kek_id}: every Parley process of"
                " one database needs the same keys"
            )

    def initial_kek_id(self) -> str:
        return self._current

    async def wrap(self, kek_id: str, data_key: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._kek(kek_id).encrypt(nonce, data_key, _AAD + context)

    async def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes:
        try:
            return self._kek(kek_id).decrypt(wrapped[:12], wrapped[12:], _AAD + context)
        except InvalidTag as exc:
            raise SealedValueInvalid("a wrapped data key does not unwrap (altered, or another key's)") from exc

    async def new_kek(self, target: str | None) -> str:
        if target is not None:
            raise ValueError("with PARLEY_CRYPTO__KEYS the new KEK is the last key given; --to is for AWS KMS")
        return self._current

    async def retire(self, kek_id: str) -> str:
        name = kek_id.removeprefix(PREFIX)
        return f"no data key needs {name!r} any more: remove it from PARLEY_CRYPTO__KEYS on every replica"

    async def aclose(self) -> None:
        self._keys.clear()

    def _kek(self, kek_id: str) -> AESGCM:
        aead = self._keys.get(kek_id)
        if aead is None:
            raise KeyUnavailable(f"the key-encryption key {kek_id} is not in PARLEY_CRYPTO__KEYS")
        return aead


def generate_key_entry(name: str) -> str:
    """A new `name=<base64 key>` entry for PARLEY_CRYPTO__KEYS."""
    return f"{name}={base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def _new_id() -> str:
    return f"{PREFIX}{secrets.token_hex(8)}"


def _new_entry() -> dict[str, str]:
    return {
        "key": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
