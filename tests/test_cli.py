"""The command line as an operator uses it: serve, migrate, create-admin, and clear start-up failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD

PARLEY = [sys.executable, "-m", "parley"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.update(
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
    )
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestStartupFailures:
    def test_unreachable_database_fails_with_one_clear_line(self, tmp_path):
        result = subprocess.run(
            [*PARLEY, "migrate", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=f"postgresql+asyncpg://nobody@127.0.0.1:{_free_port()}/parley"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("parley: error: cannot reach PostgreSQL at 127.0.0.1")
        assert "DATABASE_URL" in lines[0]

    def test_server_without_pgvector_is_refused_with_one_clear_line(self, tmp_path):
        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        except OSError:
            if os.environ.get("PARLEY_REQUIRE_SERVICES"):
                pytest.fail("the system PostgreSQL on 127.0.0.1:5432 is required in CI and is not running")
            pytest.skip("no PostgreSQL without pgvector on 127.0.0.1:5432 to test against")
        result = subprocess.run(
            [*PARLEY, "migrate", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "lacks the vector extension" in lines[0]

    def test_several_workers_without_redis_are_refused(self, tmp_path):
        result = subprocess.run(
            [*PARLEY, "serve", "--workers", "2", "--data-dir", str(tmp_path)],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "parley: error: --workers above 1 needs REDIS_URL" in result.stderr

    def test_non_postgres_url_is_refused(self, tmp_path):
        result = subprocess.run(
            [*PARLEY, "migrate", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL="mysql://root@127.0.0.1/test"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "DATABASE_URL must be a PostgreSQL URL" in result.stderr
        assert "Traceback" not in result.stderr


class TestCreateAdmin:
    def test_password_from_stdin_then_sign_in(self, tmp_path, database_url, client, app):
        result = subprocess.run(
            [*PARLEY, "create-admin", "--email", "Ops@Example.com", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=database_url),
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "Created admin ops@example.com" in result.stdout
        assert PASSWORD not in result.stdout + result.stderr

    def test_generated_password_is_printed_once_and_works(self, tmp_path, database_url, client, app):
        result = subprocess.run(
            [*PARLEY, "create-admin", "--email", "gen@example.com", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=database_url),
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        generated = result.stdout.split("Generated password (shown once): ")[1].strip()
        assert len(generated) >= 16

    def test_duplicate_admin_email_is_a_clear_error(self, tmp_path, database_url, client, app):
        args = [*PARLEY, "create-admin", "--email", "twice@example.com", "--data-dir", str(tmp_path)]
        first = subprocess.run(args, env=_env(DATABASE_URL=database_url), input="", capture_output=True, text=True)
        second = subprocess.run(args, env=_env(DATABASE_URL=database_url), input="", capture_output=True, text=True)
        assert first.returncode == 0 and second.returncode == 1
        assert second.stderr.strip() == "parley: error: an account with this email already exists"


class TestServe:
    def test_serve_with_embedded_postgres_from_an_empty_data_dir(self, tmp_path: Path):
        """What `make run` does on a fresh machine: own PostgreSQL, migrate, first admin, serve, stop cleanly."""
        port = _free_port()
        process = subprocess.Popen(
            [*PARLEY, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            env=_env(PARLEY_ADMIN_EMAIL="boss@acme.test"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            else:
                pytest.fail("parley serve did not become ready")
            assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
            assert (tmp_path / "data" / "jwt-secret").stat().st_mode & 0o777 == 0o600
            login = httpx.post(
                f"{base}/api/v1/auth/login", json={"email": "boss@acme.test", "password": "definitely wrong"}
            )
            assert login.status_code == 401
            assert login.headers["content-type"].startswith("application/problem+json")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        generated = stderr.split("password: ")[1].split()[0]
        assert stderr.count(generated) == 1  # shown once, never logged
        log_lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        requests = [line for line in log_lines if line.get("event") == "request"]
        assert requests and all(line.get("request_id") for line in requests)
        # The start-up line tells the truth: `parley serve` started the embedded PostgreSQL (and passed its URL in).
        started = next(line for line in log_lines if line.get("event") == "parley_started")
        assert started["embedded_database"] is True
        assert "definitely wrong" not in stderr
        # The embedded server was stopped with Parley.
        assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
