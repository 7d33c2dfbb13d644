"""The live quota ledger: what each user and group has spent this period and what answers being written hold,
where an admission can read and reserve in one step, without a database round trip before the first token.

PostgreSQL stays the record (`quota_counters`, written with every usage row); the ledger is a copy of it that
admissions can use at memory (or one Redis call's) speed:

- An account (a user's or a group's spend this UTC month and day) is loaded from PostgreSQL the first time it is
  needed, and again every `refresh_seconds`, so the copy never drifts from the record for long: spend written by
  a process that died before telling the ledger, a membership change, a transaction that never committed.
- Spend is added when the transaction that recorded it has committed (`apply`), together with the release of the
  answer's hold, so no admission sees the hold gone but the spend not yet counted. Spend for an account not
  loaded is not counted (the load will read it); spend committed between a load's read and its write may be
  missed until the next refresh (a window of about one round trip).
- Holds (reservations) live only in the ledger: an admitted answer's estimate, until it settles or its TTL
  passes (the writer died).

Two twins, chosen by settings like every backend: `MemoryLedger` here (one process: admissions decide in one step
of the event loop, with no await between the check and the hold) and `RedisLedger` (replicas: one Lua script per
admission). Both decide with `Terms.decide`; the Lua script mirrors its arithmetic.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.clock import utcnow
from parley.policy.plans import Plan
from parley.policy.quotas import Grant, GroupBudget, Quota, Spent, day_start, grant, quotas

_MICRO = Decimal("0.000001")


def to_micros(usd: Decimal) -> int:
    """USD as whole millionths (what the ledgers count in), rounded up: a hold never falls short."""
    return int((usd / _MICRO).to_integral_value(rounding=ROUND_CEILING))


def from_micros(micros: int) -> Decimal:
    return Decimal(micros).scaleb(-6)


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's spend as the record (PostgreSQL) has it."""

    tokens_today: int = 0
    tokens_this_month: int = 0
    usd_micros: int = 0


# Reads the record for accounts: (subject ids, today, first day of the month, the caller's session if it holds
# one) → balances of those with spend. A caller that holds a database connection lends it: a ledger that took a
# second one for every waiting request could empty the pool with requests that each wait for one more.
Loader = Callable[[Sequence[uuid.UUID], date, date, AsyncSession | None], Awaitable[dict[uuid.UUID, Balance]]]


@dataclass(frozen=True, slots=True)
class Figures:
    """A user's accounts as they stand: their own and each budget group's spend and holds, and how many answers
    the user has being written."""

    user: Spent
    groups: dict[uuid.UUID, Spent]
    running: int


@dataclass(frozen=True, slots=True)
class Terms:
    """What one admission is checked against: the user's effective plan, their groups' shared budgets, and the
    answer's estimate (tokens and USD at most)."""

    plan: Plan
    budgets: tuple[GroupBudget, ...]
    tokens_estimate: int
    usd_estimate: Decimal
    ttl_seconds: float

    @property
    def group_ids(self) -> list[uuid.UUID]:
        return [budget.group_id for budget in self.budgets]

    def quotas(self, figures: Figures, now: datetime) -> list[Quota]:
        groups = [(budget, figures.groups.get(budget.group_id, Spent())) for budget in self.budgets]
        return quotas(self.plan, user=figures.user, groups=groups, now=now)

    def busy(self, figures: Figures) -> bool:
        at_once = self.plan.concurrent_answers
        return at_once is not None and figures.running >= at_once

    def decide(self, figures: Figures, now: datetime) -> Grant | Quota | None:
        """What this answer may hold (a `Grant`), the used-up quota that refuses it, or None when the user has
        as many answers being written as the plan allows."""
        if self.busy(figures):
            return None
        return grant(self.quotas(figures, now), tokens_estimate=self.tokens_estimate, usd_estimate=self.usd_estimate)

    def held(self, decided: Grant) -> tuple[int, int]:
        """Tokens and USD micros a grant holds (the whole estimate where no quota of that unit applies)."""
        tokens = decided.tokens if decided.tokens is not None else self.tokens_estimate
        usd = decided.usd if decided.usd is not None else self.usd_estimate
        return tokens, to_micros(usd)


@dataclass(frozen=True, slots=True)
class Admission:
    """What `Ledger.admit` did: the figures it decided on (before its own hold) and the hold it took (`hold_id`
    None: refused, see `Terms.decide` on the same figures for why)."""

    figures: Figures
    hold_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Spend:
    """Spend recorded in one committed transaction: for the user and the groups (`subjects`) it counts for."""

    subjects: tuple[uuid.UUID, ...]
    tokens: int
    usd_micros: int


@dataclass(frozen=True, slots=True)
class Hold:
    """An admitted answer's hold, as a settlement names it."""

    hold_id: uuid.UUID
    user_id: uuid.UUID
    group_ids: tuple[uuid.UUID, ...]


class Ledger(ABC):
    """The live ledger of one Parley (all its replicas, on Redis)."""

    @abstractmethod
    async def admit(self, user_id: uuid.UUID, terms: Terms, *, session: AsyncSession | None = None) -> Admission:
        """Decide (`Terms.decide`) and, when admitted, hold what it grants: atomically against every other
        admission of the user and of their budget groups. `session`: the caller's, to load accounts with."""

    @abstractmethod
    async def figures(
        self, user_id: uuid.UUID, group_ids: Sequence[uuid.UUID], *, session: AsyncSession | None = None
    ) -> Figures:
        """The user's and these groups' accounts as they stand now (loading them if needed)."""

    @abstractmethod
    async def apply(self, spends: Sequence[Spend], releases: Sequence[Hold]) -> None:
        """Count committed spend and end holds, in one step."""

    async def close(self) -> None:  # noqa: B027 (optional)
        """Release what the ledger holds open."""


@dataclass(slots=True)
class _Account:
    month: date
    day: date
    tokens_today: int
    tokens_this_month: int
    usd_micros: int
    loaded_at: float
    # Holds on this account: id → (tokens, usd micros, expires at, monotonic).
    holds: dict[uuid.UUID, tuple[int, int, float]] = field(default_factory=dict)

    def spent(self, now: float) -> tuple[Spent, int]:
        reserved_tokens = reserved_usd = 0
        for hold_id, (tokens, usd, expires) in list(self.holds.items()):
            if expires <= now:
                del self.holds[hold_id]  # left by an answer that never settled
                continue
            reserved_tokens += tokens
            reserved_usd += usd
        spent = Spent(
            tokens_today=self.tokens_today,
            tokens_this_month=self.tokens_this_month,
            usd_this_month=from_micros(self.usd_micros),
            reserved_tokens=reserved_tokens,
            reserved_usd=from_micros(reserved_usd),
        )
        return spent, len(self.holds)


class MemoryLedger(Ledger):
    """The in-process twin: accounts in a dict, loaded from the record on first use and every
    `refresh_seconds`. Correct for one process (no Redis): every answer of every user is admitted here."""

    def __init__(self, load: Loader, *, refresh_seconds: float) -> None:
        self._load = load
        self._refresh_seconds = refresh_seconds
        self._accounts: dict[uuid.UUID, _Account] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[None]] = {}
        self._swept_at = time.monotonic()

    async def admit(self, user_id: uuid.UUID, terms: Terms, *, session: AsyncSession | None = None) -> Admission:
        subjects = [user_id, *terms.group_ids]
        await self._loaded(subjects, session)
        # From here to the hold nothing awaits: no other admission can run in between.
        now = utcnow()
        figures = self._figures(user_id, terms.group_ids, now)
        decided = terms.decide(figures, now)
        if not isinstance(decided, Grant):
            return Admission(figures, None)
        tokens, usd = terms.held(decided)
        hold_id = uuid.uuid4()
        expires = time.monotonic() + terms.ttl_seconds
        self._accounts[user_id].holds[hold_id] = (tokens, usd, expires)
        for group_id in terms.group_ids:
            self._accounts[group_id].holds[hold_id] = (0, usd, expires)
        return Admission(figures, hold_id)

    async def figures(
        self, user_id: uuid.UUID, group_ids: Sequence[uuid.UUID], *, session: AsyncSession | None = None
    ) -> Figures:
        await self._loaded([user_id, *group_ids], session)
        return self._figures(user_id, group_ids, utcnow())

    async def apply(self, spends: Sequence[Spend], releases: Sequence[Hold]) -> None:
        today = day_start(utcnow())
        for spend in spends:
            for subject in spend.subjects:
                account = self._accounts.get(subject)
                if account is None or account.month != today.replace(day=1):
                    continue  # not loaded: its next load reads this spend from the record
                _roll_day(account, today)
                account.tokens_today += spend.tokens
                account.tokens_this_month += spend.tokens
                account.usd_micros += spend.usd_micros
        for hold in releases:
            for subject in (hold.user_id, *hold.group_ids):
                account = self._accounts.get(subject)
                if account is not None:
                    account.holds.pop(hold.hold_id, None)

    def _figures(self, user_id: uuid.UUID, group_ids: Sequence[uuid.UUID], now: datetime) -> Figures:
        clock = time.monotonic()
        today = day_start(now)
        user = self._accounts[user_id]
        _roll_day(user, today)
        spent, running = user.spent(clock)
        groups = {}
        for group_id in group_ids:
            account = self._accounts[group_id]
            _roll_day(account, today)
            groups[group_id] = account.spent(clock)[0]
        return Figures(spent, groups, running)

    async def _loaded(self, subjects: Sequence[uuid.UUID], session: AsyncSession | None) -> None:
        """Make sure these accounts are loaded for this month and fresh enough (one read for all that are not;
        concurrent admissions wait for the same read)."""
        while True:
            today = day_start(utcnow())
            clock = time.monotonic()
            stale = [subject for subject in subjects if self._stale(subject, today, clock)]
            waiting = [self._loading[subject] for subject in stale if subject in self._loading]
            if waiting:
                await asyncio.gather(*waiting)
                continue
            if not stale:
                return
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for subject in stale:
                self._loading[subject] = future
            self._forget_idle(clock)
            try:
                balances = await self._load(stale, today, today.replace(day=1), session)
                loaded_at = time.monotonic()
                for subject in stale:
                    balance = balances.get(subject, Balance())
                    account = self._accounts.get(subject)
                    holds = account.holds if account is not None else {}
                    self._accounts[subject] = _Account(
                        month=today.replace(day=1),
                        day=today,
                        tokens_today=balance.tokens_today,
                        tokens_this_month=balance.tokens_this_month,
                        usd_micros=balance.usd_micros,
                        loaded_at=loaded_at,
                        holds=holds,
                    )
            finally:
                for subject in stale:
                    self._loading.pop(subject, None)
                future.set_result(None)

    def _forget_idle(self, clock: float) -> None:
        """Drop accounts nobody used for a few refresh periods and that hold nothing (at most once a period):
        the ledger keeps the users who are chatting, not everyone who ever did."""
        if clock - self._swept_at < self._refresh_seconds:
            return
        self._swept_at = clock
        idle = [
            subject
            for subject, account in self._accounts.items()
            if not account.holds and clock - account.loaded_at >= 3 * self._refresh_seconds
        ]
        for subject in idle:
            del self._accounts[subject]

    def _stale(self, subject: uuid.UUID, today: date, clock: float) -> bool:
        account = self._accounts.get(subject)
        return (
            account is None
            or account.month != today.replace(day=1)
            or clock - account.loaded_at >= self._refresh_seconds
        )


def _roll_day(account: _Account, today: date) -> None:
    if account.day != today:
        account.day, account.tokens_today = today, 0
