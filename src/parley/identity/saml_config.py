"""Settings of SAML 2.0 single sign-on (README, "Single sign-on (SAML 2.0)"), nested in `Settings.saml`.

Kept beside the SAML code rather than in `parley.config` (which imports this module, as it does `llm.config`) so the
settings file stays small; it imports only the mapping every identity provider shares (`identity.mapping`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parley.identity.mapping import GroupRoleMapping, load_entries


class SAMLAttributeMapping(GroupRoleMapping):
    """Which attributes of an assertion say who the user is (and, through `groups`, what they may do:
    `GroupRoleMapping`; point `groups` at a role attribute, e.g. Entra ID's app roles, to decide by role). A name
    matches an attribute's `Name` (e.g. `http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress`) or
    its `FriendlyName`."""

    # Unset or absent from the assertion: the NameID, when its format is emailAddress.
    email: str | None = "email"
    name: str | None = "name"
    # The user's stable id at the IdP; unset: the assertion's NameID (configure the IdP to send a persistent one).
    subject: str | None = None
    # The attribute holding the user's groups (several values); null: the IdP sends none.
    groups: str | None = "groups"


class SAMLIdPSettings(BaseModel):
    """One SAML identity provider (Entra ID, Okta, Keycloak, AD FS…), known by its metadata."""

    model_config = ConfigDict(extra="forbid")

    # In URLs (/api/v1/auth/saml/<id>/acs) and stored with each linked identity: keep it once chosen.
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    display_name: str = Field(min_length=1, max_length=100)
    # The IdP's metadata: a file, or a URL read at start-up (exactly one of the two).
    metadata_file: Path | None = None
    metadata_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Which entity of the metadata is the IdP; unset: the only IdP the metadata describes.
    entity_id: str | None = None
    # The entity id Parley presents to this IdP; unset: the URL of its SP metadata
    # (<base_url>/api/v1/auth/saml/<id>/metadata).
    sp_entity_id: str | None = None
    attributes: SAMLAttributeMapping = SAMLAttributeMapping()
    # SAML has no "verified" flag: a signed assertion's address is taken as the IdP's word, which is right for an
    # IdP that owns its users' addresses (Entra ID, Okta, AD FS). False for an IdP where users set their own
    # address (e.g. Keycloak with self-service profiles): then nobody is linked or created by email.
    emails_verified: bool = True
    # Only emails of these domains may sign in here (empty: any).
    allowed_email_domains: list[str] = Field(default_factory=list)
    # Sign-ins started at the IdP (its app portal): no AuthnRequest of Parley's to answer.
    idp_initiated: bool = True
    # Sign the AuthnRequests Parley sends (for IdPs that require it).
    sign_requests: bool = False

    @model_validator(mode="after")
    def _one_metadata_source(self) -> SAMLIdPSettings:
        if (self.metadata_file is None) == (self.metadata_url is None):
            raise ValueError(f"SAML IdP {self.id}: give exactly one of metadata_file and metadata_url")
        self.allowed_email_domains = [domain.strip().lower().lstrip("@") for domain in self.allowed_email_domains]
        return self


class SAMLSettings(BaseModel):
    """SAML 2.0 single sign-on: `idps` as JSON (PARLEY_SAML__IDPS), and/or a YAML file with a top-level `idps:`
    list (PARLEY_SAML__IDPS_FILE). Parley's own key and certificate (signing requests, decrypting assertions) come
    from `key_file`/`cert_file`, or are generated once into `<data_dir>/saml/` and kept."""

    idps: list[SAMLIdPSettings] = Field(default_factory=list)
    idps_file: Path | None = None
    # The address users reach Parley at (e.g. https://chat.example.com): the ACS URL and entity ids are built
    # from it. Unset: taken from each request (behind a proxy, it must pass X-Forwarded-Proto and Host).
    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    key_file: Path | None = None
    cert_file: Path | None = None
    # An AuthnRequest must be answered within this many seconds.
    login_timeout_seconds: int = Field(default=600, ge=30, le=3600)
    # Clock difference tolerated when checking an assertion's NotBefore and NotOnOrAfter.
    clock_skew_seconds: int = Field(default=60, ge=0, le=600)

    @model_validator(mode="after")
    def _file_and_unique_ids(self) -> SAMLSettings:
        if (self.key_file is None) != (self.cert_file is None):
            raise ValueError("SAML: give both key_file and cert_file, or neither (they are then generated)")
        if self.base_url is not None:
            self.base_url = self.base_url.rstrip("/")
        if self.idps_file is not None:
            loaded = load_entries(self.idps_file, "idps", SAMLIdPSettings, what="SAML IdPs")
            self.idps = [*self.idps, *loaded]
            self.idps_file = None
        ids = [idp.id for idp in self.idps]
        duplicates = sorted({idp_id for idp_id in ids if ids.count(idp_id) > 1})
        if duplicates:
            raise ValueError(f"SAML IdP ids must be unique: {', '.join(duplicates)}")
        return self
