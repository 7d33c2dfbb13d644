"""SAML 2.0 service provider: AuthnRequests to an IdP and the checking of its answers, with pysaml2 (which runs
Debian's xmlsec1 for XML signatures).

`SAMLServiceProvider` does the protocol and nothing else: it builds Parley's SP metadata, sends the browser to the
IdP with an AuthnRequest (HTTP-Redirect binding) and checks the Response posted back to the ACS: a signature by
the IdP's key from its metadata over the assertion or the whole response (an unsigned one is refused), the
issuer, the audience, the recipient and destination, NotBefore/NotOnOrAfter, and InResponseTo against the
request the caller remembered. It hands back an `ExternalProfile` and the assertion's id and expiry; refusing a
replayed assertion, and what the identity means in Parley, belong to `identity.service` and `saml_service`.

pysaml2 is synchronous and forks xmlsec1, so its work runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import functools
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError

import anyio
import httpx

from parley.identity.saml_config import SAMLIdPSettings, SAMLSettings
from parley.identity.saml_keys import SPKeyPair, sp_key_pair
from parley.identity.service import ExternalProfile, IdentityPolicy, SignInRefused

if TYPE_CHECKING:
    from saml2.client import Saml2Client  # type: ignore[import-untyped]


@functools.cache
def _pysaml2() -> Any:
    """pysaml2, imported by the first SAML request rather than by every Parley process: with xmlschema under it,
    it takes seconds to import on a busy machine, which every `parley serve --workers N` process paid at start-up
    (README, "Several processes")."""
    import saml2  # type: ignore[import-untyped]
    from saml2.client import Saml2Client
    from saml2.config import SPConfig  # type: ignore[import-untyped]
    from saml2.metadata import create_metadata_string  # type: ignore[import-untyped]
    from saml2.response import StatusError  # type: ignore[import-untyped]
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS  # type: ignore[import-untyped]
    from saml2.samlp import response_from_string  # type: ignore[import-untyped]
    from saml2.sigver import SIG_RSA_SHA256  # type: ignore[import-untyped]
    from saml2.time_util import str_to_time  # type: ignore[import-untyped]
    from saml2.validate import ResponseLifetimeExceed, ToEarly  # type: ignore[import-untyped]

    return SimpleNamespace(
        BINDING_HTTP_POST=saml2.BINDING_HTTP_POST,
        BINDING_HTTP_REDIRECT=saml2.BINDING_HTTP_REDIRECT,
        Saml2Client=Saml2Client,
        SPConfig=SPConfig,
        create_metadata_string=create_metadata_string,
        StatusError=StatusError,
        NAMEID_FORMAT_EMAILADDRESS=NAMEID_FORMAT_EMAILADDRESS,
        response_from_string=response_from_string,
        SIG_RSA_SHA256=SIG_RSA_SHA256,
        str_to_time=str_to_time,
        ResponseLifetimeExceed=ResponseLifetimeExceed,
        ToEarly=ToEarly,
    )


KIND = "saml"
_log = logging.getLogger(__name__)
_METADATA_TTL_SECONDS = 3600.0
_METADATA_RETRY_SECONDS = 300.0
# An IdP's Response is a few kilobytes; a generous bound keeps the XML parsers away from megabytes of input.
MAX_RESPONSE_CHARS = 512 * 1024
# Clients kept per IdP, one per base URL Parley was reached at (when `base_url` is unset, the Host header picks it).
_MAX_CLIENTS = 8


def _refused(code: str, message: str, *, status: int = 401) -> SignInRefused:
    return SignInRefused(code, message, status=status)


@dataclass(frozen=True)
class SAMLSignIn:
    """A checked assertion: who the IdP says the user is, and the assertion's identity for replay protection."""

    profile: ExternalProfile
    assertion_id: str
    issuer: str
    expires_at: datetime


def peek_in_response_to(saml_response: str) -> str | None:
    """The InResponseTo of a posted (base64) Response, read before anything is trusted, to find the request it
    answers. Malformed input is refused here, as a 400."""
    try:
        # pysaml2's parser refuses entities and DTDs (defusedxml): no billion laughs, no external entities.
        document = _pysaml2().response_from_string(base64.b64decode(saml_response, validate=False))
    except (binascii.Error, ValueError, ParseError) as exc:
        raise _refused("response_malformed", "The identity provider's answer cannot be read.", status=400) from exc
    if document is None:
        raise _refused("response_malformed", "The identity provider's answer is not a SAML Response.", status=400)
    value = document.in_response_to
    return str(value) if value else None


class SAMLServiceProvider:
    """Parley as the service provider of one configured IdP."""

    def __init__(self, settings: SAMLIdPSettings, saml: SAMLSettings, keys: SPKeyPair) -> None:
        self.settings = settings
        self._saml = saml
        self._keys = keys
        self._idp_metadata: str | None = None
        self._idp_metadata_at = 0.0
        self._clients: dict[tuple[str, bool], Saml2Client] = {}
        self._lock = asyncio.Lock()
        # pysaml2 keeps per-client state (its cache of people seen): one thread in a client at a time.
        self._thread_lock = threading.Lock()

    @property
    def policy(self) -> IdentityPolicy:
        return IdentityPolicy.of(self.settings.attributes, allowed_email_domains=self.settings.allowed_email_domains)

    def urls(self, base_url: str) -> tuple[str, str, str]:
        """Parley's entity id, metadata URL and ACS URL for this IdP."""
        base = (self._saml.base_url or base_url).rstrip("/")
        metadata = f"{base}/api/v1/auth/saml/{self.settings.id}/metadata"
        return self.settings.sp_entity_id or metadata, metadata, f"{base}/api/v1/auth/saml/{self.settings.id}/acs"

    # The IdP's metadata and pysaml2's clients -------------------------------------------------------------

    async def _metadata_of_idp(self) -> str:
        if self._idp_metadata is not None and (
            self.settings.metadata_file is not None or time.monotonic() - self._idp_metadata_at < _METADATA_TTL_SECONDS
        ):
            return self._idp_metadata
        if self.settings.metadata_file is not None:
            try:
                document = await anyio.Path(self.settings.metadata_file).read_text()
            except OSError as exc:
                raise _refused(
                    "provider_misconfigured", f"{self.settings.display_name}'s metadata cannot be read.", status=502
                ) from exc
        else:
            assert self.settings.metadata_url is not None
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
                    response = await http.get(self.settings.metadata_url)
                response.raise_for_status()
                document = response.text
            except httpx.HTTPError as exc:
                if self._idp_metadata is not None:
                    # The IdP's metadata server is down, not the IdP: keep the last copy, try again in a while.
                    _log.warning("SAML IdP %s: metadata not refreshed: %s", self.settings.id, exc)
                    self._idp_metadata_at = time.monotonic() - _METADATA_TTL_SECONDS + _METADATA_RETRY_SECONDS
                    return self._idp_metadata
                raise _refused(
                    "provider_unavailable", f"{self.settings.display_name} cannot be reached right now.", status=503
                ) from exc
        self._idp_metadata, self._idp_metadata_at = document, time.monotonic()
        self._clients.clear()
        return document

    def _config(self, base_url: str, idp_metadata: str, *, unsolicited: bool) -> Any:
        entity_id, _, acs = self.urls(base_url)
        keys = {"key_file": str(self._keys.key_file), "cert_file": str(self._keys.cert_file)}
        config = _pysaml2().SPConfig()
        config.load(
            {
                "entityid": entity_id,
                **keys,
                "encryption_keypairs": [keys],
                "xmlsec_binary": _xmlsec(),
                "metadata": {"inline": [idp_metadata]},
                "accepted_time_diff": self._saml.clock_skew_seconds,
                "allow_unknown_attributes": True,
                "service": {
                    "sp": {
                        "name": "Parley",
                        "endpoints": {"assertion_consumer_service": [(acs, _pysaml2().BINDING_HTTP_POST)]},
                        "allow_unsolicited": unsolicited,
                        "authn_requests_signed": self.settings.sign_requests,
                        # One of the two must be signed by the IdP; either is enough (Entra ID signs the
                        # assertion by default, Okta and Keycloak can sign either or both).
                        "want_assertions_signed": False,
                        "want_response_signed": False,
                        "want_assertions_or_response_signed": True,
                    }
                },
            }
        )
        return config

    async def _client(self, base_url: str, *, unsolicited: bool = False) -> Saml2Client:
        async with self._lock:
            metadata = await self._metadata_of_idp()
            key = ((self._saml.base_url or base_url), unsolicited)
            client = self._clients.get(key)
            if client is None:
                try:
                    config = await anyio.to_thread.run_sync(
                        lambda: self._config(base_url, metadata, unsolicited=unsolicited)
                    )
                    client = _pysaml2().Saml2Client(config=config)
                except Exception as exc:  # pysaml2 raises whatever its parsers do on bad metadata.
                    _log.warning("SAML IdP %s: metadata not usable: %s", self.settings.id, exc)
                    raise _refused(
                        "provider_misconfigured",
                        f"{self.settings.display_name}'s metadata cannot be used.",
                        status=502,
                    ) from exc
                if len(self._clients) >= _MAX_CLIENTS:
                    self._clients.pop(next(iter(self._clients)))
                self._clients[key] = client
            return client

    def _idp_entity_id(self, client: Saml2Client) -> str:
        known = list(client.metadata.identity_providers())
        if self.settings.entity_id is not None:
            if self.settings.entity_id not in known:
                raise _refused(
                    "provider_misconfigured",
                    f"{self.settings.display_name}'s metadata does not describe {self.settings.entity_id}.",
                    status=502,
                )
            return self.settings.entity_id
        if len(known) != 1:
            raise _refused(
                "provider_misconfigured",
                f"{self.settings.display_name}'s metadata describes {len(known)} IdPs: name one in entity_id.",
                status=502,
            )
        return str(known[0])

    # The protocol -----------------------------------------------------------------------------------------

    async def sp_metadata(self, base_url: str) -> str:
        """Parley's SP metadata for this IdP (entity id, ACS, certificate): the same document on every call."""
        client = await self._client(base_url)
        document = await anyio.to_thread.run_sync(lambda: _pysaml2().create_metadata_string(None, config=client.config))
        return document.decode() if isinstance(document, bytes) else str(document)

    async def login_url(self, base_url: str) -> tuple[str, str]:
        """An AuthnRequest to the IdP: its id (to remember for InResponseTo) and the URL to send the browser to."""
        client = await self._client(base_url)
        idp = self._idp_entity_id(client)

        def prepare() -> tuple[str, dict[str, Any]]:
            with self._thread_lock:
                request_id, info = client.prepare_for_authenticate(
                    entityid=idp,
                    binding=_pysaml2().BINDING_HTTP_REDIRECT,
                    sign=self.settings.sign_requests,
                    sigalg=_pysaml2().SIG_RSA_SHA256 if self.settings.sign_requests else None,
                )
            return str(request_id), info

        try:
            request_id, info = await anyio.to_thread.run_sync(prepare)
        except Exception as exc:  # e.g. the IdP's metadata has no HTTP-Redirect SSO endpoint.
            _log.warning("SAML IdP %s: cannot build an AuthnRequest: %s", self.settings.id, exc)
            raise _refused(
                "provider_misconfigured",
                f"{self.settings.display_name} cannot be sent a sign-in request (HTTP-Redirect binding).",
                status=502,
            ) from exc
        location = dict(info["headers"]).get("Location")
        if not location:
            raise _refused("provider_misconfigured", "The sign-in request has no destination.", status=502)
        return request_id, str(location)

    async def consume(self, base_url: str, saml_response: str, *, in_response_to: str | None) -> SAMLSignIn:
        """Check a Response posted to the ACS. `in_response_to`: the id of the request of Parley's it answers
        (already found and used up by the caller), or None for an IdP-initiated sign-in."""
        unsolicited = in_response_to is None
        if unsolicited and not self.settings.idp_initiated:
            raise _refused(
                "unsolicited_response",
                f"Sign-ins started at {self.settings.display_name} are not accepted here. Start from Parley.",
            )
        client = await self._client(base_url, unsolicited=unsolicited)
        idp = self._idp_entity_id(client)
        outstanding = {in_response_to: "/"} if in_response_to else {}

        def parse() -> Any:
            with self._thread_lock:
                return client.parse_authn_request_response(
                    saml_response, _pysaml2().BINDING_HTTP_POST, outstanding=outstanding
                )

        try:
            response = await anyio.to_thread.run_sync(parse)
        except _pysaml2().StatusError as exc:
            raise _refused("provider_error", f"{self.settings.display_name} did not sign you in.", status=400) from exc
        except (_pysaml2().ResponseLifetimeExceed, _pysaml2().ToEarly) as exc:
            raise _refused("assertion_expired", "The sign-in assertion is expired or not yet valid.") from exc
        except Exception as exc:  # pysaml2 signals every other failed check with its own (or a bare) exception.
            raise _classified(exc) from exc
        if response is None or response.assertion is None:
            raise _refused("response_invalid", "The identity provider's answer is not addressed to this service.")
        try:
            return self._sign_in(response, idp=idp, in_response_to=in_response_to)
        except (AttributeError, TypeError, ValueError) as exc:
            # A verified assertion missing parts this reads (an issuer without text, a time pysaml2 let by).
            raise _refused("response_invalid", "The identity provider's answer is incomplete.") from exc

    def _sign_in(self, response: Any, *, idp: str, in_response_to: str | None) -> SAMLSignIn:
        assertion = response.assertion
        issuer = assertion.issuer.text.strip() if assertion.issuer is not None and assertion.issuer.text else ""
        # The metadata may describe other entities (a federation); only the configured IdP's word counts.
        outer = response.response.issuer
        if issuer != idp or (outer is not None and (outer.text or "").strip() != idp):
            raise _refused("issuer_mismatch", "The assertion was issued by another identity provider.")
        confirmations = assertion.subject.subject_confirmation if assertion.subject is not None else []
        answered = {
            confirmation.subject_confirmation_data.in_response_to
            for confirmation in confirmations
            if confirmation.subject_confirmation_data is not None
        }
        # A Response stripped of its InResponseTo to pass as IdP-initiated still carries the request it answered.
        if answered - {None, in_response_to}:
            raise _refused("in_response_to_mismatch", "The assertion answers another sign-in request.")
        if not assertion.id:
            raise _refused("response_invalid", "The assertion has no ID.")
        attributes = _attributes(assertion)
        mapping = self.settings.attributes
        name_id = response.name_id
        name_id_value = name_id.text.strip() if name_id is not None and name_id.text else None
        email = _first(attributes, mapping.email)
        if email is None and name_id is not None and name_id.format == _pysaml2().NAMEID_FORMAT_EMAILADDRESS:
            email = name_id_value
        subject = _first(attributes, mapping.subject) if mapping.subject else name_id_value
        if not subject:
            raise _refused("subject_missing", "The identity provider did not say who you are (no NameID).")
        groups = list(attributes.get(mapping.groups, [])) if mapping.groups else []
        profile = ExternalProfile(
            kind=KIND,
            provider=self.settings.id,
            subject=subject[:255],
            email=email,
            email_verified=self.settings.emails_verified,
            full_name=_first(attributes, mapping.name),
            groups=groups,
        )
        return SAMLSignIn(profile=profile, assertion_id=str(assertion.id), issuer=issuer, expires_at=_expiry(assertion))


def _xmlsec() -> str:
    binary = shutil.which("xmlsec1")
    if binary is None:
        raise _refused("provider_misconfigured", "xmlsec1 is not installed on this server.", status=503)
    return binary


def _classified(exc: Exception) -> SignInRefused:
    """A reason a person (and the audit trail) can act on, from whatever pysaml2 raised."""
    text = f"{type(exc).__name__}: {exc}"
    _log.info("SAML response refused: %s", text[:500])
    lowered = text.lower()
    if "audience" in lowered:
        return _refused("audience_mismatch", "The assertion is meant for another service, not this one.")
    if "signature" in lowered or "signed" in lowered or "xmlsec" in lowered:
        return _refused("signature_invalid", "The identity provider's signature is missing or not valid.")
    if "recall" in lowered or "unsolicited" in lowered or "session id" in lowered:
        return _refused("in_response_to_mismatch", "The assertion answers another sign-in request.")
    if "recipient" in lowered or "destination" in lowered:
        return _refused("response_invalid", "The identity provider's answer is not addressed to this service.")
    if isinstance(exc, (binascii.Error, ParseError)) or "xml" in lowered:
        return _refused("response_malformed", "The identity provider's answer cannot be read.", status=400)
    return _refused("response_invalid", "The identity provider's answer is not valid.")


def _attributes(assertion: Any) -> dict[str, list[str]]:
    """Attribute values by Name and by FriendlyName."""
    found: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [
                value.text.strip() for value in attribute.attribute_value or [] if value.text and value.text.strip()
            ]
            for name in {attribute.name, attribute.friendly_name} - {None, ""}:
                found.setdefault(str(name), []).extend(values)
    return found


def _first(attributes: dict[str, list[str]], name: str | None) -> str | None:
    values = attributes.get(name, []) if name else []
    return values[0] if values else None


def _expiry(assertion: Any) -> datetime:
    """When the assertion stops being acceptable: the earliest NotOnOrAfter it carries (checked already)."""
    moments = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        moments.append(assertion.conditions.not_on_or_after)
    for confirmation in assertion.subject.subject_confirmation if assertion.subject is not None else []:
        data = confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            moments.append(data.not_on_or_after)
    if not moments:
        # No expiry at all: remember it for a day, longer than pysaml2 accepts any response's IssueInstant.
        return datetime.now(UTC) + timedelta(days=1)
    return min(datetime.fromtimestamp(calendar.timegm(_pysaml2().str_to_time(moment)), UTC) for moment in moments)


class SAMLProviders:
    """The configured IdPs by id, built once at start-up (app.state.saml)."""

    def __init__(self, settings: SAMLSettings, keys: SPKeyPair | None) -> None:
        self.providers = (
            {idp.id: SAMLServiceProvider(idp, settings, keys) for idp in settings.idps} if keys is not None else {}
        )

    def get(self, idp: str) -> SAMLServiceProvider | None:
        return self.providers.get(idp)


def key_pair_if_needed(settings: SAMLSettings, data_dir: Path) -> SPKeyPair | None:
    """Parley's SP key pair when any IdP is configured (none is generated for installs without SAML)."""
    return sp_key_pair(settings, data_dir) if settings.idps else None
