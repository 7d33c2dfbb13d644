from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from fastapi import APIRouter, Request

from parley.auth.dependencies import ProfileReader, ProfileWriter
from parley.auth.security import SecurityDep, client_ip
from parley.db import SessionDep
from parley.errors import Forbidden, problem_responses
from parley.plans import service as plans_service
from parley.plans.dependencies import SeededPlans
from parley.policy.quotas import Quota
from parley.policy.rates import RateLimiterDep
from parley.quotas import service as quotas_service
from parley.quotas.dependencies import QuotaLedgerDep
from parley.users import service
from parley.users.schemas import (
    ConcurrentAnswersRead,
    MyLimits,
    ProfileUpdate,
    QuotaRead,
    RequestRateRead,
    UserRead,
)

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserRead, responses=problem_responses(401, 403), summary="Your profile")
async def read_me(principal: ProfileReader, request: Request) -> UserRead:
    me = UserRead.model_validate(principal.user)
    me.permissions = sorted(principal.permissions)
    me.image_hosts = list(request.app.state.settings.safety.image_hosts)
    return me


@router.patch(
    "/me",
    response_model=UserRead,
    responses=problem_responses(401, 403, 422),
    summary="Change your name or password (a password change signs out your other sessions)",
)
async def update_me(
    body: ProfileUpdate,
    request: Request,
    principal: ProfileWriter,
    session: SessionDep,
    security: SecurityDep,
) -> UserRead:
    if body.new_password is not None and not principal.is_interactive:
        raise Forbidden("Changing the password needs a signed-in session; API keys cannot do it")
    user = await service.update_profile(
        session,
        security.passwords,
        principal.user,
        full_name=body.full_name,
        full_name_set="full_name" in body.model_fields_set,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session=principal.session_id,
        ip=client_ip(request),
        password_min_length=security.settings.password_min_length,
    )
    return UserRead.model_validate(user)


@router.get(
    "/me/limits",
    response_model=MyLimits,
    responses=problem_responses(401, 403),
    summary="Every limit that applies to you: used, left and when it comes back",
)
async def read_my_limits(
    principal: ProfileReader, session: SessionDep, seeds: SeededPlans, limiter: RateLimiterDep, ledger: QuotaLedgerDep
) -> MyLimits:
    plan = await plans_service.plan_for_user(session, principal.user, seeds=seeds)
    standing = await quotas_service.standing(session, ledger, user_id=principal.user_id, plan=plan, limiter=limiter)
    limits = standing.plan.plan
    requests = standing.requests
    return MyLimits(
        plan=standing.plan.name,
        quotas=[_quota(quota) for quota in standing.quotas],
        requests_per_minute=None
        if requests is None
        else RequestRateRead(
            limit=requests.limit.quota,
            remaining=requests.remaining,
            resets_at=datetime.fromtimestamp(requests.reset_at, UTC),
        ),
        concurrent_answers=ConcurrentAnswersRead(limit=limits.concurrent_answers, running=standing.answers_running),
        max_upload_mib=limits.max_upload_mib,
        models=limits.models,
    )


_CENT = Decimal("0.01")


def _quota(quota: Quota) -> QuotaRead:
    def amount(value: Decimal) -> int | float:
        return float(value.quantize(_CENT, ROUND_HALF_EVEN)) if quota.unit == "usd" else int(value)

    fraction = min(Decimal(1), quota.used / quota.limit) if quota.limit > 0 else Decimal(1)
    return QuotaRead(
        name=quota.name,
        unit=quota.unit,
        limit=amount(quota.limit),
        used=amount(quota.used),
        reserved=amount(quota.reserved),
        left=amount(quota.left),
        fraction_used=round(float(fraction), 4),
        resets_at=quota.resets_at,
        group_id=quota.group_id,
        group_name=quota.group_name,
    )
