"""The quota ledger on Redis, for replicas: every admission is one Lua script (read, decide, hold) that Redis
runs alone, so admissions on any replica take turns per account as they would in one process.

Keys, under `<redis_key_prefix>:quota:` (ids, never names or addresses; on a Redis Cluster under
`{<redis_key_prefix>:quota}:`, one hash tag, so that one script can admit against a user and every group budget
it shares with other users, atomically, in one slot: the ledger is one slot's load, one script per admission):
- `a:<subject>`, a hash: the account's month (`mo`), day (`dy`), tokens today (`td`) and this month (`tm`), USD
  micros this month (`um`), when it was loaded from the record (`at`, ms) and a count of the spends added since
  (`g`, so a refresh that raced a spend does not overwrite it).
- `h:<subject>`, a hash: hold id → "tokens usd_micros expires_ms" of each answer being written.

The script's decision mirrors `Terms.decide` (which the in-process twin runs): refused when the user has as many
answers being written as the plan allows, or when any quota has nothing left; otherwise the estimate is cut to
what each quota has left and held. Both twins run the same tests.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import ServiceUnavailable
from parley.kit.clock import utcnow
from parley.policy.quotas import Spent, day_start
from parley.quotas.ledger import Admission, Figures, Hold, Ledger, Loader, Spend, Terms, from_micros, to_micros
from parley.redis_client import RedisClient, is_cluster, slot_tag

# Accounts outlive their month by a few days; holds by their own TTL.
_ACCOUNT_TTL_MS = 40 * 86_400_000

# KEYS: account and holds key of the user, then of each budget group. ARGV: mode ("admit" or "peek"), today,
# month, refresh ms, hold TTL ms, hold id, answers at once, tokens a day, tokens a month, USD micros a month
# (-1: no such limit), tokens estimate, USD micros estimate, then each group's budget in USD micros.
_ADMIT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local mode, today, month = ARGV[1], ARGV[2], ARGV[3]
local refresh, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local accounts = #KEYS / 2
local load = {}
for i = 1, accounts do
  local mo, at, g = unpack(redis.call('HMGET', KEYS[2 * i - 1], 'mo', 'at', 'g'))
  if mo ~= month or not at or now - tonumber(at) >= refresh then
    table.insert(load, i)
    table.insert(load, mo and tonumber(g or '0') or -1)
  end
end
if #load > 0 then
  return {'load', unpack(load)}
end
local figures = {}
local running = 0
for i = 1, accounts do
  local dy, td, tm, um = unpack(redis.call('HMGET', KEYS[2 * i - 1], 'dy', 'td', 'tm', 'um'))
  if dy ~= today then td = 0 end
  local held = redis.call('HGETALL', KEYS[2 * i])
  local rt, ru, live = 0, 0, 0
  for j = 1, #held, 2 do
    local tokens, usd, expires = string.match(held[j + 1], '(%d+) (%d+) (%d+)')
    if tonumber(expires) <= now then
      redis.call('HDEL', KEYS[2 * i], held[j])
    else
      rt, ru, live = rt + tonumber(tokens), ru + tonumber(usd), live + 1
    end
  end
  if i == 1 then running = live end
  figures[i] = {tonumber(td), tonumber(tm), tonumber(um), rt, ru}
end
local reply = {'', running}
for i = 1, accounts do
  for _, value in ipairs(figures[i]) do table.insert(reply, value) end
end
if mode ~= 'admit' then
  reply[1] = 'figures'
  return reply
end
local at_once = tonumber(ARGV[7])
if at_once >= 0 and running >= at_once then
  reply[1] = 'busy'
  return reply
end
local user = figures[1]
local tokens, usd = tonumber(ARGV[11]), tonumber(ARGV[12])
local lefts = {}
if tonumber(ARGV[8]) >= 0 then table.insert(lefts, {'t', tonumber(ARGV[8]) - user[1] - user[4]}) end
if tonumber(ARGV[9]) >= 0 then table.insert(lefts, {'t', tonumber(ARGV[9]) - user[2] - user[4]}) end
if tonumber(ARGV[10]) >= 0 then table.insert(lefts, {'u', tonumber(ARGV[10]) - user[3] - user[5]}) end
for i = 2, accounts do
  table.insert(lefts, {'u', tonumber(ARGV[11 + i]) - figures[i][3] - figures[i][5]})
end
for _, left in ipairs(lefts) do
  if left[2] <= 0 then
    reply[1] = 'refused'
    return reply
  end
  if left[1] == 't' then tokens = math.min(tokens, left[2]) else usd = math.min(usd, left[2]) end
end
local expires = now + ttl
redis.call('HSET', KEYS[2], ARGV[6], string.format('%d %d %d', tokens, usd, expires))
redis.call('PEXPIRE', KEYS[2], ttl * 2)
for i = 2, accounts do
  redis.call('HSET', KEYS[2 * i], ARGV[6], string.format('0 %d %d', usd, expires))
  redis.call('PEXPIRE', KEYS[2 * i], ttl * 2)
end
reply[1] = 'held'
return reply
"""

# KEYS: accounts to (re)load. ARGV: month, today, account TTL ms, then per key the spend count the load started
# from (-1: the account did not exist) and its tokens today, tokens this month and USD micros this month.
_LOAD = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
for i = 1, #KEYS do
  local base = 3 + (i - 1) * 4
  local expected = tonumber(ARGV[base + 1])
  local mo, g = unpack(redis.call('HMGET', KEYS[i], 'mo', 'g'))
  local current = mo and tonumber(g or '0') or -1
  if current == expected or mo ~= ARGV[1] then
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'mo', ARGV[1], 'dy', ARGV[2], 'td', ARGV[base + 2], 'tm', ARGV[base + 3],
      'um', ARGV[base + 4], 'at', now, 'g', 0)
  else
    -- Spend was added while the record was read: what is here already counts it; keep it, checked again later.
    redis.call('HSET', KEYS[i], 'at', now)
  end
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3]))
end
return #KEYS
"""

# KEYS: the accounts spend counts for (first `n`), then holds keys. ARGV: today, month, n, then tokens and USD
# micros per account, then the hold id to end in each holds key.
_APPLY = """
local today, month, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 1, n do
  if redis.call('HGET', KEYS[i], 'mo') == month then
    if redis.call('HGET', KEYS[i], 'dy') ~= today then
      redis.call('HSET', KEYS[i], 'dy', today, 'td', 0)
    end
    local tokens, usd = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
    redis.call('HINCRBY', KEYS[i], 'td', tokens)
    redis.call('HINCRBY', KEYS[i], 'tm', tokens)
    redis.call('HINCRBY', KEYS[i], 'um', usd)
    redis.call('HINCRBY', KEYS[i], 'g', 1)
  end
end
for i = n + 1, #KEYS do
  redis.call('HDEL', KEYS[i], ARGV[3 + 2 * n + (i - n)])
end
return 1
"""


class RedisLedger(Ledger):
    """The ledger every replica shares (see the module's docstring)."""

    def __init__(self, redis: RedisClient, *, prefix: str, load: Loader, refresh_seconds: float) -> None:
        self._prefix = slot_tag(f"{prefix}:quota", cluster=is_cluster(redis))
        self._load = load
        self._refresh_ms = int(refresh_seconds * 1000)
        self._admit = redis.register_script(_ADMIT)
        self._load_script = redis.register_script(_LOAD)
        self._apply = redis.register_script(_APPLY)

    async def admit(self, user_id: uuid.UUID, terms: Terms, *, session: AsyncSession | None = None) -> Admission:
        plan = terms.plan
        arguments: list[Any] = [
            "admit",
            int(terms.ttl_seconds * 1000),
            str(uuid.uuid4()),
            _or_none(plan.concurrent_answers),
            _or_none(plan.tokens_per_day),
            _or_none(plan.tokens_per_month),
            -1 if plan.usd_budget_per_month is None else to_micros(Decimal(str(plan.usd_budget_per_month))),
            terms.tokens_estimate,
            to_micros(terms.usd_estimate),
            *(to_micros(budget.usd_per_month) for budget in terms.budgets),
        ]
        reply = await self._run(user_id, terms.group_ids, arguments, session)
        figures = _figures(reply, terms.group_ids)
        return Admission(figures, uuid.UUID(arguments[2]) if reply[0] == b"held" else None)

    async def figures(
        self, user_id: uuid.UUID, group_ids: Sequence[uuid.UUID], *, session: AsyncSession | None = None
    ) -> Figures:
        reply = await self._run(user_id, list(group_ids), ["peek", 0, "", -1, -1, -1, -1, 0, 0], session)
        return _figures(reply, list(group_ids))

    async def apply(self, spends: Sequence[Spend], releases: Sequence[Hold]) -> None:
        totals: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
        for spend in spends:
            for subject in spend.subjects:
                totals[subject][0] += spend.tokens
                totals[subject][1] += spend.usd_micros
        keys = [self._account(subject) for subject in totals]
        today = day_start(utcnow())
        arguments: list[Any] = [today.isoformat(), today.isoformat()[:7], len(totals)]
        for tokens, usd in totals.values():
            arguments += [tokens, usd]
        for hold in releases:
            for subject in (hold.user_id, *hold.group_ids):
                keys.append(self._holds(subject))
                arguments.append(str(hold.hold_id))
        if keys:
            await self._apply(keys=keys, args=arguments)

    async def _run(
        self, user_id: uuid.UUID, group_ids: list[uuid.UUID], arguments: list[Any], session: AsyncSession | None
    ) -> list[Any]:
        """Run the admission script (or its read-only form), loading the accounts it finds missing or due for a
        refresh from the record first."""
        subjects = [user_id, *group_ids]
        keys = [key for subject in subjects for key in (self._account(subject), self._holds(subject))]
        for _ in range(3):
            today = day_start(utcnow())
            try:
                reply: list[Any] = await self._admit(
                    keys=keys,
                    args=[arguments[0], today.isoformat(), today.isoformat()[:7], self._refresh_ms, *arguments[1:]],
                )
            except RedisError as exc:
                raise _unavailable() from exc
            if reply[0] != b"load":
                return reply
            await self._refresh(subjects, reply[1:], today, session)
        raise _unavailable()

    async def _refresh(
        self, subjects: list[uuid.UUID], due: list[Any], today: date, session: AsyncSession | None
    ) -> None:
        """Load the accounts the script asked for from the record, unless spend was added meanwhile."""
        wanted = [(subjects[int(due[i]) - 1], int(due[i + 1])) for i in range(0, len(due), 2)]
        balances = await self._load([subject for subject, _ in wanted], today, today.replace(day=1), session)
        arguments: list[Any] = [today.isoformat()[:7], today.isoformat(), _ACCOUNT_TTL_MS]
        for subject, counted in wanted:
            balance = balances.get(subject)
            if balance is None:
                arguments += [counted, 0, 0, 0]
            else:
                arguments += [counted, balance.tokens_today, balance.tokens_this_month, balance.usd_micros]
        try:
            await self._load_script(keys=[self._account(subject) for subject, _ in wanted], args=arguments)
        except RedisError as exc:
            raise _unavailable() from exc

    def _account(self, subject: uuid.UUID) -> str:
        return f"{self._prefix}:a:{subject}"

    def _holds(self, subject: uuid.UUID) -> str:
        return f"{self._prefix}:h:{subject}"


def _unavailable() -> ServiceUnavailable:
    # A quota that cannot be checked is not silently lifted.
    return ServiceUnavailable("Quotas cannot be checked right now; try again shortly", headers={"Retry-After": "5"})


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def _figures(reply: list[Any], group_ids: list[uuid.UUID]) -> Figures:
    running = int(reply[1])
    accounts = [
        Spent(
            tokens_today=int(reply[2 + 5 * i]),
            tokens_this_month=int(reply[3 + 5 * i]),
            usd_this_month=from_micros(int(reply[4 + 5 * i])),
            reserved_tokens=int(reply[5 + 5 * i]),
            reserved_usd=from_micros(int(reply[6 + 5 * i])),
        )
        for i in range(1 + len(group_ids))
    ]
    return Figures(accounts[0], dict(zip(group_ids, accounts[1:], strict=True)), running)
