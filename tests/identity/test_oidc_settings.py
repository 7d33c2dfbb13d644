"""OIDC settings: a provider list as JSON in the environment or in a YAML file; a bad one stops start-up with
one line that says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.cli import main
from parley.config import Settings

PROVIDER = {
    "id": "okta",
    "display_name": "Okta",
    "issuer": "https://example.okta.com/",
    "client_id": "0oa1",
    "client_secret_env": "PARLEY_TEST_OKTA_SECRET",
}


def test_providers_come_from_json_with_the_secret_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_TEST_OKTA_SECRET", "s3cret-value")
    monkeypatch.setenv("PARLEY_OIDC__PROVIDERS", json.dumps([PROVIDER]))
    provider = Settings().oidc.providers[0]
    assert provider.issuer == "https://example.okta.com"
    assert provider.scopes == ["openid", "email", "profile"]
    assert provider.client_secret is not None and provider.client_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(Settings().oidc)


def test_providers_come_from_a_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_TEST_OKTA_SECRET", "s3cret-value")
    providers = tmp_path / "oidc.yaml"
    providers.write_text(
        "providers:\n"
        "  - id: keycloak\n"
        "    display_name: Keycloak\n"
        "    issuer: https://sso.example.com/realms/staff\n"
        "    client_id: parley\n"
        "    client_secret_env: PARLEY_TEST_OKTA_SECRET\n"
        "    allowed_email_domains: ['@Example.com']\n"
        "    claims: {admin_groups: [parley-admins], sync_groups: true}\n"
    )
    monkeypatch.setenv("PARLEY_OIDC__PROVIDERS_FILE", str(providers))
    provider = Settings().oidc.providers[0]
    assert provider.id == "keycloak"
    assert provider.allowed_email_domains == ["example.com"]
    assert provider.claims.admin_groups == ["parley-admins"] and provider.claims.sync_groups


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        pytest.param(
            [PROVIDER],
            "the environment variable PARLEY_TEST_OKTA_SECRET (client_secret_env) is not set",
            id="unset-secret",
        ),
        pytest.param(
            [{**PROVIDER, "client_secret": "inline"}],
            "put the client secret in an environment variable and name it in client_secret_env",
            id="inline-secret",
        ),
        pytest.param(
            [{**PROVIDER, "client_secret_env": None}, {**PROVIDER, "client_secret_env": None}],
            "OIDC provider ids must be unique: okta",
            id="duplicate-ids",
        ),
        pytest.param([{**PROVIDER, "id": "Not An Id", "client_secret_env": None}], "oidc.providers.0.id", id="bad-id"),
    ],
)
def test_a_bad_provider_stops_start_up_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], providers: list[object], message: str
) -> None:
    monkeypatch.delenv("PARLEY_TEST_OKTA_SECRET", raising=False)
    monkeypatch.setenv("PARLEY_OIDC__PROVIDERS", json.dumps(providers))
    assert main(["migrate"]) != 0
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("parley: error: invalid settings: ")
    assert message in error
