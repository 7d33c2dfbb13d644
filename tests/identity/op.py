"""A real OpenID Provider for the tests: tests/identity/op/server.mjs (the `oidc-provider` npm package) in a
Node process of its own, and a driver that signs in through its login and consent forms over HTTP, as a
browser would. Shared by the HTTP tests here and the browser test in tests/e2e."""

from __future__ import annotations

import contextlib
import fcntl
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from tests.servers import free_port

OP_DIR = Path(__file__).resolve().parent / "op"
CLIENT_SECRET_ENV = "PARLEY_TEST_OP_CLIENT_SECRET"
CLIENT_SECRET = "test-op-client-secret-0123456789"


def install_op() -> None:
    """`npm ci` the provider's package from the registry once (xdist workers wait for the first)."""
    with (Path(tempfile.gettempdir()) / "parley-test-op-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (OP_DIR / "node_modules" / "oidc-provider").is_dir():
            npm = shutil.which("npm")
            assert npm, "npm is needed to install the test OpenID Provider (tests/identity/op)"
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OP_DIR, check=True, capture_output=True)


@dataclass
class OpenIDProvider:
    """The running provider: its issuer URL and the test controls of server.mjs."""

    issuer: str

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if body is None:
            response = httpx.get(f"{self.issuer}/test/{path}")
        else:
            response = httpx.post(f"{self.issuer}/test/{path}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def add_user(self, login: str, **claims: Any) -> None:
        self.control("users", {login: claims})

    def alter_id_tokens(self, **changes: Any) -> None:
        """The next ID tokens are re-signed with these changes (nonce, exp_offset, sign_with, kid); none: reset."""
        self.control("id-token", changes)

    def publish_keys(self, *names: str) -> None:
        self.control("jwks", {"publish": list(names)})

    def jwks_fetches(self) -> int:
        return int(self.control("stats")["jwks_fetches"])

    def reset(self) -> None:
        self.alter_id_tokens()
        self.publish_keys("A")


@contextlib.contextmanager
def running_op(clients: list[dict[str, Any]]) -> Iterator[OpenIDProvider]:
    """Start server.mjs on a free port with these clients; stop it afterwards."""
    install_op()
    port = free_port()
    config = {"port": port, "clients": clients}
    node = shutil.which("node")
    assert node, "Node.js is needed to run the test OpenID Provider"
    process = subprocess.Popen(
        [node, "server.mjs"],
        cwd=OP_DIR,
        env={**os.environ, "OP_CONFIG": json.dumps(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and not line.startswith("listening"):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError("the test OpenID Provider did not start")
        yield OpenIDProvider(issuer=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def client_config(client_id: str, parley_url: str, provider_ids: list[str]) -> dict[str, Any]:
    """A confidential client of the provider whose redirect URIs are Parley's callbacks for `provider_ids`."""
    return {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{parley_url}/api/v1/auth/oidc/{pid}/callback" for pid in provider_ids],
        "post_logout_redirect_uris": [f"{parley_url}/signin"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.IGNORECASE)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', re.IGNORECASE)


async def authorize(http: httpx.AsyncClient, parley_url: str, provider: str, login: str) -> str:
    """Start a sign-in at Parley and go through the provider's login and consent forms as `login`; returns the
    callback URL the provider sends the browser back to (not yet followed, so a test can tamper with it)."""
    response = await http.get(f"{parley_url}/api/v1/auth/oidc/{provider}/login")
    assert response.status_code == 302, response.text
    url = response.headers["location"]
    for _ in range(20):
        if url.startswith(parley_url):
            return url
        response = await http.get(url)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            continue
        assert response.status_code == 200, response.text
        form = _FORM.search(response.text)
        assert form, response.text
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(response.text)}
        if fields.get("prompt") == "login":
            fields.update(login=login, password="any-password")
        response = await http.post(urljoin(url, html.unescape(form.group(1))), data=fields)
        assert response.is_redirect, response.text
        url = urljoin(url, response.headers["location"])
    raise AssertionError("the provider never sent the browser back to Parley")
