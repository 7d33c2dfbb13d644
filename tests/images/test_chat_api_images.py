"""Images on the /v1 surfaces (README, "Images"): `image_url` parts on /v1/chat/completions and `image` blocks on
/v1/messages reach a vision model byte for byte (the scripted model describes each image it receives: type, size
and the start of its SHA-256), count as prompt tokens, and every refusal is a 400 naming the part."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from parley.config import ImageSettings, Settings
from tests.conftest import running_app
from tests.factories import signed_in_user
from tests.images.samples import PICTURE, described, image_server, png

MODELS_YAML = """
default: eyes
models:
  - name: eyes
    provider: scripted
    reply: echo
    capabilities: {vision: true}
  - name: blind
    provider: scripted
    reply: echo
  - name: eyes-prompt
    provider: scripted
    reply: prompt
    capabilities: {vision: true}
  - name: flaky-eyes
    provider: scripted
    fail: "status:500"
    max_retries: 0
    capabilities: {vision: true}
    fallbacks: [blind, eyes]
"""
PICTURE_URL = f"data:image/png;base64,{base64.b64encode(PICTURE).decode()}"
SEEN = described(PICTURE, "image/png", 3, 2)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pictures() -> AsyncIterator[str]:
    async with image_server() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def vision_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """Vision and text-only models; image URLs on 127.0.0.1 may be fetched (the test image server's address)."""
    models_file = tmp_path_factory.mktemp("vision-models") / "models.yaml"
    models_file.write_text(MODELS_YAML)
    images = ImageSettings(allowed_private_hosts=["127.0.0.1"], max_bytes=200_000)
    async with running_app(settings.model_copy(update={"models_file": models_file, "images": images})) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def api(vision_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with a fresh user's API key."""
    transport = httpx.ASGITransport(app=vision_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        me = await signed_in_user(vision_app, http)
        created = await http.post("/api/v1/users/me/api-keys", json={"name": "images"}, headers=me.headers)
        key = created.json()["key"]
        http.headers.update({"Authorization": f"Bearer {key}", "x-api-key": key})
        yield http


def ask(*parts: dict[str, Any], model: str = "eyes") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, *parts]}]}


def image_part(url: str, **extra: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def refused(response: httpx.Response, param: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    return str(error["message"])


class TestChatCompletions:
    async def test_a_data_url_image_reaches_the_model_unchanged_and_counts(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/v1/chat/completions", json=ask(image_part(PICTURE_URL)))
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == f"{SEEN} what?"
        # 255 tokens for the image (OpenAI's tile formula) beside the text's few.
        assert answer.json()["usage"]["prompt_tokens"] > 255

    async def test_an_http_image_is_fetched_and_streamed_answers_see_it(
        self, api: httpx.AsyncClient, pictures: str
    ) -> None:
        body = {**ask(image_part(f"{pictures}/picture.png"), image_part(PICTURE_URL, detail="low")), "stream": True}
        async with api.stream("POST", "/v1/chat/completions", json=body) as streamed:
            assert streamed.status_code == 200
            lines = [line async for line in streamed.aiter_lines() if line.startswith("data: {")]
        chunks = [json.loads(line.removeprefix("data: ")) for line in lines]
        text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
        assert text == f"{SEEN} {SEEN} what?"

    async def test_the_original_detail_of_openais_sdks_is_taken_and_counted_as_high(
        self, api: httpx.AsyncClient
    ) -> None:
        # OpenAI's SDKs offer `detail: "original"` (Python 2.x, Node 6): it was refused as an invalid `content`.
        tokens = {}
        for detail in ("high", "original"):
            answer = await api.post("/v1/chat/completions", json=ask(image_part(PICTURE_URL, detail=detail)))
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == f"{SEEN} what?"
            tokens[detail] = answer.json()["usage"]["prompt_tokens"]
            image = {"type": "input_image", "image_url": PICTURE_URL, "detail": detail}
            response = await api.post("/v1/responses", json=TestResponses.ask(image))
            assert response.status_code == 200, response.text
        assert tokens["original"] == tokens["high"] > 255

    async def test_a_text_only_model_is_a_400_naming_messages(self, api: httpx.AsyncClient) -> None:
        message = refused(
            await api.post("/v1/chat/completions", json=ask(image_part(PICTURE_URL), model="blind")), "messages"
        )
        assert "does not support vision" in message

    async def test_fallbacks_go_to_vision_models_only(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/v1/chat/completions", json=ask(image_part(PICTURE_URL), model="flaky-eyes"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "eyes"
        assert answer.json()["choices"][0]["message"]["content"] == f"{SEEN} what?"

    async def test_auto_picks_a_vision_model(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/v1/chat/completions", json=ask(image_part(PICTURE_URL), model="auto"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "eyes"

    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("data:image/png;base64,AAAA", "not a PNG, JPEG, WebP or GIF"),
            ("data:text/plain;base64,aGk=", "images must be one of"),
            ("http://localhost:1/x.png", "not a public address"),
            ("http://169.254.169.254/latest/meta-data/", "not a public address"),
            ("gopher://example.com/", "data: URL"),
        ],
    )
    async def test_bad_images_are_a_400_naming_the_part(self, api: httpx.AsyncClient, url: str, says: str) -> None:
        assert says in refused(
            await api.post("/v1/chat/completions", json=ask(image_part(url))), "messages.0.content.1"
        )

    async def test_fetch_failures_are_a_400_naming_the_part(self, api: httpx.AsyncClient, pictures: str) -> None:
        for path, says in (("/text", "content type is 'text/plain'"), ("/huge", "larger than 200000 bytes")):
            response = await api.post("/v1/chat/completions", json=ask(image_part(f"{pictures}{path}")))
            assert says in refused(response, "messages.0.content.1")

    async def test_too_many_images_are_refused_before_any_is_read(self, api: httpx.AsyncClient) -> None:
        body = ask(*[image_part("http://127.0.0.2/x.png")] * 21)  # images.max_per_request is 20
        assert "at most 20 images" in refused(await api.post("/v1/chat/completions", json=body), "messages")

    async def test_a_mistake_inside_a_part_is_named_where_it_is(self, api: httpx.AsyncClient) -> None:
        # The content was said not to be a string (pydantic's first try of `str | list[part]`), naming `content`.
        for part, param, says in (
            (image_part(PICTURE_URL, detail="ultra"), "messages.0.content.1.image_url.detail", "'original'"),
            ({"type": "image_url", "image_url": PICTURE_URL}, "messages.0.content.1.image_url", "dictionary"),
            ({"type": "image_url", "image_url": {}}, "messages.0.content.1.image_url.url", "Field required"),
        ):
            message = refused(await api.post("/v1/chat/completions", json=ask(part)), param)
            assert message.startswith(f"{param}: ") and says in message

    async def test_images_belong_in_user_messages(self, api: httpx.AsyncClient) -> None:
        body = {
            "model": "eyes",
            "messages": [
                {"role": "system", "content": [image_part(PICTURE_URL)]},
                {"role": "user", "content": "hi"},
            ],
        }
        assert "user messages only" in refused(
            await api.post("/v1/chat/completions", json=body), "messages.0.content.0"
        )


class TestAnthropicMessages:
    @staticmethod
    def ask(source: dict[str, Any], model: str = "eyes") -> dict[str, Any]:
        block = {"type": "image", "source": source}
        return {
            "model": model,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": [block, {"type": "text", "text": "what?"}]}],
        }

    async def test_base64_and_url_sources_reach_the_model(self, api: httpx.AsyncClient, pictures: str) -> None:
        encoded = base64.b64encode(PICTURE).decode()
        for source in (
            {"type": "base64", "media_type": "image/png", "data": encoded},
            {"type": "url", "url": f"{pictures}/picture.png"},
        ):
            answer = await api.post("/v1/messages", json=self.ask(source))
            assert answer.status_code == 200, answer.text
            assert answer.json()["content"][0]["text"] == f"{SEEN} what?"
            assert answer.json()["usage"]["input_tokens"] > 255

    async def test_counting_tokens_counts_the_image(self, api: httpx.AsyncClient) -> None:
        big = base64.b64encode(png(1024, 1024)).decode()
        body = self.ask({"type": "base64", "media_type": "image/png", "data": big})
        del body["max_tokens"]
        counted = await api.post("/v1/messages/count_tokens", json=body)
        assert counted.status_code == 200, counted.text
        assert counted.json()["input_tokens"] > 765

    async def test_a_mistake_inside_a_block_is_named_where_it_is(self, api: httpx.AsyncClient) -> None:
        # Not "messages.0.content: Input should be a valid string" (pydantic's first try of `str | list[block]`).
        answer = await api.post("/v1/messages", json=self.ask("data:image/png;base64,AAAA"))  # type: ignore[arg-type]
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert message.startswith("messages.0.content.0.image.source: ") and "dictionary" in message

    async def test_refusals_name_the_block(self, api: httpx.AsyncClient) -> None:
        blind = await api.post(
            "/v1/messages",
            json=self.ask(
                {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PICTURE).decode()}, "blind"
            ),
        )
        assert blind.status_code == 400 and "does not support vision" in blind.json()["error"]["message"]
        loopback = await api.post("/v1/messages", json=self.ask({"type": "url", "url": "http://127.0.0.2/x.png"}))
        assert loopback.status_code == 400
        assert loopback.json()["error"]["message"].startswith("messages.0.content.0: the image URL's host")
        many = self.ask({"type": "url", "url": "http://127.0.0.2/x.png"})
        many["messages"][0]["content"] *= 21  # more than images.max_per_request (20): refused before any fetch
        too_many = await api.post("/v1/messages", json=many)
        assert too_many.status_code == 400 and "at most 20 images" in too_many.json()["error"]["message"]
        files = await api.post("/v1/messages", json=self.ask({"type": "file", "file_id": "file_1"}))
        assert files.status_code == 400 and "'base64' or 'url'" in files.json()["error"]["message"]


class TestResponses:
    @staticmethod
    def ask(*parts: dict[str, Any], model: str = "eyes", **extra: Any) -> dict[str, Any]:
        content = [{"type": "input_text", "text": "what?"}, *parts]
        return {"model": model, "input": [{"role": "user", "content": content}], **extra}

    async def test_an_image_reaches_the_model_and_a_later_response_still_shows_it(
        self, api: httpx.AsyncClient, pictures: str
    ) -> None:
        image = {"type": "input_image", "image_url": f"{pictures}/picture.png", "detail": "low"}
        first = await api.post("/v1/responses", json=self.ask(image))
        assert first.status_code == 200, first.text
        assert first.json()["output"][0]["content"][0]["text"] == f"{SEEN} what?"
        assert first.json()["usage"]["input_tokens"] > 85  # the image's tokens (low detail) and the text's
        # The continuation replays the image it was asked about (kept with the stored response, not fetched again).
        then = {"model": "eyes-prompt", "input": "and now?", "previous_response_id": first.json()["id"]}
        second = await api.post("/v1/responses", json=then)
        assert second.status_code == 200, second.text
        shown = second.json()["output"][0]["content"][0]["text"]
        assert shown.startswith(f"user: what?\n{SEEN}") and shown.endswith("user: and now?")

    async def test_refusals_name_the_part(self, api: httpx.AsyncClient) -> None:
        image = {"type": "input_image", "image_url": PICTURE_URL}
        blind = await api.post("/v1/responses", json=self.ask(image, model="blind"))
        assert blind.status_code == 400 and "vision" in blind.json()["error"]["message"]
        by_file = {"type": "input_image", "file_id": "file-123"}
        refused(await api.post("/v1/responses", json=self.ask(by_file)), "input.0.content.1")
        broken = {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
        refused(await api.post("/v1/responses", json=self.ask(broken)), "input.0.content.1")


class TestWebChat:
    """The web app's path: an image uploaded through the files API, named in `file_ids` on POST /api/v1/chat."""

    @staticmethod
    async def upload(http: httpx.AsyncClient, headers: dict[str, str], data: bytes = PICTURE) -> dict[str, Any]:
        response = await http.post(
            "/api/v1/chat/upload", files={"file": ("screenshot.png", data, "image/png")}, headers=headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def test_an_uploaded_image_is_shown_to_the_model_again_on_regenerate_and_later_turns(
        self, vision_app: FastAPI
    ) -> None:
        transport = httpx.ASGITransport(app=vision_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            me = await signed_in_user(vision_app, http)
            image = await self.upload(http, me.headers)
            # Stored (sealed) as any upload, but not read into chunks: ready at once.
            assert (image["file_type"], image["status"], image["chunk_count"]) == ("image", "ready", 0)
            content = await http.get(f"/api/v1/files/{image['id']}/content", headers=me.headers)
            assert (content.content, content.headers["content-type"]) == (PICTURE, "image/png")

            first = await http.post(
                "/api/v1/chat",
                json={"message": "what is this?", "file_ids": [image["id"]], "model": "eyes", "stream": False},
                headers=me.headers,
            )
            assert first.status_code == 200, first.text
            assert first.json()["content"] == f"{SEEN} what is this?"
            assert first.json()["citations"] == []  # an image is not a document to cite
            conversation_id = first.json()["conversation_id"]

            again = await http.post(
                f"/api/v1/chat/{conversation_id}/regenerate", json={"stream": False}, headers=me.headers
            )
            assert again.status_code == 200, again.text
            assert again.json()["content"] == f"{SEEN} what is this?"

            # A later question without images: the model still sees the first one's image in the history.
            later = await http.post(
                "/api/v1/chat",
                json={
                    "conversation_id": conversation_id,
                    "message": "and now?",
                    "model": "eyes-prompt",
                    "stream": False,
                },
                headers=me.headers,
            )
            assert later.status_code == 200, later.text
            assert f"user: what is this?\n{SEEN}" in later.json()["content"]
            assert "user: and now?" in later.json()["content"]

            stored = (await http.get(f"/api/v1/conversations/{conversation_id}", headers=me.headers)).json()
            question = stored["messages"][0]
            assert question["metadata"]["attachments"]["image_file_ids"] == [image["id"]]

    async def test_a_model_without_vision_is_refused_before_anything_is_saved(self, vision_app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=vision_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            me = await signed_in_user(vision_app, http)
            image = await self.upload(http, me.headers)
            refused = await http.post(
                "/api/v1/chat",
                json={"message": "what is this?", "file_ids": [image["id"]], "model": "blind", "stream": False},
                headers=me.headers,
            )
            assert refused.status_code == 400, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "does not support vision" in refused.json()["detail"]
            listed = await http.get("/api/v1/conversations", headers=me.headers)
            assert listed.json()["items"] == []

    async def test_images_over_the_limit_and_in_knowledge_bases_are_refused(self, vision_app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=vision_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            me = await signed_in_user(vision_app, http)
            big = png(300, 300) + b"\0" * 200_000
            response = await http.post(
                "/api/v1/chat/upload", files={"file": ("big.png", big, "image/png")}, headers=me.headers
            )
            assert response.status_code == 413, response.text
            assert "images.max_bytes" in response.json()["detail"]
