"""Fixtures for the provider tests: a fake upstream per test, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.llm.fake_upstream import FakeUpstream


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()
    assert not server.errors, f"the fake upstream's handler failed: {server.errors!r}"
