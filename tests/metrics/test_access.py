"""Who may read /metrics: loopback clients; anyone else only with the bearer token; or nobody on the main port
when an internal metrics port is set."""

from __future__ import annotations

import httpx
import pytest

from parley import __version__
from parley.app import create_app
from parley.config import MetricsSettings
from tests.conftest import running_app
from tests.factories import assert_problem
from tests.metrics.scrape import Scrape
from tests.servers import free_port

TOKEN = "metrics-token-" + "s" * 24


def _client(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://parley.test")


@pytest.fixture(scope="module")
def app_with_token(settings):
    # Only the route and its middleware are exercised: the app need not start its database and models.
    return create_app(settings.model_copy(update={"metrics": MetricsSettings(token=TOKEN)}))


class TestMainPort:
    async def test_loopback_clients_read_it_without_a_token(self, app):
        for address in ("127.0.0.1", "::1"):
            async with _client(app, address) as client:
                response = await client.get("/metrics")
            assert response.status_code == 200
            assert "parley_build_info" in response.text

    async def test_build_info_names_the_version_and_region(self, settings):
        # The alert rules and the dashboard group every metric by this region (deploy/prometheus/alerts.yaml).
        regional = create_app(settings.model_copy(update={"region": "eu-west-1"}))
        async with _client(regional, "127.0.0.1") as client:
            scrape = Scrape((await client.get("/metrics")).text)
        assert scrape.label_values("parley_build_info", "region") == {"eu-west-1"}
        assert scrape.label_values("parley_build_info", "version") == {__version__}
        assert scrape.value("parley_build_info") == 1
        # Without a region the label is empty (one region), and the earlier app's series is gone.
        create_app(settings.model_copy(update={"region": None}))
        async with _client(regional, "127.0.0.1") as client:
            scrape = Scrape((await client.get("/metrics")).text)
        assert scrape.label_values("parley_build_info", "region") == {""}

    async def test_other_clients_are_refused_when_no_token_is_configured(self, app):
        async with _client(app, "203.0.113.9") as client:
            problem = assert_problem(await client.get("/metrics"), 403)
        assert "PARLEY_METRICS__TOKEN" in problem["detail"]

    async def test_other_clients_need_the_bearer_token(self, app_with_token):
        async with _client(app_with_token, "203.0.113.9") as client:
            missing = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
            basic = await client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
            right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        for refused in (missing, wrong, basic):
            assert_problem(refused, 401)
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "parley_" not in refused.text
        assert right.status_code == 200 and "parley_http_request_duration_seconds" in right.text

    async def test_the_token_does_not_shut_out_loopback(self, app_with_token):
        async with _client(app_with_token, "127.0.0.1") as client:
            assert (await client.get("/metrics")).status_code == 200

    async def test_it_is_not_in_the_api_schema(self, client):
        document = (await client.get("/openapi.json")).json()
        assert "/metrics" not in document["paths"]


class TestInternalPort:
    async def test_with_a_metrics_port_it_is_served_there_and_not_on_the_main_port(self, settings):
        port = free_port()
        configured = settings.model_copy(update={"metrics": MetricsSettings(port=port, host="127.0.0.1")})
        async with running_app(configured) as app:
            async with _client(app, "127.0.0.1") as main:
                on_main = await main.get("/metrics")
                await main.get("/healthz")
            async with httpx.AsyncClient() as http:
                internal = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert "parley_http_request_duration_seconds" not in on_main.text
        assert internal.status_code == 200
        assert 'route="/healthz"' in internal.text
        # Stopped with the app.
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
