"""Encryption at rest (README, "Encryption at rest"): the only code that sees keys.

Every user has a data key (AES-256-GCM) wrapped by a key-encryption key from a KeyProvider (a key file under the
data dir, AWS KMS or HashiCorp Vault transit); the system has one more for data no user owns. Services and
repositories use `Crypto` (`app.state.crypto`, `CryptoDep` in routes):

    keys = await crypto.keys_for({user_id, other_user_id})       # one fetch per request, cached after
    sealed = keys.seal(user_id, data, context=context_of("messages", "content", message_id))
    data = keys.open(user_id, sealed, context=context_of("messages", "content", message_id))
    token = keys[user_id].blind("stemmed-word")                   # blind-index token (keyed hash)

or `await crypto.seal(owner, data, context=...)` / `await crypto.open(owner, sealed, context=...)` for one value.
`await crypto.erase(session, user_id)` is the crypto-erase of a user's deletion.
"""

from typing import TYPE_CHECKING, Any

from parley.crypto.envelope import OVERHEAD, Owner, SealingKey, context_of, key_id_of
from parley.crypto.errors import CryptoError, KeyDestroyed, KeyUnavailable, SealedValueInvalid

if TYPE_CHECKING:
    from parley.crypto.keyring import Crypto, KeySet


def __getattr__(name: str) -> Any:
    # Imported on first use: `parley.config` imports `parley.crypto.settings`, and the keyring imports
    # `parley.db`, which imports `parley.config`.
    if name in ("Crypto", "KeySet"):
        from parley.crypto import keyring

        return getattr(keyring, name)
    raise AttributeError(name)


__all__ = [
    "OVERHEAD",
    "Crypto",
    "CryptoError",
    "KeyDestroyed",
    "KeySet",
    "KeyUnavailable",
    "Owner",
    "SealedValueInvalid",
    "SealingKey",
    "context_of",
    "key_id_of",
]
