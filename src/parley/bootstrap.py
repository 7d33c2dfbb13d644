"""First start: an empty database gets its first admin, from settings or with a generated password."""

from __future__ import annotations

import sys

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from parley.auth.security import Security
from parley.config import Settings
from parley.errors import Conflict
from parley.users import service as user_service

_logger = structlog.get_logger("parley.bootstrap")
DEFAULT_ADMIN_EMAIL = "admin@parley.local"


async def ensure_first_admin(session: AsyncSession, security: Security, settings: Settings) -> None:
    if await user_service.has_users(session):
        return
    email = settings.admin_email or DEFAULT_ADMIN_EMAIL
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    try:
        user, generated = await user_service.create_admin(
            session,
            security.passwords,
            email=email,
            password=password,
            password_min_length=security.settings.password_min_length,
        )
    except Conflict:
        return  # another replica starting at the same moment created it first
    _logger.info("first_admin_created", email=user.email, password_generated=generated is not None)
    if generated:
        # Shown once, on the console only: it is never logged and never stored in clear.
        print(
            f"\nParley created the first admin account.\n  email:    {user.email}\n  password: {generated}\n"
            "Sign in and change this password now; it will not be shown again.\n",
            file=sys.stderr,
            flush=True,
        )
