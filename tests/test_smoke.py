from tests.factories import signed_in_user


async def test_health(client, app):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    me = await signed_in_user(app, client)
    r = await client.get("/api/v1/users/me", headers=me.headers)
    assert r.status_code == 200, r.text
