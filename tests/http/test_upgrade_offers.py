"""A request that offers to upgrade the connection to HTTP/2 (`Upgrade: h2c`) is served over HTTP/1.1 with its
body, like any other: curl's `--http2` on http:// and Java's built-in HttpClient send that offer by default,
and the body used to be lost on the way (a good login answered 422 "Field required")."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.factories import PASSWORD, create_user
from tests.http.raw import RawConnection

LOGIN = "/api/v1/auth/login"
OFFER = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"


def login_request(body: bytes, *, chunked: bool = False) -> bytes:
    head = b"POST " + LOGIN.encode() + b" HTTP/1.1\r\nHost: parley.test\r\n" + OFFER
    head += b"Content-Type: application/json\r\n"
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def credentials(email: str, password: str) -> bytes:
    return json.dumps({"email": email, "password": password}).encode()


class TestUpgradeOffersAreServedOverHttp11:
    async def test_a_login_offering_h2c_is_answered_as_without_the_offer(self, client, app, http1_server):
        await create_user(app, email="ada@example.com")
        connection = await RawConnection.open(http1_server)
        try:
            await connection.send(login_request(credentials("ada@example.com", "not the password")))
            wrong = await connection.response()
            await connection.send(login_request(credentials("ada@example.com", PASSWORD)))
            right = await connection.response()
        finally:
            await connection.close()

        assert wrong.status == 401, wrong.body
        assert right.status == 200, right.body
        assert right.json()["access_token"]

    async def test_a_chunked_body_split_from_its_head_arrives_whole(self, client, http1_server):
        request = login_request(credentials("nobody@example.com", "wrong password"), chunked=True)
        head, body = request.split(b"\r\n\r\n", 1)
        connection = await RawConnection.open(http1_server)
        try:
            # Head and body in separate packets, as Ktor and Java write them.
            await connection.send(head + b"\r\n\r\n")
            await asyncio.sleep(0.05)
            await connection.send(body)
            refused = await connection.response()
        finally:
            await connection.close()
        assert refused.status == 401, refused.body

    async def test_the_connection_stays_usable_for_the_requests_after_it(self, client, http1_server):
        pipelined = login_request(credentials("nobody@example.com", "wrong password")) + (
            b"GET /healthz HTTP/1.1\r\nHost: parley.test\r\n\r\n"
        )
        connection = await RawConnection.open(http1_server)
        try:
            await connection.send(pipelined)
            first, second = await connection.response(), await connection.response()
            await connection.send(b"GET /healthz HTTP/1.1\r\nHost: parley.test\r\n\r\n")
            third = await connection.response()
        finally:
            await connection.close()
        assert [first.status, second.status, third.status] == [401, 200, 200], first.body


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java 11+ runtime (`java` on PATH)")
class TestJavaHttpClient:
    async def test_javas_default_client_can_sign_in(self, client, app, http1_server):
        await create_user(app, email="duke@example.com")
        host, port = http1_server
        process = await asyncio.create_subprocess_exec(
            "java",
            str(Path(__file__).with_name("JavaLogin.java")),
            f"http://{host}:{port}",
            "duke@example.com",
            PASSWORD,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, err.decode()
        status, _, body = out.decode().partition("\n")
        assert status == "200", body
        assert json.loads(body)["access_token"]
