"""The quota record: what users and groups spent per day (the live ledger of holds is `parley.quotas.ledger`),
alerts sent and requests refused."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base


class QuotaCounter(Base):
    """Tokens and cost spent by a user or a group (`subject_id`; user and group ids never collide) on one UTC
    day. Written in the transaction that writes the usage row, so the ledger and the usage log always agree."""

    __tablename__ = "quota_counters"

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), server_default="0")


class LimitRefusal(Base):
    """How many requests a limit refused for a user on one UTC day (the analytics' "refused by limits")."""

    __tablename__ = "limit_refusals"

    day: Mapped[date] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(server_default="0")


class QuotaAlert(Base):
    """A limit of a user or group that reached an alert threshold (0.80, 1.00) in the period starting
    `period_start`: inserted once, by whichever settlement got there first, which then writes the event."""

    __tablename__ = "quota_alerts"

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    threshold: Mapped[Decimal] = mapped_column(Numeric(4, 2), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
