"""Events: facts other systems may want to hear about (`quota.warning`, `quota.exceeded`, later `file.ready`,
`user.created`…), written into the transactional outbox in the caller's unit of work, so an event exists if and
only if the change it reports commits. Consumers (webhooks, email, the message queue) claim the outbox's `event`
jobs; no domain calls a consumer directly."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parley.jobs.outbox import enqueue
from parley.kit.clock import utcnow

# The outbox job kind every event is written as; its payload is the event's envelope.
EVENT_JOB_KIND = "event"


async def emit(session: AsyncSession, event_type: str, data: dict[str, Any]) -> uuid.UUID:
    """Write an event (`type`, `data`) into the outbox in the caller's transaction; its id."""
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": utcnow().isoformat(timespec="milliseconds"),
        "data": data,
    }
    await enqueue(session, EVENT_JOB_KIND, payload)
    return event_id
