"""Hand-over at the database: replicas sweeping at the same moment each take a different share of the answers
nobody is writing any more, never the same one twice, and never one that is still being written.

(The hand-over itself, with real processes killed and drained, is tests/replicas.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

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


FINAL = {"model": "echo", "prompt_tokens": 1, "completion_tokens": 1, "finish_reason": "stop"}


async def _whose(session, message_id: uuid.UUID) -> dict:
    """The owner and conversation of an answer, as `repository.finish_answer` is given them."""
    row = (
        await session.execute(
            select(Conversation.user_id, Conversation.id)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.id == message_id)
        )
    ).one()
    return {"owner": row[0], "conversation_id": row[1]}


class TestWriterTokens:
    async def test_a_claim_fences_off_the_writer_it_took_the_answer_from(self, app, client, session):
        """The replica that wrote the answer so far (alive, only slow) can no longer checkpoint, release or
        finish it once another has claimed it; the claimer can."""
        user_id = await create_user(app, email="owner@example.com")
        [message_id] = await _answers(session, user_id, 1, stale=False)
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(extra={"writer": "old"}, updated_at=func.now() - AGE)  # written by "old", not lately
        )
        await session.commit()
        database = app.state.database
        async with database.session() as claim:
            [(claimed, _, writer)] = await repository.claim_stale(claim, stale_after=STALE, keep=set(), at_most=9)
        assert claimed == message_id and writer not in ("old", None)

        async with database.session() as old:
            assert await repository.save_progress(
                old, [(message_id, "half, and the old writer's rest", "old", user_id)]
            ) == [message_id]
            assert not await repository.save_released(
                old, message_id, "released by the old writer", writer="old", owner=user_id
            )
            assert not await repository.finish_answer(
                old, message_id, content="old", extra={}, writer="old", **FINAL, **(await _whose(session, message_id))
            )
        async with database.session() as new:
            assert (
                await repository.save_progress(new, [(message_id, "half, and the new writer's rest", writer, user_id)])
                == []
            )
            assert await repository.finish_answer(
                new,
                message_id,
                content="half, and the new writer's rest",
                extra={},
                writer=writer,
                **FINAL,
                **(await _whose(session, message_id)),
            )
        stored = await repository.message_content(session, message_id)
        assert stored == "half, and the new writer's rest"

    async def test_only_the_current_writer_finishes_an_answer(self, app, client, session):
        user_id = await create_user(app, email="owner@example.com")
        [message_id] = await _answers(session, user_id, 1, stale=False)
        await session.execute(update(Message).where(Message.id == message_id).values(extra={"writer": "new"}))
        await session.commit()
        async with app.state.database.session() as old:
            assert not await repository.finish_answer(
                old, message_id, content="old", extra={}, writer="old", **FINAL, **(await _whose(session, message_id))
            )
        async with app.state.database.session() as new:
            assert await repository.finish_answer(
                new, message_id, content="new", extra={}, writer="new", **FINAL, **(await _whose(session, message_id))
            )
        await session.rollback()
        stored = await session.get(Message, message_id, populate_existing=True)
        assert (stored.content, stored.finish_reason) == ("new", "stop")
        assert "writer" not in stored.extra

    async def test_a_checkpoint_ending_after_its_own_writer_finished_the_answer_fences_nothing(
        self, app, client, session
    ):
        # A checkpoint that began while the answer was being written ends after its final save: the answer is
        # finished (its token gone), not taken over, so its run (maybe still writing the title) must not stop.
        user_id = await create_user(app, email="owner@example.com")
        [message_id] = await _answers(session, user_id, 1, stale=False)
        await session.execute(update(Message).where(Message.id == message_id).values(extra={"writer": "mine"}))
        await session.commit()
        async with app.state.database.session() as finishing:
            assert await repository.finish_answer(
                finishing,
                message_id,
                content="all of it",
                extra={},
                writer="mine",
                **FINAL,
                **(await _whose(session, message_id)),
            )
        async with app.state.database.session() as late:
            assert await repository.save_progress(late, [(message_id, "most of it", "mine", user_id)]) == []
        await session.rollback()
        stored = await session.get(Message, message_id, populate_existing=True)
        assert stored.content == "all of it"

    async def test_an_answer_that_cannot_be_continued_is_interrupted_without_its_writer_token(
        self, app, client, session
    ):
        user_id = await create_user(app, email="owner@example.com")
        [message_id] = await _answers(session, user_id, 1, stale=False)
        await session.execute(
            update(Message).where(Message.id == message_id).values(extra={"writer": "old", "kept": True})
        )
        await session.commit()
        async with app.state.database.session() as sweep:
            await repository.mark_interrupted_ids(sweep, [message_id])
        await session.rollback()
        stored = await session.get(Message, message_id, populate_existing=True)
        assert (stored.finish_reason, stored.extra) == ("interrupted", {"kept": True})
