"""The KeyProvider protocol: wraps and unwraps data keys under a key-encryption key it keeps (a key file, a KMS
key, a Vault transit key), so the KEK itself never reaches the database or Parley's memory (KMS, Vault) or is
read only from its file (local)."""

from __future__ import annotations

from typing import Protocol


class KeyProvider(Protocol):
    """Every method may raise `KeyUnavailable` (the KEK cannot be used now) and never logs key material.

    KEK ids are the provider's name and its own id of the key (`local:<id>`, `aws-kms:<key>`,
    `vault:<mount>/<key>`); they are stored beside each wrapped data key. `context` is bound to the wrapped key
    (the data key's id), so a wrapped key copied to another row does not unwrap.
    """

    name: str

    async def start(self) -> None:
        """Get ready (read or create the key file, open a client); StartupError when misconfigured."""
        ...

    async def check(self, kek_id: str) -> None:
        """StartupError unless `kek_id` (the registry's active KEK, or the initial one) can be used now."""
        ...

    def initial_kek_id(self) -> str:
        """The KEK a fresh installation wraps with (until `parley keys rotate` names another)."""
        ...

    async def wrap(self, kek_id: str, data_key: bytes, *, context: bytes) -> bytes: ...

    async def unwrap(self, kek_id: str, wrapped: bytes, *, context: bytes) -> bytes: ...

    async def new_kek(self, target: str | None) -> str:
        """For `parley keys rotate`: make (or name) the KEK to re-wrap under. `target`: a provider's own key id
        to move to (KMS), None: a new one (a new key in the key file; a new version of the Vault key; KMS: the
        configured key, under its newest material)."""
        ...

    async def retire(self, kek_id: str) -> str:
        """After a rotation re-wrapped every data key: forget `kek_id` where the provider can (the key file drops
        it); returns what was done, for the operator."""
        ...

    async def aclose(self) -> None: ...
