"""The test SAML IdP (tests/identity/saml_idp.py) behind real HTTP pages, for the browser tests: its sign-on page
reads Parley's AuthnRequest and asks for a user name; its answer page posts the signed Response to Parley's ACS
(HTTP-POST binding) when the user continues; `/start` is the IdP's app portal (IdP-initiated sign-in)."""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.identity.saml_idp import SamlIdP, SamlUser, encoded


def _page(title: str, body: str) -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _post_to(acs_url: str, xml: str) -> bytes:
    """The page that carries the Response to Parley (a real IdP submits it by script; here the user clicks)."""
    return _page(
        "Signing you in",
        f'<form method="post" action="{html.escape(acs_url)}">'
        f'<input type="hidden" name="SAMLResponse" value="{encoded(xml)}">'
        "<button>Continue to Parley</button></form>",
    )


class _Handler(BaseHTTPRequestHandler):
    idp: SamlIdP
    domain: str

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _user(self, login: str) -> SamlUser:
        return SamlUser(login=login, email=f"{login}@{self.domain}", name=login.title())

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/sso":
            request = self.idp.read_request(f"{self.idp.sso_url}?{parts.query}")
            form = (
                '<form method="post" action="/login">'
                f'<input type="hidden" name="request_id" value="{html.escape(str(request.id))}">'
                f'<input type="hidden" name="acs" value="{html.escape(str(request.assertion_consumer_service_url))}">'
                f'<input type="hidden" name="sp" value="{html.escape(str(request.issuer.text))}">'
                '<label>User name <input name="login"></label><button>Sign in</button></form>'
            )
            self._send(_page("Test IdP sign-in", form))
        elif parts.path == "/start":
            # The portal: an unsolicited Response for the SP entry named in the query.
            acs = query["acs"]
            sp = acs.rsplit("/acs", 1)[0] + "/metadata"
            xml = self.idp.response_xml(self._user(query["login"]), acs_url=acs, sp_entity_id=sp, in_response_to=None)
            self._send(_post_to(acs, xml))
        else:
            self._send(_page("Not found", "no such page"), status=404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        if urlsplit(self.path).path != "/login":
            self._send(_page("Not found", "no such page"), status=404)
            return
        xml = self.idp.response_xml(
            self._user(form["login"]),
            acs_url=form["acs"],
            sp_entity_id=form["sp"],
            in_response_to=form["request_id"],
        )
        self._send(_post_to(form["acs"], xml))


@contextlib.contextmanager
def serving_idp(directory: Path, *, port: int, host: str = "localhost", domain: str) -> Iterator[SamlIdP]:
    """A SamlIdP whose pages are served at http://<host>:<port>; its users' addresses are <login>@<domain>."""
    idp = SamlIdP(directory, sso_url=f"http://{host}:{port}/sso")
    handler = type("Handler", (_Handler,), {"idp": idp, "domain": domain})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
