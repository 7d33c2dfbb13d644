"""What every identity provider's settings say about roles and groups, whatever the protocol (OpenID Connect
claims, SAML attributes): the part of a provider's mapping the identity service acts on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parley.roles.schemas import ROLE_NAME_PATTERN


class GroupRoleMapping(BaseModel):
    """Roles and groups from the groups a provider says the user is in."""

    model_config = ConfigDict(extra="forbid")

    # Members of any of these groups are Parley admins; everyone else signing in here is a user. Empty (and no
    # role_groups): roles are left as administrators set them in Parley.
    admin_groups: list[str] = Field(default_factory=list)
    # Group → role (a custom role's name, or `user`): members get the role of the first of these groups they are
    # in (after admin_groups), everyone else `user`; the provider then decides roles, as with admin_groups.
    role_groups: dict[str, Annotated[str, Field(pattern=ROLE_NAME_PATTERN)]] = Field(default_factory=dict)
    # True: Parley groups are created from the groups and a user's memberships replaced by them at each sign-in.
    sync_groups: bool = False


Entry = TypeVar("Entry", bound=BaseModel)


def load_entries(path: Path, key: str, model: type[Entry], *, what: str) -> list[Entry]:
    """The providers listed under a top-level `key:` of the YAML file at `path` (OpenID Connect's `providers:`,
    SAML's `idps:`), each validated; any problem is a `ValueError` of one line naming the file and the key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read the {what} file {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get(key), list):
        raise ValueError(f"{path}: expected a top-level '{key}:' list")
    try:
        return [model.model_validate(entry) for entry in raw[key]]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or key.rstrip("s")
        raise ValueError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from exc
