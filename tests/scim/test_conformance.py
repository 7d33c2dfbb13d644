"""RFC 7643/7644 conformance, checked by scim2-tester (the python-scim project's checker) against a real Parley:
`parley serve` in a subprocess (embedded PostgreSQL, its own data directory) on a free port, its SCIM token
from the setting PARLEY_SCIM__TOKEN. Discovery, then create, read, query, replace, PATCH (add, replace,
remove) and delete of Users and Groups, with the attribute values the checker makes up."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult, Status, check_server

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
# Anything short of these is the server breaking a MUST of the RFCs.
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}


@pytest.fixture(scope="module")
def parley_scim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running Parley with SCIM on: (base URL, SCIM token)."""
    workdir = tmp_path_factory.mktemp("scim-parley")
    token = "scim-" + secrets.token_urlsafe(32)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    for key in ("DATABASE_URL", "REDIS_URL", "RABBITMQ_URL"):
        env.pop(key, None)
    env.update(
        PARLEY_SCIM__TOKEN=token,
        PARLEY_ADMIN_EMAIL="admin@example.com",
        PARLEY_ADMIN_PASSWORD="admin-password-scim",
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
        PARLEY_LOG_JSON="false",
        PARLEY_LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
    )
    log_path = workdir / "parley.log"
    command = [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(workdir / "data")]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"parley serve exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"parley serve did not become ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, token
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _describe(results: list[CheckResult]) -> str:
    return "\n".join(
        f"{result.status.name} {result.resource_type or ''} {result.title}: {result.reason}"
        for result in results
        if result.status not in PASSING
    )


class TestConformance:
    def test_scim2_tester_finds_no_violation(self, parley_scim: tuple[str, str]) -> None:
        url, token = parley_scim
        headers = {"Authorization": f"Bearer {token}"}
        # scim2-client speaks through httpx2 (its fork of httpx).
        with httpx2.Client(base_url=f"{url}/scim/v2", headers=headers, timeout=30) as http:
            results = check_server(SyncSCIMClient(http), raise_exceptions=False)
        # Every part ran: discovery, both resource types and each kind of operation.
        titles = {result.title for result in results}
        assert len(results) >= 20, [result.title for result in results]
        ran = {(result.resource_type, result.status) for result in results}
        assert ("User", Status.SUCCESS) in ran and ("Group", Status.SUCCESS) in ran, titles
        assert not _describe(results), _describe(results)

    def test_the_settings_token_is_the_only_way_in(self, parley_scim: tuple[str, str]) -> None:
        url, token = parley_scim
        assert httpx.get(f"{url}/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        login = httpx.post(
            f"{url}/api/v1/auth/login", json={"email": "admin@example.com", "password": "admin-password-scim"}
        )
        admin_token = login.json()["access_token"]
        refused = httpx.get(f"{url}/scim/v2/Users", headers={"Authorization": f"Bearer {admin_token}"})
        assert refused.status_code == 401 and refused.json()["schemas"] == [
            "urn:ietf:params:scim:api:messages:2.0:Error"
        ]
        status = httpx.get(f"{url}/api/v1/admin/scim", headers={"Authorization": f"Bearer {admin_token}"}).json()
        assert status["enabled"] is True and status["settings_token"] is True and status["last_call_at"] is not None
