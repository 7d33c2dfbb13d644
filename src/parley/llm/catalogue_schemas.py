"""The model catalogue's admin API in and out (`/api/v1/admin/models`). API keys never come back: an entry names the
environment variable that holds its key (`api_key_env`) or stores the key sent once (`api_key`, sealed), and the
response says only whether it is set (and a stored key's last 4 characters)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from parley.llm.base import Capability
from parley.llm.config import Capabilities, ProviderName
from parley.privacy.settings import PiiMode

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$"
API_KEY_ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_API_KEY_DESCRIPTION = (
    "the provider's API key itself, stored sealed with Parley's keyring and never returned (it takes precedence "
    "over api_key_env)"
)


class ModelCreate(BaseModel):
    """A model added to the catalogue. Unset fields take the catalogue's defaults (README, "Models")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=MODEL_NAME_PATTERN, description="the alias users pick (unique)")
    provider: ProviderName
    label: str | None = Field(default=None, max_length=200, description="display name in the model picker")
    model: str | None = Field(default=None, max_length=200, description="the upstream model id or deployment")
    base_url: str | None = Field(default=None, max_length=2000)
    api_key_env: str | None = Field(
        default=None, pattern=API_KEY_ENV_PATTERN, description="the environment variable holding the API key"
    )
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=4000, description=_API_KEY_DESCRIPTION)
    api_version: str | None = Field(default=None, max_length=50, description="Azure OpenAI")
    region: str | None = Field(default=None, max_length=50, description="Bedrock")
    endpoint_url: str | None = Field(default=None, max_length=2000, description="Bedrock")
    context_window: int = Field(default=8192, ge=256, le=10_000_000)
    max_output_tokens: int = Field(default=1024, ge=1, le=1_000_000)
    price_per_1k_input: Decimal = Field(default=Decimal(0), ge=0, description="USD per 1,000 prompt tokens")
    price_per_1k_output: Decimal = Field(default=Decimal(0), ge=0, description="USD per 1,000 answer tokens")
    fallbacks: list[str] = Field(default_factory=list, description="enabled models tried when this one fails")
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_retries: int = Field(default=2, ge=0, le=10)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    trusted: bool | None = None
    pii_policy: PiiMode | None = None
    enabled: bool = True


class ModelUpdate(BaseModel):
    """Fields to change; those left out keep their value (a model of the models file keeps the file's)."""

    model_config = ConfigDict(extra="forbid")

    provider: ProviderName | None = None
    label: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    base_url: str | None = Field(default=None, max_length=2000)
    api_key_env: str | None = Field(default=None, pattern=API_KEY_ENV_PATTERN)
    api_key: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=4000,
        description=_API_KEY_DESCRIPTION + "; null clears the stored key (api_key_env's, if named, applies again)",
    )
    api_version: str | None = Field(default=None, max_length=50)
    region: str | None = Field(default=None, max_length=50)
    endpoint_url: str | None = Field(default=None, max_length=2000)
    context_window: int | None = Field(default=None, ge=256, le=10_000_000)
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    price_per_1k_input: Decimal | None = Field(default=None, ge=0)
    price_per_1k_output: Decimal | None = Field(default=None, ge=0)
    fallbacks: list[str] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    capabilities: Capabilities | None = None
    trusted: bool | None = None
    pii_policy: PiiMode | None = None
    enabled: bool | None = Field(default=None, description="false: out of every chat and model list")


class CatalogueModel(BaseModel):
    """One model of the catalogue as administrators see it (never its API key)."""

    name: str
    label: str | None
    provider: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_set: bool = Field(default=False, description="whether the model has an API key (stored, or api_key_env's)")
    api_key_stored: bool = Field(default=False, description="whether an administrator stored its API key")
    api_key_last4: str | None = Field(default=None, description="a stored key's last 4 characters (keys of 16+)")
    api_version: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    context_window: int = 8192
    max_output_tokens: int = 1024
    price_per_1k_input: Decimal = Decimal(0)
    price_per_1k_output: Decimal = Decimal(0)
    fallbacks: list[str] = Field(default_factory=list)
    timeout_seconds: float = 60.0
    max_retries: int = 2
    capabilities: dict[Capability, bool] = Field(default_factory=dict, description="resolved capability flags")
    trusted: bool = False
    pii_policy: PiiMode | None = None
    enabled: bool = True
    source: Literal["file", "admin"] = Field(
        default="file", description="file: from the models file; admin: added by an administrator"
    )
    edited: bool = Field(default=False, description="an administrator changed the file's entry")
