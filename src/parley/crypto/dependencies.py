"""The route dependency giving services the app's `Crypto` (`CryptoDep`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.crypto.keyring import Crypto


def _crypto(request: Request) -> Crypto:
    crypto: Crypto = request.app.state.crypto
    return crypto


CryptoDep = Annotated[Crypto, Depends(_crypto)]
