from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class SignInMethod(BaseModel):
    """One way to sign in. `kind` "password" is the email and password form; "oidc" (and later "saml") a
    provider, signed in to by sending the browser to `login_url`."""

    kind: Literal["password", "oidc", "saml"]
    id: str
    display_name: str
    login_url: str | None = None


class SignInMethods(BaseModel):
    methods: list[SignInMethod]
    # Password sign-in is off for everyone but a break-glass administrator: the web app hides the form behind a
    # link for them.
    break_glass_password: bool = False
