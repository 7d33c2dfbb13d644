"""Multi-region (README, "Multi-region"): two deployments, `eu-west-1` and `us-east-1`, over one database (as
after a restore or a mistaken shared database) show what each records and whom each lets in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import select

from parley.auth.permissions import Role
from parley.config import S3Settings, Settings
from parley.db import Database
from parley.models import Conversation, File, KnowledgeBase, User
from parley.users import service as user_service
from tests.conftest import _empty_tables, reset_app, running_app
from tests.factories import PASSWORD, assert_problem, create_user, sign_in, signed_in_user

EU_URL = "https://eu.chat.example.com"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def eu_app(settings: Settings) -> AsyncIterator[FastAPI]:
    regional = settings.model_copy(update={"region": "eu-west-1", "regions": {"eu-west-1": EU_URL}})
    async with running_app(regional) as application:
        yield application


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def us_app(settings: Settings) -> AsyncIterator[FastAPI]:
    regional = settings.model_copy(update={"region": "us-east-1", "regions": {"eu-west-1": EU_URL}})
    async with running_app(regional) as application:
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def eu(eu_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await _empty_tables(eu_app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=eu_app), base_url="http://testserver") as http:
        yield http
    await reset_app(eu_app)


@pytest_asyncio.fixture(loop_scope="session")
async def us(us_app: FastAPI, eu: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=us_app), base_url="http://testserver") as http:
        yield http
    await reset_app(us_app)


async def _row(app: FastAPI, model: type, row_id: uuid.UUID | str):  # type: ignore[no-untyped-def]
    database: Database = app.state.database
    async with database.session() as session:
        return (await session.execute(select(model).where(model.id == uuid.UUID(str(row_id))))).scalar_one()


class TestHomeRegion:
    async def test_an_account_registered_in_a_region_has_it_as_home_region_and_admins_see_it(
        self, eu_app: FastAPI, eu: httpx.AsyncClient
    ):
        response = await eu.post(
            "/api/v1/auth/register", json={"email": "anna@example.com", "password": PASSWORD, "full_name": "Anna"}
        )
        assert response.status_code == 201, response.text
        admin = await signed_in_user(eu_app, eu, role=Role.ADMIN)
        listed = await eu.get("/api/v1/admin/users", params={"q": "anna@"}, headers=admin.headers)
        assert listed.status_code == 200, listed.text
        assert [(u["email"], u["home_region"]) for u in listed.json()["items"]] == [("anna@example.com", "eu-west-1")]

    async def test_accounts_an_identity_provider_creates_get_the_region_too(self, eu_app: FastAPI):
        # SCIM provisioning, and the first OIDC/SAML sign-in (create_external_user), write through a session of
        # the deployment like every other path.
        database: Database = eu_app.state.database
        async with database.session() as session:
            scim = await user_service.provision(
                session, email=f"scim-{uuid.uuid4().hex[:6]}@example.com", full_name=None, external_id="x1"
            )
            sso = await user_service.create_external_user(
                session, email=f"sso-{uuid.uuid4().hex[:6]}@example.com", full_name="S"
            )
        assert (scim.home_region, sso.home_region) == ("eu-west-1", "eu-west-1")

    async def test_an_account_provisioned_over_scim_gets_the_region(self, eu_app: FastAPI, eu: httpx.AsyncClient):
        admin = await signed_in_user(eu_app, eu, role=Role.ADMIN)
        token = (await eu.post("/api/v1/admin/scim/token", headers=admin.headers)).json()["token"]
        created = await eu.post(
            "/scim/v2/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "provisioned@example.com",
                "active": True,
            },
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        assert created.status_code == 201, created.text
        assert (await _user(eu_app, "provisioned@example.com")).home_region == "eu-west-1"

    async def test_a_user_of_another_region_is_refused_sign_in_with_the_address_of_their_region(
        self, eu_app: FastAPI, us_app: FastAPI, eu: httpx.AsyncClient, us: httpx.AsyncClient
    ):
        await create_user(eu_app, email="eva@example.com")
        await create_user(us_app, email="sam@example.com")
        assert (await _user(eu_app, "eva@example.com")).home_region == "eu-west-1"

        refused = await us.post("/api/v1/auth/login", json={"email": "eva@example.com", "password": PASSWORD})
        body = assert_problem(refused, 403)
        assert body["type"].endswith("/wrong_region")
        assert body["home_region"] == "eu-west-1"
        assert body["home_region_url"] == EU_URL
        assert EU_URL in body["detail"]
        # No deployment lists a URL for us-east-1: the region is named, the URL is null.
        refused = await eu.post("/api/v1/auth/login", json={"email": "sam@example.com", "password": PASSWORD})
        body = assert_problem(refused, 403)
        assert (body["home_region"], body["home_region_url"]) == ("us-east-1", None)
        # Each signs in at home.
        await sign_in(eu, "eva@example.com")
        await sign_in(us, "sam@example.com")

    async def test_a_session_started_at_home_cannot_be_refreshed_in_another_region(
        self, eu_app: FastAPI, eu: httpx.AsyncClient, us: httpx.AsyncClient
    ):
        user = await signed_in_user(eu_app, eu)
        refused = await us.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        assert assert_problem(refused, 403)["type"].endswith("/wrong_region")
        again = await eu.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        assert again.status_code == 200, again.text

    async def test_a_single_region_deployment_records_no_region_and_lets_every_account_in(
        self, app: FastAPI, client: httpx.AsyncClient, us_app: FastAPI
    ):
        await create_user(us_app, email="pinned@example.com")
        local = await signed_in_user(app, client)
        assert (await _row(app, User, local.id)).home_region is None
        await sign_in(client, "pinned@example.com")


async def _user(app: FastAPI, email: str) -> User:
    database: Database = app.state.database
    async with database.session() as session:
        return (await session.execute(select(User).where(User.email == email))).scalar_one()


class TestDataRecordsItsRegion:
    async def test_conversations_files_and_knowledge_bases_record_where_they_were_stored(
        self, eu_app: FastAPI, eu: httpx.AsyncClient
    ):
        user = await signed_in_user(eu_app, eu)
        conversation = await eu.post("/api/v1/conversations", json={"title": "Plans"}, headers=user.headers)
        assert conversation.status_code == 201, conversation.text
        knowledge_base = await eu.post("/api/v1/knowledge-bases", json={"name": "Policies"}, headers=user.headers)
        assert knowledge_base.status_code == 201, knowledge_base.text
        upload = await eu.post(
            "/api/v1/chat/upload",
            files={"file": ("notes.txt", b"Region test notes.", "text/plain")},
            data={"knowledge_base_id": knowledge_base.json()["id"]},
            headers=user.headers,
        )
        assert upload.status_code == 201, upload.text

        assert (await _row(eu_app, Conversation, conversation.json()["id"])).region == "eu-west-1"
        assert (await _row(eu_app, KnowledgeBase, knowledge_base.json()["id"])).region == "eu-west-1"
        assert (await _row(eu_app, File, upload.json()["id"])).region == "eu-west-1"


class TestRegionSettings:
    def test_each_region_stores_uploads_in_its_own_bucket_with_its_own_key(self):
        s3 = S3Settings(
            buckets={"eu-west-1": "parley-eu", "us-east-1": "parley-us"},
            kms_key_ids={"eu-west-1": "alias/parley-eu"},
            kms_key_id="alias/parley-default",
        )
        eu = Settings(region="eu-west-1", s3=s3).s3.for_region("eu-west-1")
        us = Settings(region="us-east-1", s3=s3).s3.for_region("us-east-1")
        assert (eu.bucket, eu.kms_key_id) == ("parley-eu", "alias/parley-eu")
        assert (us.bucket, us.kms_key_id) == ("parley-us", "alias/parley-default")

    def test_a_bucket_map_without_this_region_is_refused_at_start(self):
        with pytest.raises(ValidationError, match="no bucket for this deployment's region"):
            Settings(region="ap-south-1", s3=S3Settings(buckets={"eu-west-1": "parley-eu"}))
        with pytest.raises(ValidationError, match="PARLEY_REGION unset"):
            Settings(s3=S3Settings(buckets={"eu-west-1": "parley-eu"}))
        # A default bucket covers regions the map leaves out.
        fallback = Settings(region="ap-south-1", s3=S3Settings(bucket="parley", buckets={"eu-west-1": "parley-eu"}))
        assert fallback.s3.for_region("ap-south-1").bucket == "parley"

    def test_a_region_name_is_checked(self):
        with pytest.raises(ValidationError):
            Settings(region="EU West 1")

    def test_the_region_is_read_from_the_environment(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("PARLEY_REGION", "eu-west-1")
        monkeypatch.setenv("PARLEY_REGIONS", '{"eu-west-1": "https://eu.example.com"}')
        monkeypatch.setenv("PARLEY_S3__BUCKETS", '{"eu-west-1": "parley-eu"}')
        read = Settings()
        assert (read.region, read.regions, read.s3.buckets) == (
            "eu-west-1",
            {"eu-west-1": "https://eu.example.com"},
            {"eu-west-1": "parley-eu"},
        )


class TestTraces:
    def test_spans_carry_the_deployments_region_as_cloud_region(self):
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from parley.config import TracingSettings
        from parley.tracing.setup import Tracing

        exporter = InMemorySpanExporter()
        tracing = Tracing.start(
            TracingSettings(), version="test", environment="test", region="eu-west-1", exporter=exporter
        )
        try:
            with tracing.provider.get_tracer("test").start_as_current_span("work"):
                pass
        finally:
            tracing.shutdown()
        (span,) = exporter.get_finished_spans()
        assert span.resource.attributes["cloud.region"] == "eu-west-1"
