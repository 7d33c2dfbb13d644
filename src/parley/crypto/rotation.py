"""`parley keys rotate`: every data key wrapped again under a new key-encryption key, while Parley runs.

1. The provider makes (or names) the new KEK: a new key in the key file, a new version of the Vault key, the KMS
   key given (or the configured one's newest material).
2. The registry makes it the active KEK and the previous one `retiring`, in one transaction that waits for data
   keys being created under the previous one (they hold a share lock on it), so from then on every replica
   wraps new data keys under the new KEK (it reads the active KEK from the database, not from its settings).
3. Every data key is unwrapped and wrapped again, in batches, each stored only if the row is unchanged (an
   erasure destroying it meanwhile wins). Replicas keep unwrapping both kinds: the key file is reread when a KEK
   id is unknown; KMS and Vault decrypt under old and new.
4. Once no data key is wrapped by a retiring KEK, it is `retired` and the provider forgets it where it can (the
   key file drops it). An interrupted rotation leaves old KEKs `retiring`; running it again finishes the job.

Data keys themselves do not change, so no sealed value is touched: a rotation costs one unwrap and one wrap per
user, not a pass over the data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import text

from parley.crypto import repository
from parley.crypto.keyring import Crypto

_logger = structlog.get_logger("parley.crypto.rotation")


class RotationBusy(Exception):
    """Another `parley keys rotate` is running against this database."""


@dataclass
class RotationReport:
    new_kek: str
    previous_kek: str | None
    rewrapped: int = 0
    retired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"active key-encryption key: {self.new_kek}" + (f" (was {self.previous_kek})" if self.previous_kek else ""),
            f"data keys wrapped again: {self.rewrapped}",
        ]
        lines += [f"retired: {kek_id}" for kek_id in self.retired]
        lines += self.notes
        return "\n".join(lines)


async def rotate(crypto: Crypto, *, target: str | None = None, batch_size: int = 200) -> RotationReport:
    """Re-wrap every data key under a new KEK (see the module's steps); RotationBusy when another runs."""
    engine = crypto.engine
    provider = crypto.provider
    async with engine.connect() as guard:
        # Held for the whole rotation on a connection of its own: one rotation at a time per database.
        locked = await guard.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": repository.ROTATION_LOCK})
        await guard.commit()
        if not locked:
            raise RotationBusy("another `parley keys rotate` is running against this database")
        try:
            new = await provider.new_kek(target)
            async with engine.begin() as connection:
                previous = await repository.switch_active(connection, new=new, provider=provider.name)
                started = await connection.scalar(text("SELECT clock_timestamp()"))
            _logger.info("kek_rotation_started", new_kek=new, previous_kek=previous)
            report = RotationReport(new_kek=new, previous_kek=previous)
            after: uuid.UUID | None = None
            while True:
                async with engine.connect() as connection:
                    batch = await repository.keys_to_rewrap(
                        connection, new=new, started_before=started, after=after, limit=batch_size
                    )
                if not batch:
                    break
                async with engine.begin() as connection:
                    for row in batch:
                        material = await provider.unwrap(row.kek_id, row.wrapped_key, context=row.id.bytes)
                        wrapped = await provider.wrap(new, material, context=row.id.bytes)
                        if await repository.replace_wrapping(connection, row, kek_id=new, wrapped=wrapped):
                            report.rewrapped += 1
                after = batch[-1].id
            async with engine.begin() as connection:
                for kek_id, _provider, state in await repository.keks(connection):
                    if state != "retiring":
                        continue
                    remaining = await repository.count_wrapped_by(connection, kek_id)
                    if remaining:
                        report.notes.append(f"{kek_id} still wraps {remaining} data key(s): run the rotation again")
                        continue
                    await repository.mark_retired(connection, kek_id)
                    report.retired.append(kek_id)
            for kek_id in report.retired:
                report.notes.append(await provider.retire(kek_id))
            _logger.info("kek_rotation_finished", new_kek=new, rewrapped=report.rewrapped, retired=report.retired)
            return report
        finally:
            await guard.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": repository.ROTATION_LOCK})
            await guard.commit()
