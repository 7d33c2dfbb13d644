"""HTTPS served by Parley itself (`parley serve --tls-cert/--tls-key`, or PARLEY_TLS__CERT_FILE/KEY_FILE):
uvicorn's TLS, with TLS 1.3 as the lowest version by default (PARLEY_TLS__MIN_VERSION=1.2 lets older clients in).

uvicorn builds its `SSLContext` in `Config.load()`, in each worker process; `TLSConfig` raises the context's
minimum version right after, so `--workers N` processes refuse old clients too.
"""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TLSConfig(uvicorn.Config):
    """uvicorn's configuration, with the TLS context's minimum protocol version set."""

    def __init__(self, app: Any, *, tls_min_version: str = "1.3", **kwargs: Any) -> None:
        self.tls_min_version = tls_min_version
        super().__init__(app, **kwargs)

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = _VERSIONS[self.tls_min_version]
