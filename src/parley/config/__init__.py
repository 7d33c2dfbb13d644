"""Parley's settings: read once from the environment (and `.env`) into one typed object.

Feature code receives `Settings` (or one of its parts); it never reads `os.environ` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.audit.settings import AuditSettings
from parley.config.identity import (
    AuthSettings,
    OIDCClaimMapping,
    OIDCProviderSettings,
    OIDCSettings,
    SCIMSettings,
)
from parley.config.models import (
    EmbeddingSettings,
    LLMSettings,
    RagSettings,
)
from parley.config.serving import (
    HttpSettings,
    LimitsSettings,
    MetricsSettings,
    TLSSettings,
    TracingSettings,
    WebSettings,
)
from parley.config.stores import (
    BatchSettings,
    DatabaseSettings,
    FileSettings,
    GdprSettings,
    ImageSettings,
    JobSettings,
    S3Settings,
    postgres_url,
)
from parley.crypto.settings import CryptoSettings
from parley.identity.saml_config import SAMLSettings
from parley.llm.config import ModelCatalog, bundled_catalog
from parley.privacy.settings import PrivacySettings
from parley.reports.settings import ReportSettings
from parley.safety.settings import SafetySettings

__all__ = [
    "AuthSettings",
    "BatchSettings",
    "DatabaseSettings",
    "EmbeddingSettings",
    "FileSettings",
    "GdprSettings",
    "HttpSettings",
    "ImageSettings",
    "JobSettings",
    "LLMSettings",
    "LimitsSettings",
    "MetricsSettings",
    "OIDCClaimMapping",
    "OIDCProviderSettings",
    "OIDCSettings",
    "RagSettings",
    "S3Settings",
    "SCIMSettings",
    "Settings",
    "TLSSettings",
    "TracingSettings",
    "WebSettings",
]


class Settings(BaseSettings):
    """Everything Parley can be told. Environment names: `PARLEY_<FIELD>` and `PARLEY_<PART>__<FIELD>`;
    `DATABASE_URL`, `DATABASE_READ_URL` and `REDIS_URL` are also read under their customary names."""

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
    # `parley serve`: after a stop signal the process is gone within this many seconds, whatever still runs
    # (the embedded database is stopped first).
    shutdown_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    # `parley serve`, on SIGTERM: readiness fails at once, answers being written get this long to finish, then
    # the rest are handed over to the other replicas (with REDIS_URL) and the shutdown starts (README, "Replicas
    # and hand-over"). Give the process drain + shutdown time (Kubernetes: terminationGracePeriodSeconds).
    drain_timeout_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto headers are trusted (a reverse proxy).
    forwarded_allow_ips: str = "127.0.0.1"
    # `parley serve --workers N`: uvicorn's supervisor kills (and replaces) a worker process that does not answer
    # its health ping within this many seconds; starting a worker on a busy machine can take longer than
    # uvicorn's default of 5 s (README, "Several processes").
    worker_healthcheck_timeout_seconds: int = Field(default=30, ge=1, le=3600)
    # How long an idle client connection is kept open. A proxy in front must close its idle upstream connections
    # sooner (nginx `keepalive_timeout`, ingress-nginx `upstream-keepalive-timeout`): a request it sends on a
    # connection Parley is closing at that moment fails (502). Raise this to match a proxy that keeps them longer.
    keep_alive_seconds: int = Field(default=5, ge=1, le=3600)

    # Unset: Parley starts its own PostgreSQL (with pgvector) under the data dir.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "PARLEY_DATABASE_URL"))
    # A streaming standby of that database (optional): conversation lists, history, analytics and search read
    # from it (README, "Read replicas").
    database_read_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_READ_URL", "PARLEY_DATABASE_READ_URL")
    )
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    llm: LLMSettings = LLMSettings()
    # YAML model catalogue (README, "Models"); unset = only the bundled local model.
    models_file: Path | None = Field(default=None, validation_alias=AliasChoices("PARLEY_MODELS", "PARLEY_MODELS_FILE"))
    # YAML plan file (README, "Plans and limits"): seeds the plans missing from the database at start-up;
    # unset = the built-in free, pro and enterprise plans.
    plans_file: Path | None = Field(default=None, validation_alias=AliasChoices("PARLEY_PLANS", "PARLEY_PLANS_FILE"))
    # Redis (optional): shared throttling, stream replay and stop signals across replicas.
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "PARLEY_REDIS_URL"))
    # Prefix of Parley's Redis keys and channels, for several deployments (or test runs) sharing one Redis.
    redis_key_prefix: str = Field(default="parley", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    # REDIS_URL names a node of a Redis Cluster (README, "Redis Cluster"): redis-py's cluster client, hash-tagged keys.
    redis_cluster: bool = Field(default=False, validation_alias=AliasChoices("REDIS_CLUSTER", "PARLEY_REDIS_CLUSTER"))
    # RabbitMQ (optional): wakes workers of every replica when a job is committed; the outbox stays the truth.
    rabbitmq_url: str | None = Field(default=None, validation_alias=AliasChoices("RABBITMQ_URL", "PARLEY_RABBITMQ_URL"))
    s3: S3Settings = S3Settings()
    files: FileSettings = FileSettings()
    images: ImageSettings = ImageSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    rag: RagSettings = RagSettings()
    jobs: JobSettings = JobSettings()
    batches: BatchSettings = BatchSettings()
    http: HttpSettings = HttpSettings()
    limits: LimitsSettings = LimitsSettings()
    scim: SCIMSettings = SCIMSettings()
    gdpr: GdprSettings = GdprSettings()
    oidc: OIDCSettings = OIDCSettings()
    # SAML 2.0 single sign-on (README, "Single sign-on (SAML 2.0)").
    saml: SAMLSettings = SAMLSettings()
    # Personal data in prompts to models (README, "PII"); log lines are masked whatever this says.
    privacy: PrivacySettings = PrivacySettings()
    # What reviewers see of a reported answer (README, "Reports and review").
    reports: ReportSettings = ReportSettings()
    # The prompt-injection check of users' messages (README, "Prompt injection").
    safety: SafetySettings = SafetySettings()
    # The tamper-evident audit trail's checkpoint signing (README, "Audit trail").
    audit: AuditSettings = AuditSettings()
    # HTTPS served by Parley itself (README, "TLS").
    tls: TLSSettings = TLSSettings()
    # Encryption at rest (README, "Encryption at rest"): where the key-encryption key comes from.
    crypto: CryptoSettings = CryptoSettings()
    # OpenTelemetry traces (README, "Traces"): off until `tracing.otlp_endpoint` is set.
    tracing: TracingSettings = TracingSettings()
    metrics: MetricsSettings = MetricsSettings()
    # prometheus-client's multiprocess directory: set by `parley serve --workers N` for its workers (or by a
    # deployment that runs several Parley processes per pod); read by /metrics to add their values up.
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    )
    web: WebSettings = WebSettings()
    # Multi-region (README, "Multi-region"): the region of this deployment (`eu-west-1`), recorded on the users it
    # creates (their home region) and the data it stores; unset = one region. `regions` maps every region to its
    # public URL, named to a user who signs in at the wrong one.
    region: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    regions: dict[str, str] = Field(default_factory=dict)
    # The first admin, created on first start when the database has no users.
    admin_email: str | None = None
    admin_password: SecretStr | None = None

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _database_url_uses_asyncpg(cls, value: str | None, info: ValidationInfo) -> str | None:
        return postgres_url(value, "DATABASE_READ_URL" if info.field_name == "database_read_url" else "DATABASE_URL")

    @model_validator(mode="after")
    def _read_replica_of_a_configured_primary(self) -> Settings:
        if self.database_read_url is not None and self.database_url is None:
            raise ValueError("DATABASE_READ_URL is a standby of DATABASE_URL: set DATABASE_URL too")
        return self

    @model_validator(mode="after")
    def _region_has_a_bucket(self) -> Settings:
        if self.s3.buckets and not self.s3.bucket and (self.region is None or self.region not in self.s3.buckets):
            raise ValueError(
                "PARLEY_S3__BUCKETS names no bucket for this deployment's region"
                f" ({self.region or 'PARLEY_REGION unset'}): add it or set PARLEY_S3__BUCKET"
            )
        return self

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
