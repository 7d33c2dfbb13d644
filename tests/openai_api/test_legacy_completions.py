"""The official OpenAI Python SDK's legacy `completions` against Parley's /v1/completions: a prompt is one user
turn to a chat model, with the usage and limits of /v1/chat/completions."""

from __future__ import annotations

import openai
import pytest
from sqlalchemy import select

from parley.models import UsageLog
from tests.factories import openai_sdk


async def _sdk(client, app, live_url, **key_body):
    me, _, sdk = await openai_sdk(app, client, live_url, **key_body)
    return me, sdk


class TestLegacyCompletions:
    async def test_a_text_completion_with_usage_recorded(self, client, app, live_url, session):
        me, sdk = await _sdk(client, app, live_url)
        completion = await sdk.completions.create(model="echo", prompt="once upon a time")
        assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
        [choice] = completion.choices
        assert choice.text == "once upon a time" and choice.finish_reason == "stop" and choice.index == 0
        assert completion.usage.completion_tokens == 4
        row = await session.scalar(select(UsageLog).where(UsageLog.user_id == me.id))
        assert row.api_key_id is not None and row.completion_tokens == 4

    async def test_a_list_of_prompts_and_n_give_choices_in_order(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        completion = await sdk.completions.create(model="echo", prompt=["first", "second"], n=2)
        assert [(c.index, c.text) for c in completion.choices] == [
            (0, "first"),
            (1, "first"),
            (2, "second"),
            (3, "second"),
        ]
        assert completion.usage.completion_tokens == 4

    async def test_max_tokens_defaults_to_16_and_stop_cuts(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        long = await sdk.completions.create(model="echo", prompt=" ".join(f"w{i}" for i in range(30)))
        assert len(long.choices[0].text.split()) == 16 and long.choices[0].finish_reason == "length"
        stopped = await sdk.completions.create(model="echo", prompt="a b STOP c", stop=["STOP"])
        assert stopped.choices[0].text.strip() == "a b"

    async def test_streamed_with_usage(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        stream = await sdk.completions.create(
            model="echo", prompt="one two three", stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].text for c in chunks if c.choices) == "one two three"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3

    async def test_what_parley_cannot_honour_is_a_400_naming_it(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        refused = [
            ({"echo": True}, "echo"),
            ({"suffix": "end"}, "suffix"),
            ({"best_of": 2}, "best_of"),
            ({"logprobs": 2}, "logprobs"),
            ({"prompt": [[1, 2, 3]]}, "prompt.0"),
            ({"stream": True, "n": 2}, "stream"),
        ]
        for extra, param in refused:
            with pytest.raises(openai.BadRequestError) as caught:
                await sdk.completions.create(**{"model": "echo", "prompt": "hi", **extra})
            assert caught.value.body["param"] == param

    async def test_an_unknown_model_is_model_not_found(self, client, app, live_url):
        _, sdk = await _sdk(client, app, live_url)
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk.completions.create(model="nope", prompt="hi")
        assert caught.value.code == "model_not_found"
