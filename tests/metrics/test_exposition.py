"""The exposition itself: every metric of the contract is there with its type, and promtool accepts it."""

from __future__ import annotations

import os
import shutil

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import signed_in_user
from tests.metrics.scrape import scrape

# The contract with the alert rules, the dashboard and the autoscaler (README, "Metrics").
CONTRACT = {
    "parley_build_info": "gauge",
    "parley_http_request_duration_seconds": "histogram",
    "parley_http_requests_in_progress": "gauge",
    "parley_chat_time_to_first_token_seconds": "histogram",
    "parley_chat_inter_token_seconds": "histogram",
    "parley_chat_answers": "counter",
    "parley_chat_handovers": "counter",
    "parley_tokens": "counter",
    "parley_cost_usd": "counter",
    "parley_errors": "counter",
    "parley_provider_requests": "counter",
    "parley_provider_retries": "counter",
    "parley_provider_fallbacks": "counter",
    "parley_provider_circuit_open": "gauge",
    "parley_active_streams": "gauge",
    "parley_jobs_queued": "gauge",
    "parley_jobs_oldest_age_seconds": "gauge",
    "parley_db_pool_connections": "gauge",
    "parley_db_pool_size": "gauge",
    "parley_limit_refusals": "counter",
    "parley_quota_exhausted": "counter",
    "parley_ingestion_bytes": "counter",
    "parley_ingestion_documents": "counter",
    "parley_ingestion_duration_seconds": "histogram",
    "parley_sign_in_failures": "counter",
    "parley_security_events": "counter",
}


class TestExposition:
    async def test_every_metric_of_the_contract_is_exposed_with_its_type(self, client):
        text = (await scrape(client)).text
        families = {family.name: family.type for family in text_string_to_metric_families(text)}
        assert {name: families.get(name) for name in CONTRACT} == CONTRACT

    async def test_promtool_accepts_the_exposition(self, client, app):
        promtool = shutil.which("promtool")
        if promtool is None:
            if os.environ.get("PARLEY_REQUIRE_SERVICES"):
                pytest.fail("promtool is missing (Debian's prometheus package: make install)")
            pytest.skip("promtool is not installed (Debian's prometheus package; make install adds it)")
        me = await signed_in_user(app, client)
        await client.post("/api/v1/chat", json={"message": "fill the histograms", "stream": False}, headers=me.headers)
        text = (await scrape(client)).text
        result = await anyio.run_process([promtool, "check", "metrics"], input=text.encode(), check=False)
        assert result.returncode == 0, (result.stdout + result.stderr).decode()
