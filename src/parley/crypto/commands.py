"""`parley keys rotate`, `parley keys generate` and `parley keys seal-existing` (README, "Encryption at rest")."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from parley.config import Settings
from parley.crypto.factory import open_crypto
from parley.crypto.providers.local import generate_key_entry
from parley.crypto.rotation import RotationBusy, RotationReport, rotate
from parley.crypto.seal_existing import Sealed, seal_existing
from parley.crypto.settings import parse_keys
from parley.db import StartupError, create_engine, start_embedded_postgres, verify_database
from parley.migrations.runner import is_current


def run_generate(name: str | None) -> int:
    """Print a new `name=<base64 key>` entry for PARLEY_CRYPTO__KEYS (to stdout only: nothing is stored)."""
    name = name or f"k{datetime.now(UTC):%Y%m%d}"
    try:
        parse_keys(generate_key_entry(name))
    except ValueError as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    print(generate_key_entry(name))
    return 0


def run_rotate(settings: Settings, *, target: str | None) -> int:
    """Rotate the KEK of the install's database (DATABASE_URL, or the embedded one of the data dir); 0: done,
    1: not finished (rerun), 2: could not start."""
    embedded = None
    try:
        embedded = None if settings.database_url else start_embedded_postgres(settings.resolved_data_dir)
        url = settings.database_url or (embedded.url if embedded else "")
        report = asyncio.run(_rotate(settings, url, target))
    except (StartupError, RotationBusy, ValueError) as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if embedded is not None:
            embedded.stop()
    print(report.summary())
    unfinished = report.previous_kek is not None and report.previous_kek not in report.retired
    return 1 if unfinished else 0


async def _rotate(settings: Settings, url: str, target: str | None) -> RotationReport:
    await verify_database(url)
    engine = create_engine(url, settings)
    try:
        if not await is_current(engine):
            raise StartupError("the database is not at the newest migration: run `parley migrate` first")
        crypto = await open_crypto(settings, engine)
        try:
            return await rotate(crypto, target=target)
        finally:
            await crypto.aclose()
    finally:
        await engine.dispose()


def run_seal_existing(settings: Settings, *, batch: int = 500) -> int:
    """Seal the rows of the install's database written before encryption at rest (`seal_existing`), beside a
    running deployment; 0: done (prints how many of each), 2: could not start (or PARLEY_CRYPTO__SEAL_CONTENT
    is off)."""
    embedded = None
    try:
        embedded = None if settings.database_url else start_embedded_postgres(settings.resolved_data_dir)
        url = settings.database_url or (embedded.url if embedded else "")
        sealed = asyncio.run(_seal_existing(settings, url, batch))
    except (StartupError, ValueError) as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if embedded is not None:
            embedded.stop()
    print(f"sealed: {sealed}")
    return 0


async def _seal_existing(settings: Settings, url: str, batch: int) -> Sealed:
    await verify_database(url)
    engine = create_engine(url, settings)
    try:
        if not await is_current(engine):
            raise StartupError("the database is not at the newest migration: run `parley migrate` first")
        crypto = await open_crypto(settings, engine)
        try:
            return await seal_existing(engine, crypto, batch=batch)
        finally:
            await crypto.aclose()
    finally:
        await engine.dispose()
