"""One PostgreSQL URL, two spellings of its TLS mode.

Parley keeps `DATABASE_URL` / `DATABASE_READ_URL` in libpq's spelling (`?sslmode=require`), which asyncpg's own
DSN parser and the PostgreSQL tools (pg_dump, pg_restore) understand. SQLAlchemy's asyncpg dialect instead hands
every query parameter to `asyncpg.connect()` as a keyword, which knows `ssl=`, not `sslmode=`; and a DSN with `ssl=`
makes asyncpg send `ssl` to the server as a run-time setting, which it refuses. So operators may write either, the
settings store `sslmode`, and engines get `ssl` from `engine_url()`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def libpq_spelling(url: str) -> str:
    """The URL with a TLS mode given as `ssl=` written as libpq's `sslmode=` (the stored form)."""
    parsed = make_url(url)
    mode = parsed.query.get("ssl")
    if mode is None:
        return url
    if "sslmode" not in parsed.query:
        parsed = parsed.update_query_dict({"sslmode": mode})
    return parsed.difference_update_query(["ssl"]).render_as_string(hide_password=False)


def engine_url(url: str) -> URL:
    """The URL for a SQLAlchemy asyncpg engine: `sslmode=<mode>` becomes the `ssl=<mode>` keyword asyncpg takes."""
    parsed = make_url(url)
    mode = parsed.query.get("sslmode")
    if mode is None:
        return parsed
    return parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
