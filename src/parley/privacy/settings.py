"""`PARLEY_PRIVACY__…`: how personal data in prompts is treated (README, "PII")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# off: sent as written; mask: replaced by `<EMAIL>`-style placeholders for good; pseudonymise: replaced by
# stable `<EMAIL_1>` placeholders that are put back in the answer; block: the message is refused.
PiiMode = Literal["off", "mask", "pseudonymise", "block"]
PII_MODES: tuple[PiiMode, ...] = ("off", "pseudonymise", "mask", "block")


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The mode for a model of the catalogue that is not trusted and names no `pii_policy` of its own (a plan,
    # group or user override still wins). Trusted models (the bundled one) default to `off`.
    untrusted_default: PiiMode = "pseudonymise"
    # Find person names with the spaCy pipelines (en, es; German text uses the Spanish one plus titles such as
    # "Herr"/"Frau"). Off: only the pattern recognisers run (emails, phones, IBANs, cards, IPs, national ids),
    # which is about 5x cheaper per prompt.
    names: bool = True
    # Findings scored below this are ignored (presidio scores; checksummed ids score 1.0).
    min_score: float = Field(default=0.4, ge=0, le=1)
    # Texts longer than this (characters, all messages of a prompt together) are analysed in a worker thread,
    # so the event loop keeps serving other streams meanwhile.
    thread_above_chars: int = Field(default=1000, ge=0)
