"""SAML settings: IdPs as JSON in the environment or in a YAML file; a bad one stops start-up with one line that
says what is wrong; Parley's own key pair is generated once and then kept; an IdP's metadata read from a URL
outlives an outage of the server publishing it."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from parley.cli import main
from parley.config import Settings
from parley.identity import saml as saml_module
from parley.identity.saml import SAMLProviders
from parley.identity.saml_config import SAMLSettings
from parley.identity.saml_keys import sp_key_pair
from tests.identity.saml_idp import SamlIdP

IDP = {"id": "okta", "display_name": "Okta", "metadata_url": "https://example.okta.com/app/abc/sso/saml/metadata"}


def test_idps_come_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_SAML__IDPS", json.dumps([IDP]))
    monkeypatch.setenv("PARLEY_SAML__BASE_URL", "https://chat.example.com/")
    saml = Settings().saml
    assert [idp.id for idp in saml.idps] == ["okta"]
    assert saml.idps[0].attributes.email == "email" and saml.idps[0].emails_verified
    assert saml.base_url == "https://chat.example.com"


def test_idps_come_from_a_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    metadata = tmp_path / "entra.xml"
    metadata.write_text("<EntityDescriptor/>")
    idps = tmp_path / "saml.yaml"
    idps.write_text(
        "idps:\n"
        "  - id: entra\n"
        "    display_name: Microsoft\n"
        f"    metadata_file: {metadata}\n"
        "    allowed_email_domains: ['@Example.com']\n"
        "    attributes: {groups: roles, admin_groups: [Parley.Admin], sync_groups: true}\n"
    )
    monkeypatch.setenv("PARLEY_SAML__IDPS_FILE", str(idps))
    idp = Settings().saml.idps[0]
    assert idp.id == "entra" and idp.metadata_file == metadata
    assert idp.allowed_email_domains == ["example.com"]
    assert idp.attributes.groups == "roles" and idp.attributes.admin_groups == ["Parley.Admin"]


@pytest.mark.parametrize(
    ("idps", "message"),
    [
        pytest.param(
            [{**IDP, "metadata_file": "/etc/x.xml"}],
            "give exactly one of metadata_file and metadata_url",
            id="two-sources",
        ),
        pytest.param(
            [{"id": "okta", "display_name": "Okta"}],
            "give exactly one of metadata_file and metadata_url",
            id="no-source",
        ),
        pytest.param([IDP, IDP], "SAML IdP ids must be unique: okta", id="duplicate-ids"),
        pytest.param([{**IDP, "id": "Not An Id"}], "saml.idps.0.id", id="bad-id"),
        pytest.param([{**IDP, "attributes": {"mail": "x"}}], "saml.idps.0.attributes.mail", id="unknown-key"),
    ],
)
def test_a_bad_idp_stops_start_up_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], idps: list[object], message: str
) -> None:
    monkeypatch.setenv("PARLEY_SAML__IDPS", json.dumps(idps))
    assert main(["migrate"]) != 0
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("parley: error: invalid settings: ")
    assert message in error


def test_the_generated_key_pair_is_kept_and_a_configured_one_is_used(tmp_path: Path) -> None:
    settings = SAMLSettings()
    first = sp_key_pair(settings, tmp_path)
    content = first.cert_file.read_text()
    assert "BEGIN CERTIFICATE" in content and first.key_file.stat().st_mode & 0o777 == 0o600
    again = sp_key_pair(settings, tmp_path)
    assert again == first and again.cert_file.read_text() == content
    configured = SAMLSettings(key_file=tmp_path / "k.pem", cert_file=tmp_path / "c.pem")
    assert sp_key_pair(configured, tmp_path / "elsewhere").key_file == tmp_path / "k.pem"
    with pytest.raises(ValueError, match="give both key_file and cert_file"):
        SAMLSettings(key_file=tmp_path / "k.pem")


async def test_metadata_from_a_url_is_kept_when_its_server_goes_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp = SamlIdP(tmp_path)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{idp.metadata_file.name}"
    settings = SAMLSettings.model_validate({"idps": [{"id": "remote", "display_name": "Remote", "metadata_url": url}]})
    provider = SAMLProviders(settings, sp_key_pair(settings, tmp_path / "data")).get("remote")
    assert provider is not None
    try:
        _, location = await provider.login_url("http://parley.test")
        assert location.startswith(idp.sso_url + "?")
    finally:
        server.shutdown()
        server.server_close()
    # Every use now wants a fresh copy, and the metadata server is gone: the last copy keeps sign-ins working.
    monkeypatch.setattr(saml_module, "_METADATA_TTL_SECONDS", 0.0)
    _, location = await provider.login_url("http://parley.test")
    assert location.startswith(idp.sso_url + "?")
