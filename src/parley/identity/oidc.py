"""OpenID Connect relying party: the authorization code flow with PKCE against any provider found by discovery.

`OIDCClient` does the protocol and nothing else: it builds the authorization URL, trades the code for tokens,
checks the ID token (signature over the provider's JWKS, iss, aud, azp, exp, iat, nonce) and fetches userinfo when
the ID token lacks claims; `identity.service` decides what the identity means in Parley. Discovery documents and
JWKS are cached per provider; an ID token signed with a key the cache does not know (the provider rotated its
keys) fetches the JWKS again, once, before it is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.base_client.errors import OAuthError  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from parley.config import OIDCProviderSettings, OIDCSettings
from parley.identity.service import ExternalProfile, IdentityPolicy, SignInRefused

KIND = "oidc"
# Only asymmetric signatures: `none` and HMAC (keyed with the client secret, or tricked into using a public key as
# one) are refused whatever the token's header says.
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
_METADATA_TTL_SECONDS = 3600.0
_HTTP_TIMEOUT = httpx.Timeout(10.0)


def _refused(code: str, message: str, *, status: int = 401) -> SignInRefused:
    return SignInRefused(code, message, status=status)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None


@dataclass(frozen=True)
class SignedInAtProvider:
    """The outcome of a callback: who the provider says the user is."""

    profile: ExternalProfile
    claims: dict[str, Any]


class OIDCClient:
    """One configured provider."""

    def __init__(self, settings: OIDCProviderSettings, *, clock_skew_seconds: int) -> None:
        self.settings = settings
        self._clock_skew = clock_skew_seconds
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    @property
    def policy(self) -> IdentityPolicy:
        return IdentityPolicy.of(self.settings.claims, allowed_email_domains=self.settings.allowed_email_domains)

    # Discovery and keys ------------------------------------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:
                response = await http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _refused(
                "provider_unavailable", f"{self.settings.display_name} cannot be reached right now.", status=503
            ) from exc
        if not isinstance(document, dict):
            raise _refused("provider_unavailable", f"{self.settings.display_name} answered with nonsense.", status=502)
        return document

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (cached for an hour); its issuer must be the configured one."""
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > _METADATA_TTL_SECONDS:
                document = await self._get_json(f"{self.settings.issuer}/.well-known/openid-configuration")
                issuer = str(document.get("issuer", "")).rstrip("/")
                if issuer != self.settings.issuer:
                    raise _refused(
                        "provider_misconfigured",
                        f"{self.settings.display_name}'s discovery document names another issuer.",
                        status=502,
                    )
                try:
                    self._metadata = ProviderMetadata(
                        issuer=str(document["issuer"]),
                        authorization_endpoint=str(document["authorization_endpoint"]),
                        token_endpoint=str(document["token_endpoint"]),
                        jwks_uri=str(document["jwks_uri"]),
                        userinfo_endpoint=document.get("userinfo_endpoint"),
                        end_session_endpoint=document.get("end_session_endpoint"),
                    )
                except KeyError as exc:
                    raise _refused(
                        "provider_misconfigured",
                        f"{self.settings.display_name}'s discovery document lacks {exc.args[0]}.",
                        status=502,
                    ) from exc
                self._metadata_at = time.monotonic()
            return self._metadata

    async def _fetch_keys(self) -> KeySet:
        metadata = await self.metadata()
        document = await self._get_json(metadata.jwks_uri)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise _refused("provider_misconfigured", "The provider's signing keys cannot be read.", status=502) from exc
        self._keys = keys
        return keys

    async def _keys_for(self, kid: str | None) -> KeySet:
        """The cached JWKS, fetched again (once) when it lacks the key `kid` names: keys rotate at the provider."""
        keys = self._keys or await self._fetch_keys()
        if kid is not None and not _has_kid(keys, kid):
            keys = await self._fetch_keys()
            if not _has_kid(keys, kid):
                raise _refused("id_token_invalid", "The sign-in was signed with a key the provider does not publish.")
        return keys

    # The flow ---------------------------------------------------------------------------------------------

    def _oauth_client(self, redirect_uri: str) -> AsyncOAuth2Client:
        secret = self.settings.client_secret
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret.get_secret_value() if secret else None,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=" ".join(self.settings.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=10.0,
        )

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        metadata = await self.metadata()
        async with self._oauth_client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
            )
        return str(url)

    async def complete(self, *, code: str, redirect_uri: str, nonce: str, code_verifier: str) -> SignedInAtProvider:
        """Trade the code for tokens, check the ID token, and read the user's claims."""
        metadata = await self.metadata()
        try:
            async with self._oauth_client(redirect_uri) as client:
                tokens = await client.fetch_token(
                    metadata.token_endpoint, code=code, code_verifier=code_verifier, grant_type="authorization_code"
                )
        except OAuthError as exc:
            raise _refused(
                "code_rejected", f"{self.settings.display_name} refused the sign-in code: {exc.error}."
            ) from exc
        except httpx.HTTPError as exc:
            raise _refused(
                "provider_unavailable", f"{self.settings.display_name} cannot be reached right now.", status=503
            ) from exc
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise _refused("id_token_invalid", "The provider sent no ID token.")
        claims = await self.verify_id_token(id_token, nonce=nonce)
        mapping = self.settings.claims
        wanted = [mapping.email]
        if mapping.groups and (mapping.sync_groups or mapping.admin_groups):
            wanted.append(mapping.groups)
        if metadata.userinfo_endpoint and any(name not in claims for name in wanted):
            access_token = str(tokens.get("access_token", ""))
            claims = {**await self._userinfo(metadata.userinfo_endpoint, access_token, claims), **claims}
        return SignedInAtProvider(profile=self._profile(claims), claims=claims)

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce are right."""
        header = _header(id_token)
        keys = await self._keys_for(header.get("kid") if isinstance(header.get("kid"), str) else None)
        try:
            token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
        except JoseError as exc:
            raise _refused("id_token_invalid", f"The ID token's signature is not valid ({exc.error}).") from exc
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=self._clock_skew,
            iss={"essential": True, "value": self.settings.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.settings.client_id},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise _refused("id_token_invalid", f"The ID token is not valid ({exc.description or exc.error}).") from exc
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.settings.client_id:
            raise _refused("id_token_invalid", "The ID token was issued to another party (azp).")
        if claims.get("nonce") != nonce:
            raise _refused("id_token_invalid", "The ID token does not belong to this sign-in (nonce).")
        return claims

    async def _userinfo(self, endpoint: str, access_token: str, id_claims: dict[str, Any]) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:
                response = await http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            info = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _refused("provider_unavailable", "The provider's userinfo could not be read.", status=503) from exc
        # OpenID Connect Core 5.3.2: userinfo of another subject must not be used.
        if not isinstance(info, dict) or info.get("sub") != id_claims.get("sub"):
            raise _refused("id_token_invalid", "The provider's userinfo is about another user.")
        return info

    def _profile(self, claims: dict[str, Any]) -> ExternalProfile:
        mapping = self.settings.claims
        email = claims.get(mapping.email)
        verified = claims.get(mapping.email_verified)
        groups = claims.get(mapping.groups) if mapping.groups else None
        if isinstance(groups, str):
            groups = [groups]
        name = claims.get(mapping.name)
        return ExternalProfile(
            kind=KIND,
            provider=self.settings.id,
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=self.settings.emails_verified or verified is True or verified == "true",
            full_name=name if isinstance(name, str) else None,
            groups=[str(group) for group in groups] if isinstance(groups, list) else [],
        )

    async def end_session_url(self, *, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to sign out at the provider too (RP-initiated logout), if it supports it."""
        metadata = await self.metadata()
        if not metadata.end_session_endpoint:
            return None
        query = urlencode({"client_id": self.settings.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{query}"


def _header(token: str) -> dict[str, Any]:
    try:
        encoded = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, IndexError) as exc:
        raise _refused("id_token_invalid", "The ID token cannot be read.") from exc
    if not isinstance(header, dict):
        raise _refused("id_token_invalid", "The ID token cannot be read.")
    return header


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


class OIDCProviders:
    """The configured providers by id, built once at start-up (app.state.oidc)."""

    def __init__(self, settings: OIDCSettings) -> None:
        self.clients = {
            provider.id: OIDCClient(provider, clock_skew_seconds=settings.clock_skew_seconds)
            for provider in settings.providers
        }

    def get(self, provider: str) -> OIDCClient | None:
        return self.clients.get(provider)
