"""The model catalogue: which models users can pick, how to reach each, what it costs, where to fall back.

Read from the YAML file named by `PARLEY_MODELS` (see README, "Models"); without one, the catalogue holds only
the bundled local model. Secrets are never in the file: `api_key_env` names the environment variable that
holds the key, resolved once when settings are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from parley.llm.base import Capability
from parley.privacy.settings import PiiMode

ProviderName = Literal["local", "openai", "anthropic", "bedrock", "scripted"]
AUTO_MODEL = "auto"


class CacheConfig(BaseModel):
    """`cache:` of a model entry: identical deterministic requests (temperature 0) within `ttl_seconds` are
    answered from the stored answer without calling the provider (`llm.response_cache`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_seconds: float = Field(gt=0, le=30 * 86_400, description="how long a stored answer is served")
    # Off: each user has answers of their own. On: anyone asking the same thing gets the stored answer (only for
    # models whose prompts carry nothing personal, such as a shared FAQ bot).
    shared_across_users: bool = False


class Capabilities(BaseModel):
    """`capabilities:` of a model entry: what it can do beyond plain text. A request that needs a capability goes
    only to a model that has it, and falls back only to such models; unset flags take the provider's default
    (`Capabilities.DEFAULTS`), which an entry overrides when its upstream model differs (an OpenAI-compatible
    server without tool support, a vision model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: bool | None = Field(default=None, description="function calling: tools, tool_choice, tool messages")
    json_schema: bool | None = Field(default=None, description="structured output: response_format json_schema")
    vision: bool | None = Field(default=None, description="image inputs")
    logprobs: bool | None = Field(default=None, description="token log probabilities")

    # The providers' defaults. OpenAI-compatible servers: OpenAI's own models do tools, schemas and logprobs
    # (vision depends on the model: opt in). Anthropic and Bedrock Converse do tools but have no
    # response_format or logprobs. The bundled model runs in llama.cpp's server with its chat template's tool
    # support and grammar-enforced schemas. The scripted model does tools and schemas for tests.
    DEFAULTS: ClassVar[dict[str, dict[Capability, bool]]] = {
        "openai": {"tools": True, "json_schema": True, "vision": False, "logprobs": True},
        "anthropic": {"tools": True, "json_schema": False, "vision": False, "logprobs": False},
        "bedrock": {"tools": True, "json_schema": False, "vision": False, "logprobs": False},
        "local": {"tools": True, "json_schema": True, "vision": False, "logprobs": False},
        "scripted": {"tools": True, "json_schema": True, "vision": False, "logprobs": False},
    }

    def resolved(self, provider: str) -> dict[Capability, bool]:
        flags = dict(self.DEFAULTS[provider])
        for name in CAPABILITIES:
            value = getattr(self, name)
            if value is not None:
                flags[name] = value
        return flags


CAPABILITIES: tuple[Capability, ...] = ("tools", "json_schema", "vision", "logprobs")
# Sampling parameters a provider's API has no field for (`ChatRequest.sampling_options`): Anthropic's Messages
# API and Bedrock Converse take none of them. The scripted model accepts and ignores them (it does not sample).
UNSUPPORTED_OPTIONS: dict[str, frozenset[str]] = {
    "anthropic": frozenset({"seed", "presence_penalty", "frequency_penalty", "logit_bias"}),
    "bedrock": frozenset({"seed", "presence_penalty", "frequency_penalty", "logit_bias"}),
}


class ModelConfig(BaseModel):
    """One entry of `models:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$", description="the alias users pick")
    provider: ProviderName
    label: str | None = Field(default=None, description="display name in the model picker")
    # Upstream model id (OpenAI model / Azure deployment, Anthropic model, Bedrock model id).
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: SecretStr | None = Field(default=None, exclude=True, description="resolved from api_key_env")
    # Azure OpenAI: set api_version (and base_url = https://<resource>.openai.azure.com).
    api_version: str | None = None
    # Bedrock.
    region: str | None = None
    endpoint_url: str | None = None
    # Local: a GGUF file; unset = the bundled model.
    path: Path | None = None
    parallel: int = Field(default=4, ge=1, le=64, description="local: concurrent generation slots")
    threads: int | None = Field(default=None, ge=1, le=256)

    context_window: int = Field(default=8192, ge=256, le=10_000_000)
    max_output_tokens: int = Field(default=1024, ge=1, le=1_000_000)
    price_per_1k_input: Decimal = Field(default=Decimal(0), ge=0)
    price_per_1k_output: Decimal = Field(default=Decimal(0), ge=0)
    fallbacks: tuple[str, ...] = ()
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="no event for this long: failure")
    max_connections: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="remote providers: open connections at most (one per answer streaming)",
    )
    max_retries: int = Field(default=2, ge=0, le=10)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    # Opt-in response cache; unset: every request reaches the provider.
    cache: CacheConfig | None = None
    # Personal data (README, "PII"). `trusted`: prompts may reach this model as written; unset: the bundled local
    # model and the scripted one (both in-process) are trusted, remote providers are not. `pii_policy`: what is
    # done with personal data in prompts to this model (off, mask, pseudonymise, block); unset: `off` for a
    # trusted model, PARLEY_PRIVACY__UNTRUSTED_DEFAULT otherwise. A plan, group or user override wins over both.
    trusted: bool | None = None
    pii_policy: PiiMode | None = None

    # Scripted (tests and benchmarks).
    load_ms: float = Field(
        default=0, ge=0, description="scripted: loading at start-up takes this long, as a local model's"
    )
    first_token_ms: float = Field(default=0, ge=0)
    tokens_per_second: float = Field(default=0, ge=0, description="0: as fast as possible")
    reply: str = "echo"
    fail: str | None = Field(default=None, pattern=r"^(status:\d{3}|hang|drop_after_tokens:\d+)$")

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def capability_flags(self) -> dict[Capability, bool]:
        """What this model can do beyond plain text, the provider's defaults overridden by the entry."""
        return self.capabilities.resolved(self.provider)

    def lacks(self, needed: Iterable[Capability]) -> list[Capability]:
        """Of the `needed` capabilities, those this model does not have (in the catalogue's order)."""
        flags = self.capability_flags
        wanted = set(needed)
        return [name for name in CAPABILITIES if name in wanted and not flags[name]]

    def refuses(self, options: Iterable[str]) -> list[str]:
        """Of the sampling `options` a request sets, those this model's provider has no parameter for."""
        unsupported = UNSUPPORTED_OPTIONS.get(self.provider, frozenset())
        return [name for name in options if name in unsupported]

    @property
    def is_trusted(self) -> bool:
        if self.trusted is not None:
            return self.trusted
        return self.provider in ("local", "scripted")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            Decimal(prompt_tokens) * self.price_per_1k_input + Decimal(completion_tokens) * self.price_per_1k_output
        ) / 1000


class ModelCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[ModelConfig, ...] = Field(min_length=1)
    default: str | None = Field(default=None, description="the model used when a request names none")

    @model_validator(mode="after")
    def _consistent(self) -> ModelCatalog:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate model names: {', '.join(duplicates)}")
        if AUTO_MODEL in names:
            raise ValueError(f"'{AUTO_MODEL}' is reserved for automatic routing")
        known = set(names)
        for model in self.models:
            unknown = [f for f in model.fallbacks if f not in known or f == model.name]
            if unknown:
                raise ValueError(f"model {model.name}: unknown fallback(s) {', '.join(unknown)}")
        if self.default is not None and self.default not in known:
            raise ValueError(f"default model {self.default} is not in the catalogue")
        return self

    @property
    def default_name(self) -> str:
        return self.default or self.models[0].name

    def get(self, name: str) -> ModelConfig | None:
        for model in self.models:
            if model.name == name:
                return model
        return None


def bundled_catalog() -> ModelCatalog:
    """Only the bundled local model: what Parley offers with no configuration."""
    return ModelCatalog(
        models=(
            ModelConfig(
                name="local",
                provider="local",
                label="Qwen2.5 Coder 0.5B (local)",
                context_window=8192,
                max_output_tokens=1024,
                # Two CPU cores take tens of seconds over a long prompt before the first token.
                timeout_seconds=300,
            ),
        )
    )
