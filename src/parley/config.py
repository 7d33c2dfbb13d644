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
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.audit.settings import AuditSettings
from parley.crypto.settings import CryptoSettings
from parley.identity.mapping import GroupRoleMapping, load_entries
from parley.identity.saml_config import SAMLSettings
from parley.kit.postgres_url import libpq_spelling
from parley.llm.config import ModelCatalog, bundled_catalog
from parley.privacy.settings import PrivacySettings
from parley.reports.settings import ReportSettings


def _postgres_url(value: str | None, name: str = "DATABASE_URL") -> str | None:
    if not value:
        return None
    if value.startswith(("postgres://", "postgresql://")):
        # Accept the common libpq spelling and use the asyncpg driver for it.
        value = "postgresql+asyncpg://" + value.split("://", 1)[1]
    if not value.startswith("postgresql+asyncpg://"):
        raise ValueError(f"{name} must be a PostgreSQL URL (postgresql+asyncpg://user:pass@host/db)")
    return libpq_spelling(value)


class DatabaseSettings(BaseModel):
    """Connection pool of the one PostgreSQL database (its URL is `Settings.database_url`)."""

    # Kept open: a chat holds a connection for a few milliseconds at a time, but 100 concurrent chats need
    # dozens at once, and opening one costs more than a chat's whole request.
    pool_size: int = Field(default=40, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=500)
    # How long a request waits for a pool connection before it is answered 503 (with Retry-After) instead.
    pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    echo: bool = False
    # Read replica (`DATABASE_READ_URL`; README, "Read replicas"): its own pool, for the read-heavy queries only.
    read_pool_size: int = Field(default=20, ge=1, le=200)
    read_max_overflow: int = Field(default=10, ge=0, le=500)
    # Reads leave a replica that is more than this far behind the primary (or unreachable) for the primary.
    replica_max_lag_seconds: float = Field(default=10.0, gt=0, le=3600)
    # How often the replica's replay position and the primary's WAL position are compared.
    replica_check_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # A replica that does not answer within this long counts as down until its next good check.
    replica_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)


class AuthSettings(BaseModel):
    """Tokens, passwords and sign-in throttling."""

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "parley"
    jwt_audience: str = "parley-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # A refresh token presented again within this many seconds of its use gets the same new pair (tabs or
    # retries racing); later, presenting it again is theft and ends the session (RFC 9700, section 4.14.2).
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=300)
    registration_enabled: bool = True
    password_min_length: int = Field(default=12, ge=8, le=128)
    # argon2id cost; the defaults follow RFC 9106's second recommended option.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Sign-in throttling (auth/throttle.py; README, "Sign-in throttling"): slows guessing down, never locks the
    # rightful user out. Counted within the window:
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # failures of an account (from anywhere) before each further one doubles the wait for the next attempt
    # (1 s, 2 s, 4 s … up to login_slowdown_max_seconds), from addresses the account does not know;
    login_failures_per_account: int = Field(default=5, ge=1)
    login_slowdown_max_seconds: int = Field(default=60, ge=1, le=3600)
    # failures of an account from one address (or recognised browser) before that one is refused for the window;
    login_failures_per_account_and_address: int = Field(default=10, ge=1)
    # failures from one address, any accounts, before it is refused: high, as an office shares one NAT address.
    login_failures_per_ip: int = Field(default=300, ge=1)
    # An address or browser that signed in to an account stays recognised (exempt from the two above) this long.
    login_recognised_address_days: int = Field(default=30, ge=1, le=365)
    # False: nobody signs in with a password (single sign-on only) except the break-glass admin named here, who
    # keeps a way in when the identity provider is down or misconfigured.
    password_login_enabled: bool = True
    break_glass_email: str | None = None

    @field_validator("break_glass_email")
    @classmethod
    def _normalised_break_glass_email(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None


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
    # The in-process response cache (models with `cache:`, without REDIS_URL) keeps this much answer text at most.
    response_cache_max_mib: int = Field(default=64, ge=1, le=65_536)


class S3Settings(BaseModel):
    """S3 (or any S3-API server: MinIO, Ceph, moto). Setting `bucket` switches file storage from local files to S3."""

    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    # Key prefix inside the bucket, for several deployments sharing one bucket.
    prefix: str = Field(default="parley/", max_length=200)
    # Multi-region (README, "Multi-region"): the bucket and the KMS key (SSE-KMS) of each Parley region; a
    # deployment stores its uploads in its own region's (`PARLEY_REGION`), falling back to `bucket`/`kms_key_id`.
    buckets: dict[str, str] = Field(default_factory=dict)
    kms_key_id: str | None = None
    kms_key_ids: dict[str, str] = Field(default_factory=dict)

    def for_region(self, region: str | None) -> S3Settings:
        """These settings with the bucket and KMS key of `region` (unchanged when the region has none listed)."""
        if region is None:
            return self
        return self.model_copy(
            update={
                "bucket": self.buckets.get(region, self.bucket),
                "kms_key_id": self.kms_key_ids.get(region, self.kms_key_id),
            }
        )


class FileSettings(BaseModel):
    """Uploads: the limits that refuse archive bombs. The largest upload is a plan's (`max_upload_mib`)."""

    # OOXML (docx/xlsx/pptx) are zip files: refused before unpacking beyond these.
    zip_max_entries: int = Field(default=10_000, ge=1)
    zip_max_uncompressed_mib: int = Field(default=512, ge=1)
    zip_max_ratio: int = Field(default=100, ge=2)
    # Extracted text beyond this many characters is cut (a 100 MiB CSV is not a document).
    max_extracted_chars: int = Field(default=20_000_000, ge=1000)
    # Reading one file (in a child process of its own) may use this much memory and take this long; past
    # either the file fails with the reason. An Office part may expand to at most `ooxml_max_part_mib`.
    reading_memory_mib: int = Field(default=1024, ge=16)
    reading_timeout_seconds: float = Field(default=120.0, gt=0, le=86_400)
    ooxml_max_part_mib: int = Field(default=32, ge=1)
    # PDFs: pages read at most, and content interpreted per page (a bigger page is skipped) and in all.
    pdf_max_pages: int = Field(default=2000, ge=1)
    pdf_max_page_content_kib: int = Field(default=1024, ge=1)
    pdf_max_content_mib: int = Field(default=32, ge=1)
    # Chunks embedded per file at most (2,000: ~1,400 pages, about 12 min of e5-small on one core); text beyond
    # is cut, so a 190 MiB text file ends in bounded time.
    max_chunks_per_file: int = Field(default=2000, ge=1)


class ImageSettings(BaseModel):
    """Images in chat (README, "Images"): the largest image read, and how http(s) image URLs are fetched."""

    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    max_per_request: int = Field(default=20, ge=1, le=500)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_redirects: int = Field(default=3, ge=0, le=10)
    # Host names (or addresses) that may be fetched although they resolve to a private, loopback or link-local
    # address: an internal image server of the deployment. Everything else must resolve to public addresses.
    allowed_private_hosts: list[str] = Field(default_factory=list)


def _half_the_cores() -> int:
    return max(1, min(64, (os.cpu_count() or 2) // 2))


class EmbeddingSettings(BaseModel):
    """How text becomes vectors: the bundled model (default) or any OpenAI-compatible embeddings endpoint."""

    # e5-small: bundled multilingual-e5-small (default: a question in one language finds passages in another;
    # see bench/README.md, "Embeddings"); minilm: bundled all-MiniLM-L6-v2 int8 ONNX (English, ~3x faster);
    # openai: any OpenAI-compatible endpoint at `base_url`.
    provider: Literal["minilm", "e5-small", "openai"] = "e5-small"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "text-embedding-3-small"
    # Vectors are stored as vector(384); a remote model must be asked for 384 dimensions.
    dimensions: int = Field(default=384, ge=1, le=4096)
    batch_size: int = Field(default=32, ge=1, le=2048)
    # Threads that embed documents = cores ingestion may use (each model call runs single-threaded in one);
    # by default half the machine's, so uploads never take the cores the chat needs. Questions get one more
    # thread of their own, so a chat never waits for a running document batch.
    threads: int = Field(default_factory=_half_the_cores, ge=1, le=64)
    # Other names `/v1/embeddings` answers with the configured model (besides its own name and `default`), so
    # tools that ask for OpenAI's models by name work unchanged. JSON list; [] accepts only the two.
    aliases: list[str] = Field(
        default_factory=lambda: ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
    )
    # A remote endpoint (`openai`) gets texts with their personal data masked (`<EMAIL>`, `<PERSON>`): document
    # chunks, questions and /v1/embeddings inputs alike; `off` sends them as written. The bundled models never
    # send anything anywhere.
    pii_policy: Literal["off", "mask"] = "mask"


class RagSettings(BaseModel):
    """Chunking and retrieval."""

    chunk_tokens: int = Field(default=350, ge=32, le=4000)
    chunk_overlap_tokens: int = Field(default=50, ge=0, le=1000)
    top_k: int = Field(default=6, ge=1, le=50)
    # Fusion: score = sum over the arms of weight / (rrf_k + rank), the keyword arm's weight scaled by the
    # square of the chunk's coverage of the question; 0 switches an arm off. rrf_k 10 (not Cormack's 60) keeps
    # the vector arm's first places apart, and the keyword arm weighs less, so it lifts chunks that hold the
    # question's rare words without reordering the vector arm's good answers (chosen by measurement:
    # bench/README.md, "Search quality").
    rrf_k: int = Field(default=10, ge=1)
    vector_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=0.6, ge=0)
    # False: no vectors are made or stored for document chunks, and search is by keyword only (the blind index),
    # for deployments where an embedding (which places a chunk near others about the same thing, and may be
    # partly inverted) must not be kept either; questions are not embedded. Turned on later, files read while
    # it was off are found by keyword only until they are uploaded again (as after a change of model).
    vectors: bool = True
    # Candidates taken from each of the vector and the full-text search before fusion.
    candidates: int = Field(default=40, ge=1, le=1000)
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)
    # A question about files still being read waits this long for them before answering without them.
    ingestion_wait_seconds: float = Field(default=120.0, ge=0, le=3600)
    # "Summarise this document" reads at most this many whole documents (map-reduce over each).
    summary_max_documents: int = Field(default=5, ge=1, le=50)


class JobSettings(BaseModel):
    """Background jobs (ingestion …): the outbox table is the source of truth; a worker claims rows from it."""

    # In-process workers in each API process (0: this replica only serves requests).
    workers: int = Field(default=2, ge=0, le=64)
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # A claimed job whose worker died is taken again after its lease runs out.
    lease_seconds: float = Field(default=300.0, ge=5)
    max_attempts: int = Field(default=5, ge=1, le=100)
    # A job still running after this long is stopped and fails for good (not retried): one file cannot hold
    # a worker for hours.
    time_budget_seconds: float = Field(default=1800.0, gt=0, le=86_400)
    # Jobs of one user (an upload's owner) running at once, across replicas: the others wait, so one user's
    # files never hold every worker while someone else's upload waits. 0: no limit.
    max_running_per_owner: int = Field(default=1, ge=0, le=1000)


class BatchSettings(BaseModel):
    """OpenAI's Batch API on /v1 (`parley.batches`; README, "Batches"): lines run by the job workers, behind chat."""

    # Largest file /v1/files takes (a batch's input), in MiB.
    max_file_mib: int = Field(default=100, ge=1, le=1024)
    # Most lines (requests) one batch may hold.
    max_lines: int = Field(default=50_000, ge=1, le=1_000_000)
    # Batch lines running at once in one process, all batches together: the rest of the models' capacity is left
    # to chat, which never waits for a batch.
    concurrent_lines: int = Field(default=2, ge=1, le=64)
    # A batch's job runs its lines for about this long, then hands the worker back and is queued again (behind
    # the other users' jobs): one batch never holds a worker for long.
    slice_seconds: float = Field(default=20.0, gt=0, le=600)


class HttpSettings(BaseModel):
    """What one request may cost before it is authenticated and validated (`kit.request_guard`)."""

    # Largest request body in KiB, refused with 413 before it is read (and parsed, which costs the event loop
    # about 0.1 s per MiB of JSON): sign-in and token routes take a few hundred bytes; a chat message is up to
    # 100,000 characters (1.2 MB as JSON escapes); OpenAI clients send the whole conversation to /v1 (2 MiB is
    # about 500,000 tokens); every other JSON route gets the default. Uploads are limited by plan (`files`).
    max_auth_body_kib: int = Field(default=64, ge=1)
    max_json_body_kib: int = Field(default=1024, ge=1)
    max_chat_body_kib: int = Field(default=2048, ge=1)
    max_openai_body_kib: int = Field(default=2048, ge=1)
    # A 422 lists at most this many validation errors (and how many there were in all).
    max_validation_errors: int = Field(default=20, ge=1, le=1000)


class LimitsSettings(BaseModel):
    """Rate limits (`policy.rates`; README, "Rate limits"), counted in memory or, with REDIS_URL, across replicas."""

    # Requests one client address may make to the anonymous auth routes (register, sign in, refresh, sign out)
    # within any minute, on top of sign-in throttling: generous, as a whole office may share one NAT address,
    # but finite, so no one address can flood the password hashing.
    anonymous_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    # How long an answer's hold on its user's token quotas and budget (its reservation) outlives a process that
    # died while writing it; answers that end settle theirs at once.
    reservation_seconds: int = Field(default=900, ge=10, le=86_400)
    # How often the live quota ledger (memory or Redis) reloads an account in use from the record in PostgreSQL,
    # so spend it was not told of (a process that died between the two) counts again within this long.
    ledger_refresh_seconds: int = Field(default=300, ge=1, le=86_400)


class WebSettings(BaseModel):
    """The built web app (`web/spa.py`; README, "Static assets and a CDN")."""

    # Base URL of a CDN that pulls Parley's /assets/ path (e.g. https://cdn.example.com): the served index.html
    # then loads the content-hashed assets from `<cdn_url>/assets/...`. Unset: everything from this origin.
    cdn_url: str | None = Field(default=None, pattern=r"^https?://[^\s\"'<>]+$", max_length=500)

    @field_validator("cdn_url")
    @classmethod
    def _without_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None


class TracingSettings(BaseModel):
    """OpenTelemetry traces (`parley.tracing`; README, "Traces"), sent over OTLP/HTTP to a collector. Without an
    endpoint nothing is traced and nothing is installed: the request path pays nothing for it."""

    # Off switch that keeps the endpoint configured (e.g. in a Helm values file).
    enabled: bool = True
    # The collector's OTLP/HTTP address, e.g. http://otel-collector:4318 (spans go to <endpoint>/v1/traces; a URL
    # already ending in /v1/traces is used as it is). PARLEY_TRACING__OTLP_ENDPOINT.
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500)
    # Headers sent with every export (a vendor's API key): PARLEY_TRACING__HEADERS='{"x-api-key": "..."}'.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # Share of new traces recorded (0..1); a request arriving with a sampled `traceparent` is always recorded.
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # The `service.name` resource attribute the spans are filed under.
    service_name: str = Field(default="parley", min_length=1, max_length=100)
    # Seconds a shutdown waits for the last spans to be sent.
    export_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @property
    def active(self) -> bool:
        return self.enabled and self.otlp_endpoint is not None


class MetricsSettings(BaseModel):
    """The Prometheus metrics at `GET /metrics` (`parley.metrics`; README, "Metrics")."""

    # Bearer token that lets clients other than loopback ones read /metrics on the main port
    # (PARLEY_METRICS__TOKEN); unset: loopback clients only.
    token: SecretStr | None = Field(default=None, min_length=16)
    # Serve /metrics on this port instead (an internal port, open to whoever reaches it), not on the main one.
    port: int | None = Field(default=None, ge=1, le=65_535)
    # Address of that port (unset: the main `host`).
    host: str | None = None
    # How often the gauges read from state (database pool, job queue, circuit breakers) are refreshed.
    refresh_seconds: float = Field(default=10.0, gt=0, le=600)
    # Set by `parley serve --workers N` for its workers: the supervisor serves `port` over all of them.
    port_served_by_supervisor: bool = False


class OIDCClaimMapping(GroupRoleMapping):
    """Which claims of a provider's ID token or userinfo say who the user is (and, through `groups`, what they
    may do: `GroupRoleMapping`)."""

    email: str = "email"
    email_verified: str = "email_verified"
    name: str = "name"
    # The claim holding the user's groups (a list of names, or one name); null: the provider sends none.
    groups: str | None = "groups"


class OIDCProviderSettings(BaseModel):
    """One OpenID Provider (Entra ID, Okta, Keycloak, Google…), found through its issuer's discovery document."""

    model_config = ConfigDict(extra="forbid")

    # In URLs (/api/v1/auth/oidc/<id>/login) and stored with each linked identity: keep it once chosen.
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    display_name: str = Field(min_length=1, max_length=100)
    issuer: str = Field(pattern=r"^https?://[^\s]+$")
    client_id: str = Field(min_length=1)
    # The NAME of the environment variable holding the client secret; the secret itself never goes in settings
    # files. Null: a public client (PKCE only).
    client_secret_env: str | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    claims: OIDCClaimMapping = OIDCClaimMapping()
    # True: this provider only asserts addresses it controls (e.g. Entra ID with the tenant's own domains, which
    # sends no email_verified claim), so its emails count as verified for linking to existing accounts.
    emails_verified: bool = False
    # Only emails of these domains may sign in here (empty: any).
    allowed_email_domains: list[str] = Field(default_factory=list)
    # Read from `client_secret_env` when the settings are loaded.
    client_secret: SecretStr | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _secret_from_environment(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if "client_secret" in data:
            raise ValueError("put the client secret in an environment variable and name it in client_secret_env")
        env = data.get("client_secret_env")
        if env:
            secret = os.environ.get(str(env))
            if not secret:
                raise ValueError(f"the environment variable {env} (client_secret_env) is not set")
            data = {**data, "client_secret": secret}
        return data

    @model_validator(mode="after")
    def _openid_scope_and_domains(self) -> OIDCProviderSettings:
        if "openid" not in self.scopes:
            self.scopes = ["openid", *self.scopes]
        self.allowed_email_domains = [domain.strip().lower().lstrip("@") for domain in self.allowed_email_domains]
        self.issuer = self.issuer.rstrip("/")
        return self


class OIDCSettings(BaseModel):
    """OpenID Connect single sign-on (README, "Single sign-on (OpenID Connect)"): `providers` as JSON
    (PARLEY_OIDC__PROVIDERS), and/or a YAML file with a top-level `providers:` list (PARLEY_OIDC__PROVIDERS_FILE)."""

    providers: list[OIDCProviderSettings] = Field(default_factory=list)
    providers_file: Path | None = None
    # A sign-in started at the provider must come back within this many seconds.
    login_timeout_seconds: int = Field(default=600, ge=30, le=3600)
    # Clock difference tolerated when checking an ID token's exp and iat.
    clock_skew_seconds: int = Field(default=60, ge=0, le=600)

    @model_validator(mode="after")
    def _file_and_unique_ids(self) -> OIDCSettings:
        if self.providers_file is not None:
            loaded = load_entries(self.providers_file, "providers", OIDCProviderSettings, what="OIDC providers")
            self.providers = [*self.providers, *loaded]
            self.providers_file = None
        ids = [provider.id for provider in self.providers]
        duplicates = sorted({provider_id for provider_id in ids if ids.count(provider_id) > 1})
        if duplicates:
            raise ValueError(f"OIDC provider ids must be unique: {', '.join(duplicates)}")
        return self


class TLSSettings(BaseModel):
    """HTTPS served by Parley itself (README, "TLS"): both files set turn it on (`parley serve --tls-cert/--tls-key`
    override them). Terminating TLS at a proxy or ingress instead needs none of this."""

    cert_file: Path | None = None
    key_file: Path | None = None
    # The oldest protocol version accepted: TLS 1.3 only unless an old client base needs 1.2.
    min_version: Literal["1.2", "1.3"] = "1.3"
    # Strict-Transport-Security on every response to an HTTPS request (0: no header).
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0, le=63_072_000)
    hsts_include_subdomains: bool = False

    @model_validator(mode="after")
    def _both_files_or_neither(self) -> TLSSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("PARLEY_TLS__CERT_FILE and PARLEY_TLS__KEY_FILE go together: set both or neither")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class SCIMSettings(BaseModel):
    """SCIM 2.0 provisioning (README, "Provisioning with SCIM 2.0"): the bearer token the identity provider's SCIM
    client presents at /scim/v2. Unset: only a token created by an admin (POST /api/v1/admin/scim/token) is
    accepted; with neither, SCIM is off."""

    token: SecretStr | None = Field(default=None, min_length=32)


class GdprSettings(BaseModel):
    """Data exports, erasure and retention (README, "Your data: export, erasure and retention")."""

    # A finished export can be downloaded for this long; then the worker deletes its zip.
    export_expiry_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Exports one user may start per rolling 24 hours (one at a time in any case); more is a 429 with Retry-After.
    exports_per_day: int = Field(default=3, ge=1, le=100)
    # Deleting one's account without a password (single sign-on only): the session must have signed in this
    # recently, else the user is asked to sign in again.
    reauthentication_minutes: int = Field(default=10, ge=1, le=1440)
    # How often the job worker applies the plans' and groups' retention policies.
    retention_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # Rows deleted per transaction by retention (short transactions: big tables are never locked for long).
    retention_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Key of the keyed hash that names an erased account in the audit trail and usage records; unset: generated
    # on first start into `<data dir>/tombstone-key` (0600). Keep it to prove later that a given id was erased.
    tombstone_key: SecretStr | None = Field(default=None, min_length=32)


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
        return _postgres_url(value, "DATABASE_READ_URL" if info.field_name == "database_read_url" else "DATABASE_URL")

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
