"""Multi-region (README, "Multi-region"): the rows that hold a user's data record the region that stored them.

A deployment's region (`PARLEY_REGION`) travels on every session it opens (`session.info["region"]`, set by
`parley.db.Database`); a model that records it names its column in `__region_attribute__`, and this flush hook
fills that column on new rows that left it unset. Every way a row is created (the API, SCIM, OIDC, SAML, the CLI,
jobs) goes through a session, so none of them has to remember to do it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

REGION_KEY = "region"
REGION_URLS_KEY = "region_urls"


def session_region(session: Session) -> str | None:
    """The region of the deployment that opened `session` (None: a single-region deployment)."""
    region = session.info.get(REGION_KEY)
    return region if isinstance(region, str) else None


def region_url(session: Session, region: str) -> str | None:
    """The public URL of `region` as this deployment knows it (`PARLEY_REGIONS`), if it knows one."""
    urls = session.info.get(REGION_URLS_KEY) or {}
    url = urls.get(region)
    return url if isinstance(url, str) else None


@event.listens_for(Session, "before_flush")
def _record_region_on_new_rows(session: Session, _flush_context: Any, _instances: Any) -> None:
    region = session_region(session)
    if region is None:
        return
    for instance in session.new:
        attribute = getattr(type(instance), "__region_attribute__", None)
        if attribute is not None and getattr(instance, attribute) is None:
            setattr(instance, attribute, region)
