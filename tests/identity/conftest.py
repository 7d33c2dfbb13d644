"""OIDC fixtures: one real OpenID Provider (tests/identity/op.py) and one Parley configured to use it, served
over real HTTP on a port chosen before either starts (the provider must know Parley's callback URLs), per
xdist worker. Each test starts from empty tables and a well-behaved provider."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from parley.config import OIDCClaimMapping, OIDCProviderSettings, OIDCSettings, Settings
from tests.conftest import _empty_tables, running_app
from tests.identity.op import CLIENT_SECRET, CLIENT_SECRET_ENV, OpenIDProvider, client_config, free_port, running_op

CLIENT_ID = "parley-test"
# "test": any domain, admins by group, groups synced; "corp": only corp.test addresses, nothing else mapped;
# "down": a provider that cannot be reached (nothing listens at its issuer).
PROVIDER_IDS = ["test", "corp"]


@dataclass
class OidcParley:
    url: str
    app: FastAPI
    op: OpenIDProvider

    def browser(self) -> httpx.AsyncClient:
        """A client that keeps cookies like a browser and follows nothing by itself."""
        return httpx.AsyncClient(timeout=30)


@pytest.fixture(scope="session")
def openid_provider_and_port() -> Iterator[tuple[OpenIDProvider, int]]:
    port = free_port()
    with running_op([client_config(CLIENT_ID, f"http://127.0.0.1:{port}", PROVIDER_IDS)]) as op:
        yield op, port


def oidc_settings(issuer: str) -> OIDCSettings:
    os.environ[CLIENT_SECRET_ENV] = CLIENT_SECRET
    common = {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": CLIENT_SECRET_ENV}
    return OIDCSettings(
        providers=[
            OIDCProviderSettings.model_validate(
                {
                    "id": "test",
                    "display_name": "Test IdP",
                    "scopes": ["openid", "email", "profile", "groups"],
                    "claims": OIDCClaimMapping(
                        admin_groups=["parley-admins"],
                        role_groups={"auditors": "auditor", "ghosts": "nobody-made-this"},
                        sync_groups=True,
                    ).model_dump(),
                    **common,
                }
            ),
            OIDCProviderSettings.model_validate(
                {
                    "id": "corp",
                    "display_name": "Corp SSO",
                    "scopes": ["openid", "email"],
                    "allowed_email_domains": ["corp.test"],
                    **common,
                }
            ),
            OIDCProviderSettings.model_validate(
                {**common, "id": "down", "display_name": "Down IdP", "issuer": f"http://127.0.0.1:{free_port()}"}
            ),
        ]
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def oidc_parley_session(
    settings: Settings, openid_provider_and_port: tuple[OpenIDProvider, int]
) -> AsyncIterator[OidcParley]:
    op, port = openid_provider_and_port
    configured = settings.model_copy(update={"oidc": oidc_settings(op.issuer), "auth": settings.auth.model_copy()})
    async with running_app(configured) as app:
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield OidcParley(url=f"http://127.0.0.1:{port}", app=app, op=op)
        finally:
            server.should_exit = True
            await task


@pytest_asyncio.fixture(loop_scope="session")
async def oidc(oidc_parley_session: OidcParley) -> OidcParley:
    await _empty_tables(oidc_parley_session.app)
    oidc_parley_session.op.reset()
    return oidc_parley_session
