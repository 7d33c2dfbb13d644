"""Who may sign in and how: passwords and tokens, OpenID Connect, SCIM (parts of `parley.config.Settings`)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from parley.identity.mapping import GroupRoleMapping, load_entries


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


class SCIMSettings(BaseModel):
    """SCIM 2.0 provisioning (README, "Provisioning with SCIM 2.0"): the bearer token the identity provider's SCIM
    client presents at /scim/v2. Unset: only a token created by an admin (POST /api/v1/admin/scim/token) is
    accepted; with neither, SCIM is off."""

    token: SecretStr | None = Field(default=None, min_length=32)
