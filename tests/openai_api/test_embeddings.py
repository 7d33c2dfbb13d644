"""POST /v1/embeddings with the official OpenAI Python SDK, unchanged, and a Parley API key."""

from __future__ import annotations

import httpx
import numpy as np
import openai
import pytest
from sqlalchemy import select

from parley.models import UsageLog
from tests.factories import signed_in_user


async def _sdk(client, app, live_url, **key_body):
    me = await signed_in_user(app, client)
    created = await client.post("/api/v1/users/me/api-keys", json={"name": "sdk", **key_body}, headers=me.headers)
    key = created.json()["key"]
    return me, key, openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, max_retries=0)


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
            ({"input": [[1, 2, 3]]}, "input"),
            ({"input": [101, 102]}, "input"),
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
            await sdk.embeddings.create(model="text-embedding-ada-002", input="x")
        assert "text-embedding-ada-002" in caught.value.body["message"]

    async def test_bad_key_is_an_authentication_error(self, live_url):
        sdk = openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key="pk-000000000000_" + "x" * 40, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await sdk.embeddings.create(model="default", input="x")

    async def test_key_without_chat_scope_is_refused(self, client, app, live_url, session):
        me, _, sdk = await _sdk(client, app, live_url, scopes=["conversations:read"])
        with pytest.raises(openai.PermissionDeniedError):
            await sdk.embeddings.create(model="default", input="x")
        assert await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id)) is None
