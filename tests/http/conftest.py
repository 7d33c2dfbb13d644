"""Parley served over real HTTP the way `parley serve` serves it (uvicorn with Parley's HTTP/1.1 protocol), for
what only a real connection shows: protocol upgrades, keep-alive after an error, bodies refused mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from parley.kit.http1 import Http1Protocol


@contextlib.asynccontextmanager
async def serve_http1(app: FastAPI) -> AsyncIterator[tuple[str, int]]:
    """Serve an (already started) app on a free loopback port with `Http1Protocol`; yields (host, port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=Http1Protocol, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        await task


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http1_server(app: FastAPI) -> AsyncIterator[tuple[str, int]]:
    async with serve_http1(app) as address:
        yield address
