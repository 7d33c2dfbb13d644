"""A real SAML 2.0 identity provider for the tests: pysaml2's IdP side (`saml2.server.Server`, the same library
Parley's SP uses, signing with Debian's xmlsec1) with keys generated for the test run.

It answers AuthnRequests Parley sends (HTTP-Redirect binding) and makes IdP-initiated Responses, and it can also
make the broken ones an attacker would send: unsigned, expired, for another audience, tampered after signing,
with a forged assertion wrapped around a signed one.
"""

from __future__ import annotations

import base64
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature

IDP_ENTITY_ID = "http://idp.saml.test/metadata"
SSO_URL = "http://idp.saml.test/sso"
_NS = {
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}


def write_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """A fresh RSA key and self-signed certificate (what an IdP administrator would have)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / f"{name}-key.pem", directory / f"{name}-cert.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


@dataclass
class SamlUser:
    login: str
    email: str
    name: str = "Sam L. User"
    groups: list[str] = field(default_factory=list)


class SamlIdP:
    """The IdP. `metadata_file` is what Parley is configured with; `trust(sp_metadata)` makes it know Parley."""

    def __init__(self, directory: Path, *, sso_url: str = SSO_URL, entity_id: str = IDP_ENTITY_ID) -> None:
        self.directory = directory
        self.sso_url = sso_url
        self.entity_id = entity_id
        self.key_file, self.cert_file = write_key_pair(directory, "idp")
        self.metadata_file = directory / "idp-metadata.xml"
        self.metadata_file.write_text(create_metadata_string(None, config=self._config([])).decode())
        self.server: Server | None = None
        self.sp_metadata: list[str] = []

    def _config(self, sp_metadata: list[str]) -> IdPConfig:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "xmlsec_binary": shutil.which("xmlsec1"),
                "metadata": {"inline": sp_metadata} if sp_metadata else {},
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_BASIC}},
                    }
                },
            }
        )
        return config

    def trust_all(self, sp_metadata: list[str]) -> None:
        """Know these service providers (their metadata documents), as an IdP administrator would set up."""
        self.sp_metadata = sp_metadata
        self.server = Server(config=self._config(sp_metadata))

    # Answers -----------------------------------------------------------------------------------------------

    def read_request(self, location: str) -> Any:
        """The AuthnRequest Parley redirected the browser to us with (checked by the IdP as a real one would)."""
        assert self.server is not None
        assert location.startswith(self.sso_url + "?"), location
        query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
        request = self.server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        if "Signature" in query:
            # A signed request is checked against the signing certificates of the SP's metadata.
            certs = self.server.metadata.certs(request.issuer.text, "spsso", "signing")
            backend = self.server.sec.sec_backend
            if not any(verify_redirect_signature(query, backend, cert=cert) for _, cert in certs):
                raise ValueError("the AuthnRequest's signature is not valid")
        return request

    def response_xml(
        self,
        user: SamlUser,
        *,
        acs_url: str,
        sp_entity_id: str,
        in_response_to: str | None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        audience: str | None = None,
        **extra: Any,
    ) -> str:
        """A Response for `user` (signed as asked), as XML text."""
        assert self.server is not None
        identity: dict[str, list[str]] = {
            "email": [user.email],
            "name": [user.name],
        }
        if user.groups:
            identity["groups"] = list(user.groups)
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=f"id-{user.login}"),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            **extra,
        )
        return str(response)

    def resign(self, xml: str) -> str:
        """Sign the assertion of `xml` again after a test changed it: a valid signature by the IdP's own key."""
        assert self.server is not None
        assertion = etree.fromstring(xml.encode()).find("saml:Assertion", _NS)
        assert assertion is not None
        return str(
            self.server.sec.sign_statement(
                xml, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", node_id=assertion.get("ID")
            )
        )


def encoded(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def shift_times(xml: str, delta: timedelta) -> str:
    """Every NotOnOrAfter/NotBefore/IssueInstant moved by `delta` (to make an expired assertion)."""

    def moved(match: re.Match[str]) -> str:
        moment = datetime.strptime(match.group(2), "%Y-%m-%dT%H:%M:%SZ") + delta
        return f'{match.group(1)}="{moment.strftime("%Y-%m-%dT%H:%M:%SZ")}"'

    return re.sub(r'(NotOnOrAfter|NotBefore|IssueInstant|AuthnInstant)="([^"]+)"', moved, xml)


def wrapped(xml: str, *, email: str) -> str:
    """XML signature wrapping: a forged assertion for `email` where the signed one was, the signed original
    tucked inside the forged one (so the signature still verifies over the element it references)."""
    root = etree.fromstring(xml.encode())
    signed = root.find("saml:Assertion", _NS)
    assert signed is not None
    forged = etree.fromstring(etree.tostring(signed))
    forged.set("ID", "_forged" + signed.get("ID", ""))
    signature = forged.find("ds:Signature", _NS)
    if signature is not None:
        forged.remove(signature)
    for value in forged.iterfind(".//saml:Attribute[@FriendlyName='email']/saml:AttributeValue", _NS):
        value.text = email
    name_id = forged.find("saml:Subject/saml:NameID", _NS)
    assert name_id is not None
    name_id.text = "id-forged"
    index = list(root).index(signed)
    root.remove(signed)
    root.insert(index, forged)
    # The signed original goes inside the forged assertion's Advice, right after its Conditions (where the schema
    # lets an assertion hold other assertions).
    advice = etree.Element(f"{{{_NS['saml']}}}Advice")
    conditions = forged.find("saml:Conditions", _NS)
    assert conditions is not None
    conditions.addnext(advice)
    advice.append(signed)
    return etree.tostring(root).decode()


def two_assertions(xml: str, *, email: str) -> str:
    """XML signature wrapping, the other way: a forged, unsigned assertion before the signed one."""
    root = etree.fromstring(xml.encode())
    signed = root.find("saml:Assertion", _NS)
    assert signed is not None
    forged = etree.fromstring(etree.tostring(signed))
    forged.set("ID", "_forged" + signed.get("ID", ""))
    signature = forged.find("ds:Signature", _NS)
    if signature is not None:
        forged.remove(signature)
    for value in forged.iterfind(".//saml:Attribute[@FriendlyName='email']/saml:AttributeValue", _NS):
        value.text = email
    root.insert(list(root).index(signed), forged)
    return etree.tostring(root).decode()


def post_binding() -> str:
    return str(BINDING_HTTP_POST)


def federation_metadata(path: Path, *idps: SamlIdP) -> Path:
    """One metadata document describing several IdPs (as a federation publishes them)."""
    entities = [re.sub(r"^<\?xml[^>]*\?>\s*", "", idp.metadata_file.read_text()) for idp in idps]
    path.write_text(
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        + "".join(entities)
        + "</md:EntitiesDescriptor>"
    )
    return path
