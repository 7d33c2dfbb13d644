"""The period a report covers, read the same way by every report (a user's usage, the organisation's analytics)."""

from __future__ import annotations

from datetime import datetime, timedelta

from parley.errors import Unprocessable
from parley.kit.clock import utcnow

DEFAULT_PERIOD = timedelta(days=30)
# A year and a day: a whole year from any date, and a bound on the work one report can ask of the database.
MAX_PERIOD = timedelta(days=366)


def report_period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """[since, until): by default the 30 days up to now (or up to `until`); a reversed or over-long one is a 422."""
    until = until or utcnow()
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise Unprocessable("from: must be before to")
    if until - since > MAX_PERIOD:
        raise Unprocessable("the range may span at most 366 days")
    return since, until
