"""DATABASE_URL's TLS mode (`sslmode=`, libpq's spelling, or `ssl=`) reaches both the start-up check and the app's
engine: managed databases (RDS with rds.force_ssl, Azure, Cloud SQL) are only reachable with TLS required.

Over TCP to the system PostgreSQL (`system_postgres`), which has TLS off (over a Unix socket libpq ignores the mode)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from parley.config import Settings
from parley.db import StartupError, create_engine, verify_database


def _url(base: str, query: str) -> str:
    url = Settings(database_url=f"{base}?{query}").database_url
    assert url is not None
    return url


class TestTlsMode:
    @pytest.mark.parametrize("spelling", ["sslmode", "ssl"])
    def test_either_spelling_is_kept_as_libpq_sslmode(self, spelling: str) -> None:
        url = _url("postgresql://parley@db.internal:5432/parley", f"{spelling}=verify-full")
        assert url == "postgresql+asyncpg://parley@db.internal:5432/parley?sslmode=verify-full"

    async def test_a_mode_the_server_can_serve_passes_the_check_and_connects(
        self, system_postgres: str, settings: Settings
    ) -> None:
        # `disable` reaches the server (which then lacks pgvector: the check's next step) and the engine opens:
        # before, the engine failed with "connect() got an unexpected keyword argument 'sslmode'".
        url = _url(system_postgres, "sslmode=disable")
        with pytest.raises(StartupError, match="lacks the vector"):
            await verify_database(url, connect_timeout=5)
        engine = create_engine(url, settings)
        try:
            async with engine.connect() as connection:
                tls = await connection.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
            assert tls is False
        finally:
            await engine.dispose()

    @pytest.mark.parametrize("spelling", ["sslmode", "ssl"])
    async def test_required_tls_is_never_silently_dropped(
        self, system_postgres: str, settings: Settings, spelling: str
    ) -> None:
        # The server has no TLS: `require` must fail, in the start-up check and in the engine.
        url = _url(system_postgres, f"{spelling}=require")
        with pytest.raises(StartupError, match="cannot reach PostgreSQL"):
            await verify_database(url, connect_timeout=5)
        engine = create_engine(url, settings)
        try:
            with pytest.raises(ConnectionError):
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()
