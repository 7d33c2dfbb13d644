"""The full-text arm on its own (vector arm switched off): words meet their other forms in the chunk's own
language, and rare words of a question outweigh words most chunks contain."""

from __future__ import annotations

from sqlalchemy import insert, select

from parley.config import RagSettings
from parley.models import FileChunk
from parley.retrieval import service
from parley.retrieval.service import RetrievalScope
from tests.factories import signed_in_user
from tests.knowledge_bases.arrange import add_chunks, create_file, unit_vector

KEYWORDS_ONLY = RagSettings(vector_weight=0.0)


async def _search(session, user_id, file_id, question: str, top_k: int = 3) -> list[str]:
    found = await service.search_by_vector(
        session,
        user_id=user_id,
        role="user",
        query=question,
        query_vector=unit_vector(1),
        scope=RetrievalScope(file_ids=[file_id]),
        top_k=top_k,
        settings=KEYWORDS_ONLY,
    )
    await session.commit()
    return [chunk.text for chunk in found]


class TestStemmingByLanguage:
    async def test_an_english_question_finds_other_forms_of_its_words(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        target = "Every employee is entitled to thirty vacation days, and unused days are carried over."
        await add_chunks(
            app,
            file_id,
            me.id,
            [
                (target, unit_vector(2)),
                ("The office is closed on public holidays and the building is locked at night.", unit_vector(3)),
            ],
        )
        # "vacations" and "carrying" are in the chunk only as "vacation" and "carried".
        assert await _search(session, me.id, file_id, "Are vacations carrying over?") == [target]

    async def test_a_german_question_finds_a_german_chunk_with_other_inflections(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        target = "Die Urlaubsanträge werden von der Personalabteilung innerhalb einer Woche bearbeitet."
        await add_chunks(
            app,
            file_id,
            me.id,
            [
                (target, unit_vector(2)),
                ("Das Büro ist an Feiertagen geschlossen und das Gebäude wird nachts abgeschlossen.", unit_vector(3)),
            ],
        )
        found = await _search(session, me.id, file_id, "Wer bearbeitet meinen Urlaubsantrag?")
        assert found == [target]

    async def test_a_chunk_is_indexed_in_its_language_however_it_is_written(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        texts = {
            "english": "The invoices are paid by the finance team within thirty days of receipt.",
            "german": "Die Rechnungen werden von der Buchhaltung innerhalb von dreißig Tagen bezahlt.",
            "spanish": "Las facturas se pagan por el equipo de finanzas en un plazo de treinta días.",
            "simple": "SKU-1142 | 19.99 | 2024-03-01 | 7",
        }
        # As ingestion writes them: one bulk insert of plain rows that say nothing about language.
        await session.execute(
            insert(FileChunk),
            [
                {"file_id": file_id, "user_id": me.id, "chunk_index": i, "text": body, "token_count": 10}
                for i, body in enumerate(texts.values())
            ],
        )
        rows = await session.execute(select(FileChunk.text, FileChunk.language).where(FileChunk.file_id == file_id))
        stored = {text: language for text, language in rows}
        await session.rollback()
        assert {stored[body]: language for language, body in texts.items()} == {
            "english": "english",
            "german": "german",
            "spanish": "spanish",
            "simple": "simple",
        }


class TestRareWordsWeighMore:
    async def test_a_rare_word_of_the_question_outweighs_a_word_every_chunk_repeats(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        target = "The pump housing is sealed with a gasket and should be checked yearly."
        filler = [
            f"Use the portal and use your badge; staff use room {n} as they use any other room." for n in range(20)
        ]
        await add_chunks(app, file_id, me.id, [(body, unit_vector(10 + n)) for n, body in enumerate([*filler, target])])
        found = await _search(session, me.id, file_id, "How do I use the pump?")
        assert found[0] == target, found

    async def test_a_question_of_only_common_words_still_ranks_by_how_many_it_holds(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        both = "Badge and portal access are requested from the service desk."
        await add_chunks(
            app,
            file_id,
            me.id,
            [
                *[(f"The portal is open to everyone, entry {n}.", unit_vector(30 + n)) for n in range(5)],
                *[(f"Your badge opens the doors, entry {n}.", unit_vector(40 + n)) for n in range(5)],
                (both, unit_vector(50)),
            ],
        )
        found = await _search(session, me.id, file_id, "badge portal")
        assert found[0] == both, found


def test_question_words_are_cut_per_language_and_stemmed_as_that_language():
    english = service.keyword_query("What is the warranty of the ZX-9000 pump?")
    assert english.words == ("warranty", "zx", "9000", "pump")
    assert english.configs == ("english", "simple")
    german = service.keyword_query("Wie viele Urlaubstage habe ich im Jahr?")
    assert german.words == ("urlaubstage", "jahr") and german.configs == ("german", "simple")
    # Too short to tell: every language's stemming is tried.
    assert set(service.keyword_query("ZX-9000 warranty").configs) >= {"english", "german", "spanish", "simple"}
    assert service.keyword_query("a & !b | (c) :* 'd'").words == ()


class TestOddQuestions:
    async def test_symbols_odd_letters_and_overlong_words_search_without_error(self, client, app, session):
        me = await signed_in_user(app, client)
        file_id = await create_file(app, me.id)
        target = "The ² footnote explains the Ⅷ section and the ǅ ligature."
        await add_chunks(app, file_id, me.id, [(target, unit_vector(2))])
        for question in [
            "ǅ Ⅷ ² ⁂ ‰",
            "x" * 5000,
            "\uff41\uff42\uff43 \uff11\uff12\uff13 \uff01\uff1f",
            "what & | ! : * ( ) ' \\ <-> <2>",
        ]:
            assert isinstance(await _search(session, me.id, file_id, question), list), question
        assert await _search(session, me.id, file_id, "footnote about the ligature") == [target]
