from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from parley.kit.inputs import Input


class RegisterRequest(Input):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=1, max_length=256)
    full_name: str | None = Field(default=None, max_length=200)


class LoginRequest(Input):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(Input):
    """The refresh token, or nothing when the browser holds it in Parley's httpOnly session cookie."""

    refresh_token: str | None = Field(default=None, min_length=1, max_length=512)


class TokenPairResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
