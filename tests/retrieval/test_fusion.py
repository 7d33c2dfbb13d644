"""Weighted reciprocal rank fusion: the keyword arm lifts a chunk that holds the question's words (even one the
vector arm did not return at all), but a chunk that shares a stray word with the question does not push the
vector arm's best answer down."""

from __future__ import annotations

import itertools

from parley.config import RagSettings
from parley.retrieval import service
from parley.retrieval.service import RetrievalScope
from tests.factories import signed_in_user
from tests.knowledge_bases.arrange import add_chunks, create_file, near, unit_vector

QUERY = unit_vector(7)


async def _search(session, user_id, file_id, question: str, top_k: int = 3) -> list[str]:
    found = await service.search_by_vector(
        session,
        user_id=user_id,
        role="user",
        query=question,
        query_vector=QUERY,
        scope=RetrievalScope(file_ids=[file_id]),
        top_k=top_k,
        settings=RagSettings(),
    )
    await session.commit()
    assert all(a.score >= b.score for a, b in itertools.pairwise(found))
    return [chunk.text for chunk in found]


class TestFusion:
    async def test_a_chunk_holding_the_question_words_is_lifted_above_nearer_vectors(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        nearer = [(f"general office prose number {n}", near(QUERY, 100 + n, 0.3 + 0.05 * n)) for n in range(5)]
        target = ("the xylophone maintenance schedule is posted weekly", near(QUERY, 200, 0.6))
        await add_chunks(app, file_id, me.id, [*nearer, target])

        found = await _search(session, me.id, file_id, "When is the xylophone maintenance?")
        assert found[0] == target[0], found

    async def test_a_stray_common_word_does_not_displace_the_best_semantic_match(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        # The answer says it in other words: the vectors find it, the keywords cannot.
        answer = ("To recover your sign-in credentials, open the self-service page.", QUERY)
        # Shares one word with the question ("portal") and is the vectors' second choice.
        stray = ("The portal shows this week's canteen menu.", near(QUERY, 300, 0.5))
        others = [(f"general office prose number {n}", near(QUERY, 400 + n, 0.9)) for n in range(10)]
        await add_chunks(app, file_id, me.id, [answer, stray, *others])

        found = await _search(session, me.id, file_id, "How do I reset a forgotten password on the portal?")
        assert found[:2] == [answer[0], stray[0]], found

    async def test_an_exact_code_the_vectors_miss_entirely_still_reaches_the_answer(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        settings = RagSettings()
        # More chunks near the question than the vector arm takes: the code's chunk is not among them.
        nearer = [
            (f"general office prose number {n}", near(QUERY, 500 + n, 0.5)) for n in range(settings.candidates + 5)
        ]
        code = (
            "Error E4711 means that the pump has lost its pressure: close valve 3 and wait for the gauge before you"
            " restart it.",
            unit_vector(8),
        )
        await add_chunks(app, file_id, me.id, [*nearer, code])

        found = await _search(session, me.id, file_id, "What does error E4711 mean?", top_k=settings.top_k)
        assert code[0] in found, found
