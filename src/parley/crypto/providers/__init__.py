"""Key providers: where the key-encryption key (KEK) lives and how data keys are wrapped by it."""

from parley.crypto.providers.base import KeyProvider

__all__ = ["KeyProvider"]
