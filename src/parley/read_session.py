"""`ReadSessionDep`: the session of read-heavy endpoints (conversation lists, history, analytics, search).

On the read replica when one is configured, serving and has the caller's latest write (`parley.read_replica`);
otherwise the request's own primary session (`SessionDep`), so without `DATABASE_READ_URL` it costs nothing: no
second session, no extra query. Only for endpoints that never write: the standby refuses writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.dependencies import CurrentPrincipal
from parley.db import Database, SessionDep


async def _read_session(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    if database.replica is None:
        yield session
        return
    async with database.replica.session_for(principal.user_id) as replica_session:
        yield replica_session if replica_session is not None else session


# "function" scope: the standby's connection goes back to its pool before the response is sent.
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]
