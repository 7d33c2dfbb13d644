"""PII policy: what happens to personal data in a prompt to a given model, for a given user (README, "PII").

Decided from the model catalogue (`trusted`, `pii_policy`), the user's effective plan (`Plan.pii_policy`, which
already carries their groups' and their own override: `policy.quotas.effective_plan`) and the settings' default
for untrusted models. The chat engine and /v1 enforce the decision; nothing here reads a table or a text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from parley.llm.config import ModelConfig
from parley.policy.plans import Plan
from parley.privacy.settings import PII_MODES, PiiMode, PrivacySettings

# Strictness, for several groups that each set a policy: the strictest wins.
_STRICTNESS = {mode: rank for rank, mode in enumerate(PII_MODES)}


@dataclass(frozen=True, slots=True)
class PiiDecision:
    """The mode to apply and where it came from (for logs and the admin's understanding)."""

    mode: PiiMode
    source: Literal["plan", "model", "trusted", "default"]

    @property
    def transforms(self) -> bool:
        """Prompts are rewritten (mask, pseudonymise; block masks what it cannot refuse, such as excerpts)."""
        return self.mode != "off"


def pii_decision(model: ModelConfig, plan: Plan | None, settings: PrivacySettings) -> PiiDecision:
    """The policy for prompts of a user on `plan` (effective: groups and overrides applied) to `model`."""
    if plan is not None and plan.pii_policy is not None:
        return PiiDecision(plan.pii_policy, "plan")
    if model.pii_policy is not None:
        return PiiDecision(model.pii_policy, "model")
    if model.is_trusted:
        return PiiDecision("off", "trusted")
    return PiiDecision(settings.untrusted_default, "default")


def strictest(decisions: Iterable[PiiDecision]) -> PiiDecision:
    """The strictest of several decisions (the first of equals)."""
    return max(decisions, key=lambda decision: _STRICTNESS[decision.mode])


def group_pii_policy(plan_value: PiiMode | None, group_values: Iterable[PiiMode | None]) -> PiiMode | None:
    """A plan's policy as the user's groups leave it: the strictest policy a group sets, or the plan's."""
    chosen = [value for value in group_values if value is not None]
    if not chosen:
        return plan_value
    return max(chosen, key=lambda mode: _STRICTNESS[mode])
