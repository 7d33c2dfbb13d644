"""SAML fixtures: a real SAML IdP (tests/identity/saml_idp.py, pysaml2's IdP side with its own keys) and one
Parley configured with SP entries for it, served over real HTTP, per xdist worker. Test modules import the
fixtures they use.

"test": any domain, admins by group, groups synced, IdP-initiated sign-in allowed. "strict": only corp.test
addresses, sign-ins must start at Parley, which signs its AuthnRequests. "remote": the IdP's metadata read from a
URL (a local HTTP server). "down": metadata at a URL where nothing listens. "federation": metadata describing
the test IdP and another one (`other_idp`, its own keys), the test IdP named as the one to trust.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from parley.config import Settings
from parley.db import Database
from parley.identity.saml_config import SAMLSettings
from parley.models import AuditEvent, User
from tests.conftest import _empty_tables, running_app
from tests.identity.saml_idp import SamlIdP, SamlUser, encoded, federation_metadata
from tests.servers import free_port

IDP_IDS = ["test", "strict", "remote", "federation"]
OTHER_IDP_ENTITY_ID = "http://other-idp.saml.test/metadata"


@dataclass
class SamlParley:
    url: str
    app: FastAPI
    idp: SamlIdP

    def browser(self) -> httpx.AsyncClient:
        """A client that keeps cookies like a browser and follows nothing by itself."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    def sp_urls(self, idp: str) -> tuple[str, str]:
        """Parley's entity id and ACS URL for one IdP entry."""
        return f"{self.url}/api/v1/auth/saml/{idp}/metadata", f"{self.url}/api/v1/auth/saml/{idp}/acs"

    def response(self, user: SamlUser, *, idp: str = "test", in_response_to: str | None = None, **kwargs: Any) -> str:
        entity_id, acs = self.sp_urls(idp)
        return self.idp.response_xml(user, acs_url=acs, sp_entity_id=entity_id, in_response_to=in_response_to, **kwargs)

    async def post(self, http: httpx.AsyncClient, xml: str, *, idp: str = "test", **headers: str) -> httpx.Response:
        return await http.post(f"/api/v1/auth/saml/{idp}/acs", data={"SAMLResponse": encoded(xml)}, headers=headers)

    async def start(self, http: httpx.AsyncClient, *, idp: str = "test") -> str:
        """Start a sign-in at Parley; the IdP reads the AuthnRequest the browser brings. Returns its id."""
        login = await http.get(f"/api/v1/auth/saml/{idp}/login")
        assert login.status_code == 302, login.text
        request = self.idp.read_request(login.headers["location"])
        assert urlsplit(request.assertion_consumer_service_url).path == f"/api/v1/auth/saml/{idp}/acs"
        return str(request.id)

    def database(self) -> Database:
        db: Database = self.app.state.database
        return db

    async def user(self, email: str) -> User | None:
        async with self.database().session() as session:
            return await session.scalar(select(User).where(User.email == email))

    async def failure_codes(self) -> list[str]:
        async with self.database().session() as session:
            events = await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "auth.sso_login_failed").order_by(AuditEvent.created_at)
            )
            return [event.details["code"] for event in events]


@pytest.fixture(scope="session")
def saml_idp(tmp_path_factory: pytest.TempPathFactory) -> SamlIdP:
    return SamlIdP(tmp_path_factory.mktemp("saml-idp"))


@pytest.fixture(scope="session")
def other_idp(tmp_path_factory: pytest.TempPathFactory) -> SamlIdP:
    return SamlIdP(tmp_path_factory.mktemp("saml-other-idp"), entity_id=OTHER_IDP_ENTITY_ID)


@pytest.fixture(scope="session")
def metadata_server(saml_idp: SamlIdP) -> Iterator[str]:
    """The IdP's metadata served over HTTP, as IdPs publish it; yields its URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(saml_idp.metadata_file.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{saml_idp.metadata_file.name}"
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def saml_parley_session(
    settings: Settings, saml_idp: SamlIdP, other_idp: SamlIdP, metadata_server: str
) -> AsyncIterator[SamlParley]:
    federation = federation_metadata(saml_idp.directory / "federation.xml", saml_idp, other_idp)
    common = {"metadata_file": str(saml_idp.metadata_file)}
    saml = SAMLSettings.model_validate(
        {
            "idps": [
                {
                    "id": "test",
                    "display_name": "Test SAML",
                    "attributes": {
                        "admin_groups": ["parley-admins"],
                        "role_groups": {"auditors": "auditor"},
                        "sync_groups": True,
                    },
                    **common,
                },
                {
                    "id": "strict",
                    "display_name": "Corp SAML",
                    "allowed_email_domains": ["corp.test"],
                    "idp_initiated": False,
                    "sign_requests": True,
                    **common,
                },
                {"id": "remote", "display_name": "Remote SAML", "metadata_url": metadata_server},
                {
                    "id": "federation",
                    "display_name": "Federation SAML",
                    "metadata_file": str(federation),
                    "entity_id": saml_idp.entity_id,
                },
                {"id": "down", "display_name": "Down SAML", "metadata_url": f"http://127.0.0.1:{free_port()}/md"},
            ]
        }
    )
    configured = settings.model_copy(update={"saml": saml, "auth": settings.auth.model_copy()})
    port = free_port()
    async with running_app(configured) as app:
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            parley = SamlParley(url=f"http://127.0.0.1:{port}", app=app, idp=saml_idp)
            async with parley.browser() as http:
                metadata = []
                for idp in IDP_IDS:
                    answer = await http.get(f"/api/v1/auth/saml/{idp}/metadata")
                    assert answer.status_code == 200, answer.text
                    metadata.append(answer.text)
            saml_idp.trust_all(metadata)
            other_idp.trust_all(metadata)
            yield parley
        finally:
            server.should_exit = True
            await task


@pytest_asyncio.fixture(loop_scope="session")
async def saml(saml_parley_session: SamlParley) -> SamlParley:
    await _empty_tables(saml_parley_session.app)
    return saml_parley_session
