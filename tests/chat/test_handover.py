"""Hand-over at the database: replicas sweeping at the same moment each take a different share of the answers
nobody is writing any more, never the same one twice, and never one that is still being written.

(The hand-over itself, with real processes killed and drained, is tests/replicas.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from parley.chat import repository
from parley.models import Conversation, Message
from tests.factories import create_user

# Older than the claims' stale window, yet younger than the one of the test apps' own sweeps (30 s), which would
# otherwise mark them interrupted in the middle of the test.
STALE = timedelta(seconds=5)
AGE = timedelta(seconds=10)


async def _answers(session, user_id: uuid.UUID, count: int, *, stale: bool) -> list[uuid.UUID]:
    ids = []
    for _ in range(count):
        conversation = Conversation(user_id=user_id, title="t")
        session.add(conversation)
        await session.flush()
        answer = Message(conversation_id=conversation.id, role="assistant", content="half", extra={})
        session.add(answer)
        await session.flush()
        ids.append(answer.id)
    await session.commit()
    if stale:
        await session.execute(update(Message).where(Message.id.in_(ids)).values(updated_at=Message.updated_at - AGE))
        await session.commit()
    return ids


class TestClaimingStaleAnswers:
    async def test_replicas_sweeping_at_once_take_each_answer_exactly_once(self, app, client, session):
        user_id = await create_user(app, email="owner@example.com")
        stale = await _answers(session, user_id, 24, stale=True)
        live = await _answers(session, user_id, 3, stale=False)
        database = app.state.database
        start = asyncio.Event()

        async def replica() -> list[uuid.UUID]:
            taken: list[uuid.UUID] = []
            await start.wait()
            while True:
                async with database.session() as claim:
                    batch = await repository.claim_stale(claim, stale_after=STALE, keep=set(), at_most=5)
                if not batch:
                    return taken
                taken.extend(message_id for message_id, _, _ in batch)

        sweeps = [asyncio.create_task(replica()) for _ in range(4)]
        start.set()
        taken = await asyncio.gather(*sweeps)

        every = [message_id for share in taken for message_id in share]
        assert sorted(every) == sorted(stale)  # all of them, none twice
        assert not set(every) & set(live)  # an answer checkpointed just now is being written: left alone
        # Claimed answers are fresh again (their new writer's), so the next sweep leaves them be.
        async with database.session() as again:
            assert await repository.claim_stale(again, stale_after=STALE, keep=set(), at_most=100) == []
        rows = (await session.execute(select(Message.finish_reason).where(Message.id.in_(stale)))).scalars().all()
        assert set(rows) == {None}  # taken over, not interrupted

    async def test_an_answer_this_replica_writes_is_never_claimed_by_it(self, app, client, session):
        user_id = await create_user(app, email="owner@example.com")
        stale = await _answers(session, user_id, 2, stale=True)
        async with app.state.database.session() as claim:
            batch = await repository.claim_stale(claim, stale_after=STALE, keep={stale[0]}, at_most=100)
        assert [message_id for message_id, _, _ in batch] == [stale[1]]
