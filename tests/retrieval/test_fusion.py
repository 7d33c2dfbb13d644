"""Reciprocal rank fusion: a chunk only the full-text arm finds and a chunk only the vector arm finds both reach
the top, above chunks that are merely near the question."""

from __future__ import annotations

from parley.config import RagSettings
from parley.retrieval import service
from parley.retrieval.service import RetrievalScope, keyword_query
from tests.factories import signed_in_user
from tests.knowledge_bases.arrange import add_chunks, create_file, near, unit_vector

QUERY = unit_vector(7)


class TestFusion:
    async def test_a_keyword_only_and_a_semantic_only_match_both_surface(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        distractors = [(f"general office prose number {n}", near(QUERY, 100 + n, 0.9)) for n in range(30)]
        keyword_only = ("the xylophone maintenance schedule is posted weekly", unit_vector(8))  # far from QUERY
        semantic_only = ("lorem ipsum dolor sit amet", QUERY)  # the question's own vector, none of its words
        ids = await add_chunks(app, file_id, me.id, [*distractors, keyword_only, semantic_only])
        keyword_id, semantic_id = ids[-2], ids[-1]

        found = await service.search_by_vector(
            session,
            user_id=me.id,
            role="user",
            query="When is the xylophone maintenance?",
            query_vector=QUERY,
            scope=RetrievalScope(file_ids=[file_id]),
            top_k=3,
            settings=RagSettings(candidates=5),
        )
        await session.commit()
        top = [c.chunk_id for c in found]
        assert set(top[:2]) == {keyword_id, semantic_id}, [c.text for c in found]
        assert len(top) == 3 and found[0].score >= found[1].score > found[2].score

    def test_the_keyword_query_ors_subject_words_and_cannot_inject_syntax(self):
        assert keyword_query("What is the warranty of the ZX-9000 pump?") == "warranty | zx | 9000 | pump"
        assert keyword_query("a & !b | (c) :* 'd'") == ""
        assert keyword_query("Éclair: prix & goût") == "éclair | prix | goût"
