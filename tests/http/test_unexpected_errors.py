"""An unexpected error is answered with a 500 problem, logged once, and leaves the connection usable; what is
logged never holds the SQL statement's parameters (user text, tokens, password hashes)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from parley.errors import install_error_handlers
from parley.kit.asgi import RequestContextMiddleware
from tests.http.conftest import serve_http1
from tests.http.raw import RawConnection

SECRET = "hunter2-secret-value"


def broken_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    return app


class TestAfterA500:
    async def test_the_next_request_on_the_same_connection_is_served(self, caplog):
        caplog.set_level(logging.ERROR)
        async with serve_http1(broken_app()) as address:
            connection = await RawConnection.open(address)
            try:
                await connection.send(b"GET /boom HTTP/1.1\r\nHost: parley.test\r\n\r\n")
                failed = await connection.response()
                await connection.send(b"GET /fine HTTP/1.1\r\nHost: parley.test\r\n\r\n")
                served = await connection.response()
            finally:
                await connection.close()

        assert failed.status == 500
        assert failed.headers["content-type"].startswith("application/problem+json")
        assert served.status == 200 and served.json() == {"ok": True}

    async def test_the_error_is_logged_once(self, caplog, capsys):
        caplog.set_level(logging.ERROR)
        async with serve_http1(broken_app()) as address:
            connection = await RawConnection.open(address)
            try:
                await connection.send(b"GET /boom HTTP/1.1\r\nHost: parley.test\r\n\r\n")
                assert (await connection.response()).status == 500
            finally:
                await connection.close()

        # The server's own "Exception in ASGI application" line would be the second copy of the traceback.
        server_lines = [record for record in caplog.records if record.name.startswith("uvicorn")]
        assert server_lines == []
        logged = capsys.readouterr().out + caplog.text
        assert logged.count("unhandled_error") == 1


class TestSqlParametersAreNotLogged:
    async def test_a_failed_statement_does_not_show_its_parameters(self, app, client):
        """What an error log line would print of a failed statement (`str(exc)`) names no bound value."""
        with pytest.raises(DBAPIError) as failure:
            async with app.state.database.engine.connect() as connection:
                await connection.execute(text("SELECT * FROM no_such_table WHERE name = :name"), {"name": SECRET})
        assert "no_such_table" in str(failure.value)
        assert SECRET not in str(failure.value)
