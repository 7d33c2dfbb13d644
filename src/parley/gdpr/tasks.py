"""Background jobs of the GDPR domain, registered on the job worker at start-up."""

from __future__ import annotations

from collections.abc import Mapping

from parley.config import GdprSettings
from parley.db import Database
from parley.gdpr import exports, retention
from parley.jobs import JobWorker
from parley.policy.plans import Plan
from parley.storage import Storage

# The first retention sweep after a start: soon, but not in the middle of start-up.
FIRST_SWEEP_DELAY_SECONDS = 60.0


def register_jobs(
    worker: JobWorker, database: Database, storage: Storage, settings: GdprSettings, *, seeds: Mapping[str, Plan]
) -> None:
    builder = exports.ExportBuilder(database, storage, settings)
    worker.register(exports.BUILD_JOB, builder, on_give_up=builder.give_up)
    worker.register(exports.EXPIRE_JOB, exports.ExportExpiry(database, storage))
    worker.register(exports.DELETE_ZIP_JOB, exports.ExportZipDeletion(storage))
    sweep = retention.RetentionSweep(database, storage, settings, seeds=seeds)
    worker.register(retention.SWEEP_JOB, sweep, on_give_up=sweep.give_up)


async def schedule_retention(database: Database) -> None:
    """Make sure a retention sweep is pending (one across replicas); each sweep schedules the next."""
    async with database.session() as session:
        await retention.schedule_sweep(session, delay_seconds=FIRST_SWEEP_DELAY_SECONDS, running_too=True)
