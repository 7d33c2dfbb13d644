"""HTTPS served by Parley itself: `parley serve --tls-cert/--tls-key` speaks TLS 1.3 only by default (a TLS 1.2
client is refused), and responses to HTTPS requests carry Strict-Transport-Security."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from parley.kit.tls import TLSConfig
from tests.databases import fresh_database_sync
from tests.servers import free_port, interrupt, wait_ready


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parley.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def client_context(cert_file: Path, *, only: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert_file))
    if only is not None:
        context.minimum_version = context.maximum_version = only
    return context


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, database_url: str):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = self_signed(directory)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    log = directory / "serve.log"
    with fresh_database_sync(database_url, "parley_tls") as url, log.open("w") as output:
        env.update(DATABASE_URL=url, PARLEY_AUTH__ARGON2_TIME_COST="1", PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024")
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(directory / "data"),
             "--tls-cert", str(cert_file), "--tls-key", str(key_file)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # wait_ready speaks plain httpx: trust the test certificate for it through SSL_CERT_FILE.
            os.environ["SSL_CERT_FILE"] = str(cert_file)
            try:
                wait_ready(f"https://127.0.0.1:{port}", process, log=log)
            finally:
                del os.environ["SSL_CERT_FILE"]
            yield port, cert_file
        finally:
            interrupt(process)


class TestServeHTTPS:
    def test_tls_13_is_served_with_hsts(self, tls_server):  # type: ignore[no-untyped-def]
        port, cert_file = tls_server
        response = httpx.get(
            f"https://127.0.0.1:{port}/healthz", verify=client_context(cert_file, only=ssl.TLSVersion.TLSv1_3)
        )
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        with socket.create_connection(("127.0.0.1", port)) as raw:
            context = client_context(cert_file)
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() == "TLSv1.3"

    def test_a_tls_12_client_is_refused(self, tls_server):  # type: ignore[no-untyped-def]
        port, cert_file = tls_server
        context = client_context(cert_file, only=ssl.TLSVersion.TLSv1_2)
        # The same trust that the TLS 1.3 test uses: only the protocol version differs. The server ends the
        # handshake (OpenSSL reports its alert or the closed connection, depending on timing).
        with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context)

    def test_plain_http_on_the_tls_port_gets_no_answer(self, tls_server):  # type: ignore[no-untyped-def]
        port, _ = tls_server
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


class TestTLSConfig:
    def test_a_setting_may_let_tls_12_in(self, tmp_path: Path) -> None:
        cert_file, key_file = self_signed(tmp_path)
        for version, expected in (("1.3", ssl.TLSVersion.TLSv1_3), ("1.2", ssl.TLSVersion.TLSv1_2)):
            config = TLSConfig(
                FastAPI(), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file), tls_min_version=version
            )
            config.load()
            assert config.ssl is not None and config.ssl.minimum_version == expected

    def test_serve_refuses_a_certificate_without_its_key(self, tmp_path: Path) -> None:
        cert_file, _ = self_signed(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
        result = subprocess.run(
            [sys.executable, "-m", "parley", "serve", "--tls-cert", str(cert_file), "--data-dir", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "parley: error: --tls-cert and --tls-key go together" in result.stderr


class TestHSTS:
    async def test_only_https_requests_get_the_header(self, app, client):  # type: ignore[no-untyped-def]
        plain = await client.get("/healthz")
        assert "strict-transport-security" not in plain.headers
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as secure:
            response = await secure.get("/healthz")
        assert response.headers["strict-transport-security"] == "max-age=31536000"
