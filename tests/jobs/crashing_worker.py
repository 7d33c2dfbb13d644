"""A job worker in its own process, for the crash test: it claims a job of KIND, says so on stdout, and then
hangs in the handler until the test kills it with SIGKILL (no clean-up can run)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from parley.config import JobSettings
from parley.db import Database
from parley.jobs import JobWorker


async def main(url: str, kind: str) -> None:
    database = Database(create_async_engine(url))
    worker = JobWorker(database, JobSettings(workers=1, poll_interval_seconds=0.2, lease_seconds=5))

    async def hang(payload: dict[str, Any]) -> None:
        print("claimed", payload["n"], flush=True)
        await asyncio.Event().wait()

    worker.register(kind, hang)
    await worker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
