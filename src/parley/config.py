"""Parley's settings: read once from the environment (and `.env`) into one typed object.

Feature code receives `Settings` (or one of its parts); it never reads `os.environ` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.llm.config import ModelCatalog, bundled_catalog


def _postgres_url(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith(("postgres://", "postgresql://")):
        # Accept the common libpq spelling and use the asyncpg driver for it.
        return "postgresql+asyncpg://" + value.split("://", 1)[1]
    if not value.startswith("postgresql+asyncpg://"):
        raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql+asyncpg://user:pass@host/db)")
    return value


class DatabaseSettings(BaseModel):
    """Connection pool of the one PostgreSQL database (its URL is `Settings.database_url`)."""

    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=20, ge=0, le=500)
    echo: bool = False


class AuthSettings(BaseModel):
    """Tokens, passwords and sign-in throttling."""

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "parley"
    jwt_audience: str = "parley-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    registration_enabled: bool = True
    password_min_length: int = Field(default=12, ge=8, le=128)
    # argon2id cost; the defaults follow RFC 9106's second recommended option.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_ip: int = Field(default=30, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)


class LLMSettings(BaseModel):
    """How chats run: streaming, cancellation, resilience."""

    # A client that disconnects and does not come back within this many seconds cancels its generation.
    disconnect_grace_seconds: float = Field(default=15.0, ge=0, le=3600)
    # The partial answer is saved this often while streaming, so a crash loses at most this much.
    checkpoint_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # An unfinished answer not checkpointed for this long lost its generation (a crash): marked interrupted.
    interrupted_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Consecutive failures that open a model's circuit, and how long it stays open.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    # `auto`: prompts up to this many characters (without code) go to the cheapest model.
    auto_short_prompt_chars: int = Field(default=400, ge=0)
    # Events of a finished generation kept for late reconnects.
    replay_retention_seconds: float = Field(default=120.0, ge=0)


class Settings(BaseSettings):
    """Everything Parley can be told. Environment names: `PARLEY_<FIELD>` and `PARLEY_<PART>__<FIELD>`;
    `DATABASE_URL` and `REDIS_URL` are also read under their customary names."""

    model_config = SettingsConfigDict(
        env_prefix="PARLEY_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto headers are trusted (a reverse proxy).
    forwarded_allow_ips: str = "127.0.0.1"

    # Unset: Parley starts its own PostgreSQL (with pgvector) under the data dir.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "PARLEY_DATABASE_URL"))
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    llm: LLMSettings = LLMSettings()
    # YAML model catalogue (README, "Models"); unset = only the bundled local model.
    models_file: Path | None = Field(default=None, validation_alias=AliasChoices("PARLEY_MODELS", "PARLEY_MODELS_FILE"))
    # Redis (optional): shared throttling, stream replay and stop signals across replicas.
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "PARLEY_REDIS_URL"))
    # Prefix of Parley's Redis keys and channels, for several deployments (or test runs) sharing one Redis.
    redis_key_prefix: str = Field(default="parley", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    # The first admin, created on first start when the database has no users.
    admin_email: str | None = None
    admin_password: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url_uses_asyncpg(cls, value: str | None) -> str | None:
        return _postgres_url(value)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    def load_model_catalog(self) -> ModelCatalog:
        """The model catalogue from `models_file` (API keys resolved from the environment), or the bundled one."""
        if self.models_file is None:
            return bundled_catalog()
        try:
            raw = yaml.safe_load(self.models_file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read the models file {self.models_file}: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
            raise ValueError(f"{self.models_file}: expected a top-level 'models:' list")
        for entry in raw["models"]:
            if isinstance(entry, dict) and entry.get("api_key_env"):
                entry["api_key"] = os.environ.get(str(entry["api_key_env"]))
        return ModelCatalog.model_validate(raw)
