"""What can go wrong opening or sealing: a destroyed key, a value that is not what was sealed, a KEK that cannot
be reached. None is the client's fault, so none is a `ParleyError` except the outage (503)."""

from __future__ import annotations

from parley.errors import ServiceUnavailable


class CryptoError(Exception):
    """A sealed value cannot be opened (or a value cannot be sealed)."""


class KeyDestroyed(CryptoError):
    """The data key that sealed the value no longer exists: its owner was crypto-erased."""


class SealedValueInvalid(CryptoError):
    """Not a sealed value, sealed for another owner or place (row, column), or altered since it was sealed."""


class KeyUnavailable(ServiceUnavailable):
    """The key-encryption key cannot be used right now (KMS or Vault unreachable, a KEK missing from the key
    file): requests that need a data key not already in memory are answered 503."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "5"})
