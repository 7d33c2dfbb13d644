"""How Parley serves: HTTP limits, plan limits, the web app, traces, metrics, TLS (parts of
`parley.config.Settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)


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
