"""Personal data in chat prompts (README, "PII"): the policy decided by `policy.privacy`, enforced at the two
points the engine has, with `privacy`'s functions.

- Before the provider: the user's text, the history, the summary, the system prompt and the document excerpts
  sent as sources are masked or pseudonymised (`Shield.inputs`), so a summary or a title the model writes from
  them sees no more than the answer's prompt does. `block` refuses the user's message in the request
  (`PromptPrivacy.refuse_blocked`, a 422 naming the kinds of data); what it cannot refuse (older turns,
  excerpts) is masked.
- On the output stream: pseudonyms are put back (`Shield.restorer`), so the user reads the values.

A conversation's pseudonym map is read once per answer and written only when it grew (one UPDATE), sealed
with the user's data key (`crypto`), so a crypto-erased user's pseudonyms are gone with the rest of their data.
Without a keyring (an engine built without one, in tests) the map lives as long as the answer: placeholders are
numbered in order of appearance over the whole prompt, so they still come out the same each turn.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from parley.chat.repository import Turn
from parley.crypto import context_of
from parley.errors import Unprocessable
from parley.llm.base import ChatMessage
from parley.llm.config import ModelConfig
from parley.llm.registry import ModelRegistry, RegisteredModel
from parley.policy.plans import Plan
from parley.policy.privacy import PiiDecision, pii_decision, strictest
from parley.privacy import repository
from parley.privacy.detection import Detector, Finding
from parley.privacy.redaction import PseudonymMap, StreamRestorer, described, mask, pseudonymise
from parley.privacy.settings import PrivacySettings

_logger = structlog.get_logger("parley.privacy")

if TYPE_CHECKING:
    from parley.chat.generation import ConversationSnapshot
    from parley.crypto import Crypto
    from parley.db import Database


class PersonalDataRefused(Unprocessable):
    code = "personal_data_refused"


class PromptPrivacy:
    """The process's detector (models loaded on first use) and the policy settings."""

    def __init__(self, settings: PrivacySettings, *, crypto: Crypto | None = None) -> None:
        self.settings = settings
        self.detector = Detector(settings)
        self.crypto = crypto
        self._warming: asyncio.Future[None] | None = None

    def warm_up(self, registry: ModelRegistry) -> None:
        """Load the detection models in a worker thread now, when a configured model's own policy rewrites
        prompts, so the first such chat does not wait for them (~2 s); otherwise they load on first use."""
        if self.detector.loaded or self._warming is not None:
            return
        if all(self.decide(registered.config, None).mode == "off" for registered in registry):
            return
        self._warming = asyncio.ensure_future(asyncio.to_thread(self.detector.load))
        self._warming.add_done_callback(_log_failed_warm_up)

    def decide(self, model: ModelConfig, plan: Plan | None, *, fallbacks: Sequence[ModelConfig] = ()) -> PiiDecision:
        """The policy for `model`, or the strictest of it and the fallbacks the router may switch to mid-answer
        (a trusted model falling back to a remote one must not have sent the prompt as written)."""
        return strictest([pii_decision(candidate, plan, self.settings) for candidate in (model, *fallbacks)])

    async def detect(self, texts: Sequence[str]) -> list[tuple[Finding, ...]]:
        """Findings per text; in a worker thread when the texts are long or the models not loaded yet."""
        if not self.detector.loaded or sum(len(t) for t in texts) > self.settings.thread_above_chars:
            return await asyncio.to_thread(lambda: [self.detector.detect(t) for t in texts])
        return [self.detector.detect(t) for t in texts]

    def decide_for(self, model: RegisteredModel, plan: Plan | None, registry: ModelRegistry) -> PiiDecision:
        """`decide` for a configured model and the fallbacks its catalogue entry names."""
        fallbacks = [found.config for name in model.config.fallbacks if (found := registry.get(name)) is not None]
        return self.decide(model.config, plan, fallbacks=fallbacks)

    async def refuse_blocked(
        self, model: RegisteredModel, plan: Plan | None, text: str, *, registry: ModelRegistry
    ) -> None:
        """Raise `PersonalDataRefused` (422) when the policy blocks personal data and `text` holds some. The
        message names the kinds found, never the text."""
        if self.decide_for(model, plan, registry).mode != "block":
            return
        (findings,) = await self.detect([text])
        if findings:
            kinds = described(f.kind for f in findings)
            raise PersonalDataRefused(
                f"This message contains personal data ({_listed(kinds)}), which may not be sent to the model "
                f"{model.config.name}. Remove it and send the message again.",
                kinds=sorted({f.kind for f in findings}),
            )

    async def shield(
        self,
        decision: PiiDecision,
        *,
        database: Database | None = None,
        user_id: uuid.UUID | None = None,
        conversation_id: uuid.UUID | None = None,
    ) -> Shield | None:
        """One answer's protection under `decision` (None when it is `off`), with the conversation's pseudonym
        map when there is one (/v1 requests have none: their map lives as long as the request)."""
        if not decision.transforms:
            return None
        store = None
        if self.crypto is not None and database is not None and user_id is not None and conversation_id is not None:
            store = _MapStore(self.crypto, database, user_id, conversation_id)
        mapping = await store.load() if store is not None and decision.mode == "pseudonymise" else PseudonymMap()
        return Shield(self, decision, mapping, store=store)


class _MapStore:
    """Where a conversation's pseudonym map is kept: `conversations.pii_mapping`, sealed for its user."""

    def __init__(self, crypto: Crypto, database: Database, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
        self.crypto = crypto
        self.database = database
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.context = context_of("conversations", "pii_mapping", conversation_id)

    async def load(self) -> PseudonymMap:
        async with self.database.session() as session:
            stored = await repository.mapping_of(session, self.conversation_id)
        if not stored:
            return PseudonymMap()
        return PseudonymMap.from_bytes(await self.crypto.open(self.user_id, stored, context=self.context))

    async def save(self, mapping: PseudonymMap) -> None:
        sealed = await self.crypto.seal(self.user_id, mapping.to_bytes(), context=self.context)
        async with self.database.session() as session:
            await repository.save_mapping(session, self.conversation_id, sealed)


class Shield:
    """Rewrites what one answer's model is sent, and restores what it writes."""

    def __init__(
        self,
        privacy: PromptPrivacy,
        decision: PiiDecision,
        mapping: PseudonymMap,
        *,
        store: _MapStore | None = None,
    ) -> None:
        self.privacy = privacy
        self.decision = decision
        self.mapping = mapping
        self._store = store

    @property
    def reversible(self) -> bool:
        return self.decision.mode == "pseudonymise"

    async def texts(self, texts: Sequence[str]) -> list[str]:
        found = await self.privacy.detect(texts)
        if self.reversible:
            return [pseudonymise(t, f, self.mapping) for t, f in zip(texts, found, strict=True)]
        return [mask(t, f) for t, f in zip(texts, found, strict=True)]

    async def messages(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        protected = await self.texts([m.content for m in messages])
        # Only the text changes: tool calls and images stay as they were.
        return [replace(m, content=text) for m, text in zip(messages, protected, strict=True)]

    async def inputs(
        self, system_prompt: str | None, snapshot: ConversationSnapshot, sources: ChatMessage | None
    ) -> tuple[str | None, ConversationSnapshot, ChatMessage | None]:
        """The prompt's parts as the model may see them; a grown pseudonym map is saved before the model is
        called, so a replica taking the answer over restores the same placeholders."""
        turns = [m for m in snapshot.history if m.role in ("user", "assistant") and m.content]
        texts = [
            system_prompt or "",
            snapshot.summary or "",
            sources.content if sources else "",
            *(m.content for m in turns),
        ]
        system_text, summary, sources_text, *contents = await self.texts(texts)
        by_id = {m.id: text for m, text in zip(turns, contents, strict=True)}
        history = [Turn(m.id, m.role, by_id[m.id]) if m.id in by_id else m for m in snapshot.history]
        snapshot = replace(snapshot, summary=summary or snapshot.summary, history=history)
        if sources is not None:
            sources = ChatMessage(sources.role, sources_text)
        await self.save()
        return (system_text if system_prompt else None), snapshot, sources

    async def save(self) -> None:
        if self._store is None or not (self.reversible and self.mapping.changed):
            return
        await self._store.save(self.mapping)
        self.mapping.changed = False

    def restorer(self) -> StreamRestorer | None:
        return StreamRestorer(self.mapping) if self.reversible else None

    def restore(self, text: str) -> str:
        return self.mapping.restore(text) if self.reversible else text


def _log_failed_warm_up(future: asyncio.Future[None]) -> None:
    # Not fatal: the first chat that needs the models tries again (and reports the error to its user).
    if not future.cancelled() and future.exception() is not None:
        _logger.error("pii_models_failed_to_load", error=str(future.exception()))


def _listed(kinds: list[str]) -> str:
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
