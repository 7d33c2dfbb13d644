"""What one request can cost before it is authenticated or validated is bounded: a body larger than its route
takes is refused before it is read (413), a body with thousands of unknown keys gets a small 422, and a query
string PostgreSQL cannot hold is a 422, not a database error."""

from __future__ import annotations

import json

import httpx

from tests.factories import assert_problem, signed_in_user
from tests.http.raw import RawConnection

MIB = 1024 * 1024


def unknown_keys(count: int) -> bytes:
    return json.dumps({f"k{index}": 0 for index in range(count)}).encode()


class TestBodySizeLimits:
    async def test_a_huge_sign_in_is_refused_before_its_body_is_sent(self, client, http1_server):
        """Only the head of a 300 MiB login is sent: the answer comes without the server waiting for the body."""
        connection = await RawConnection.open(http1_server)
        try:
            await connection.send(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: parley.test\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (300 * MIB)
            )
            response = await connection.response()
        finally:
            await connection.close()
        assert response.status == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["connection"] == "close"  # the rest of the body is never read
        assert response.json()["type"].endswith("/payload_too_large")

    async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(self, client, http1_server):
        connection = await RawConnection.open(http1_server)
        chunk = b"x" * 8192
        try:
            await connection.send(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: parley.test\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            # 72 KiB, more than the 64 KiB sign-in accepts (and no more, so the answer is not lost to a reset
            # of a connection closed with unread bytes).
            for _ in range(9):
                await connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            response = await connection.response()
        finally:
            await connection.close()
        assert response.status == 413, response.body
        assert response.json()["status"] == 413

    async def test_300000_unknown_keys_to_refresh_are_refused_as_too_large(self, client):
        body = unknown_keys(300_000)
        response = await client.post("/api/v1/auth/refresh", content=body, headers={"content-type": "application/json"})
        assert_problem(response, 413)
        assert len(response.content) < 2000

    async def test_a_streamed_body_without_length_is_counted_in_process_too(self, client):
        async def stream():
            for _ in range(200):
                yield b" " * 1024

        response = await client.post(
            "/api/v1/auth/login", content=stream(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413)

    async def test_other_json_routes_take_more_and_chat_takes_long_messages(self, client, app):
        me = await signed_in_user(app, client)
        two_mib = b'{"title": "' + b"x" * (2 * MIB) + b'"}'
        assert_problem(
            await client.post(
                "/api/v1/conversations",
                content=two_mib,
                headers={**me.headers, "content-type": "application/json"},
            ),
            413,
        )
        # A 100,000-character message of emoji is 1.2 MB as JSON escapes: over the default, within chat's.
        message = json.dumps({"message": "😀" * 100_000, "stream": False}).encode()
        assert len(message) > MIB
        response = await client.post(
            "/api/v1/chat", content=message, headers={**me.headers, "content-type": "application/json"}
        )
        assert response.status_code == 200, response.text[:300]

    async def test_the_openai_surface_refuses_in_openais_shape(self, client):
        response = await client.post(
            "/v1/chat/completions",
            content=b" " * (3 * MIB),
            headers={"content-type": "application/json", "authorization": "Bearer sk-nothing"},
        )
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "invalid_request_error"


class TestManyValidationErrors:
    async def test_a_body_of_80000_unknown_keys_gets_a_small_422(self, client, app):
        """Just under the default 1 MiB: every key is an error, but the answer lists the first few and counts."""
        me = await signed_in_user(app, client)
        body = unknown_keys(80_000)
        assert len(body) < MIB
        response = await client.post(
            "/api/v1/conversations", content=body, headers={**me.headers, "content-type": "application/json"}
        )
        problem = assert_problem(response, 422)
        assert len(problem["errors"]) <= 20
        assert problem["error_count"] >= len(problem["errors"])
        assert len(response.content) < 10_000


class TestQueryStrings:
    async def test_nul_in_a_query_parameter_is_named_in_a_422(self, client, app):
        me = await signed_in_user(app, client)
        response = await client.get("/api/v1/groups", params={"q": "a\x00b"}, headers=me.headers)
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"] == ["query", "q"]

    async def test_nul_in_the_path_is_a_422_not_a_crash(self, client):
        response = await client.get("/some/page%00.html")
        assert_problem(response, 422)

    async def test_nul_on_the_openai_surface_is_an_openai_error(self, client):
        response = await client.get("/v1/models", params={"x": "a\x00"})
        assert response.status_code in (400, 422)
        assert "error" in response.json()


async def test_a_real_client_gets_the_413_and_can_go_on(client, http1_server):
    """httpx, pooled, sends all 8 MiB before reading: it gets the 413 (not a reset), and can go on."""
    host, port = http1_server
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
        refused = await http.post("/api/v1/auth/login", content=b"{" + b" " * (8 * MIB) + b"}")
        after = await http.get("/healthz")
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert after.status_code == 200
