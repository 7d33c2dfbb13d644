"""What the model sees: the system prompt, a summary of old turns, and as many recent turns as fit.

Token counts come from the model's own tokenizer (llama.cpp's for the local model, a bundled one or the
provider's count for remote ones). The common case (everything fits) costs one count. When the history no
longer fits, the oldest turns are folded into a running summary kept on the conversation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parley.chat.generation import Said
from parley.errors import PayloadTooLarge
from parley.kit.clock import utcnow
from parley.llm.base import ChatMessage, ChatRequest, GenerationParams, ImagePart, ProviderError, Usage
from parley.llm.registry import RegisteredModel
from parley.llm.router import Router
from parley.quotas.service import estimate_prompt_tokens

DEFAULT_SYSTEM_PROMPT = (
    "You are Parley, a helpful assistant for the employees of this company. Answer accurately and concisely, "
    "use Markdown where it helps, and say so when you are not sure. Today is {today}."
)
_SUMMARY_INSTRUCTION = (
    "Summarise the conversation below in at most 200 words for your own later reference. Keep facts, names, "
    "numbers, decisions and open questions; drop pleasantries. Reply with the summary only."
)
# Room left for the answer beyond max_output_tokens: chat-template tokens the counts may miss.
_SAFETY_TOKENS = 32


@dataclass(frozen=True)
class Prompt:
    messages: list[ChatMessage]
    prompt_tokens: int
    # Set when older turns were folded into a new summary, to be saved on the conversation.
    new_summary: str | None = None
    summary_through: uuid.UUID | None = None
    # Tokens models spent building this prompt (summarising old turns), by model, for usage_logs.
    spent: tuple[tuple[str, Usage], ...] = ()


@dataclass(frozen=True)
class Title:
    text: str
    spent: tuple[tuple[str, Usage], ...] = ()


def system_message(system_prompt: str | None) -> ChatMessage:
    text = system_prompt or DEFAULT_SYSTEM_PROMPT.format(today=utcnow().date().isoformat())
    return ChatMessage("system", text)


def _turns(history: Sequence[Said], *, summary_through: uuid.UUID | None) -> list[Said]:
    ids = [m.id for m in history]
    start = ids.index(summary_through) + 1 if summary_through in ids else 0
    return [m for m in history[start:] if m.role in ("user", "assistant") and m.content]


def _with_summary(system: ChatMessage, summary: str | None) -> list[ChatMessage]:
    if not summary:
        return [system]
    return [system, ChatMessage("system", f"Summary of the earlier part of this conversation:\n{summary}")]


def prompt_budget(model: RegisteredModel) -> int:
    """Tokens a prompt may take: the model's context window less room for the answer."""
    config = model.config
    return config.context_window - config.max_output_tokens - _SAFETY_TOKENS


async def build_prompt(
    router: Router,
    model: RegisteredModel,
    *,
    system_prompt: str | None,
    history: Sequence[Said],
    summary: str | None,
    summary_through: uuid.UUID | None,
    sources: ChatMessage | None = None,
    images: Mapping[uuid.UUID, tuple[ImagePart, ...]] | None = None,
) -> Prompt:
    """`sources` (numbered document excerpts) go right after the system prompt and always stay in; `images`
    (message id → its images, `chat.images`) go with their questions."""
    config = model.config
    budget = prompt_budget(model)
    system = system_message(system_prompt)
    turns = _turns(history, summary_through=summary_through)
    head = _with_summary(system, summary)
    if sources is not None:
        head.append(sources)
    shown = images or {}
    as_messages = [ChatMessage(m.role, m.content, images=shown.get(m.id, ())) for m in turns]  # type: ignore[arg-type]
    messages = [*head, *as_messages]
    total = await model.model.count_tokens(messages)
    if total <= budget:
        return Prompt(messages=messages, prompt_tokens=total)

    # Too long: keep the newest turns that fit beside the system prompt and a summary of the rest.
    counts = await asyncio.gather(*(model.model.count_tokens([m]) for m in as_messages))
    head_tokens = await model.model.count_tokens(
        [system, ChatMessage("system", "x" * 1200), *([sources] if sources is not None else [])]
    )
    room = budget - head_tokens
    kept = 0
    used = 0
    for count in reversed(counts):
        if used + count > room:
            break
        used += count
        kept += 1
    if kept == 0:
        raise PayloadTooLarge(
            f"the message is too long for the model {config.name} "
            f"(its context window is {config.context_window} tokens)"
        )
    dropped = turns[: len(turns) - kept]
    new_summary, spent = await summarise(router, model, previous=summary, turns=dropped, budget=budget)
    new_head = _with_summary(system, new_summary) + ([sources] if sources is not None else [])
    messages = [*new_head, *as_messages[len(as_messages) - kept :]]
    return Prompt(
        messages=messages,
        prompt_tokens=await model.model.count_tokens(messages),
        new_summary=new_summary,
        summary_through=dropped[-1].id if dropped else summary_through,
        spent=spent,
    )


async def summarise(
    router: Router, model: RegisteredModel, *, previous: str | None, turns: Sequence[Said], budget: int
) -> tuple[str | None, tuple[tuple[str, Usage], ...]]:
    """Fold `turns` (and the previous summary) into a new summary, with the tokens that cost. On failure keep
    the old one: the conversation goes on, only with less memory of its beginning."""
    if not turns:
        return previous, ()
    lines = [f"Earlier summary: {previous}"] if previous else []
    lines += [f"{m.role}: {m.content}" for m in turns]
    # Characters, not tokens, bound the input here: roughly 3 characters per token keeps it inside the window.
    text = "\n".join(lines)[-max(1000, budget * 3) :]
    request = ChatRequest(
        messages=[ChatMessage("system", _SUMMARY_INSTRUCTION), ChatMessage("user", text)],
        params=GenerationParams(max_tokens=300, temperature=0.2),
    )
    try:
        result = await router.complete(model, request)
    except ProviderError:
        return previous, ()
    return result.text.strip() or previous, result.spent


_TITLE_INSTRUCTION = (
    "Write a title of at most six words for this conversation, in the language of the question. "
    "Reply with the title only, without quotes."
)
# What a title is written from: the start of the question and of the answer; and its longest output.
_TITLE_SOURCE_CHARS = 1000
_TITLE_MAX_TOKENS = 24


def title_tokens_at_most(question: str) -> int:
    """A generous estimate of the tokens titling a conversation with this question spends (for quota
    reservations): the instruction, the question's start, an answer's start as long as it may be, the title."""
    shown = [_TITLE_INSTRUCTION, question[:_TITLE_SOURCE_CHARS], "x" * _TITLE_SOURCE_CHARS]
    return estimate_prompt_tokens(shown) + _TITLE_MAX_TOKENS


async def generate_title(router: Router, model: RegisteredModel, *, question: str, answer: str) -> Title:
    """A short title for the sidebar, with the tokens it cost; falls back to the start of the question when the
    model can't."""
    request = ChatRequest(
        messages=[
            ChatMessage("system", _TITLE_INSTRUCTION),
            ChatMessage(
                "user",
                f"Question: {question[:_TITLE_SOURCE_CHARS]}\n\nAnswer: {answer[:_TITLE_SOURCE_CHARS]}",
            ),
        ],
        params=GenerationParams(max_tokens=_TITLE_MAX_TOKENS, temperature=0.2),
    )
    spent: tuple[tuple[str, Usage], ...] = ()
    try:
        result = await router.complete(model, request)
        title, spent = result.text, result.spent
    except ProviderError:
        title = ""
    title = " ".join(title.strip().strip("\"'“”#*").split())[:80]
    if not title:
        return title_from_question(question, spent=spent)
    return Title(text=title[:300], spent=spent)


def title_from_question(question: str, *, spent: tuple[tuple[str, Usage], ...] = ()) -> Title:
    """The start of the question as a title: when no model can (or should) be asked for one."""
    words = question.split()
    title = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
    return Title(text=title[:80] or "New chat", spent=spent)
