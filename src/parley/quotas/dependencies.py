"""The app's live quota ledger, for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.quotas.ledger import Ledger


async def _quota_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.quota_ledger
    return ledger


QuotaLedgerDep = Annotated[Ledger, Depends(_quota_ledger)]
