from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey


class CustomRole(UUIDPrimaryKey, Timestamps, Base):
    """A role administrators defined as a set of permissions (`parley.auth.permissions.Permission` values).

    Users (`users.role`) and groups (`groups.role`) name it; the built-in `user` and `admin` are not rows here.
    """

    __tablename__ = "roles"

    # Lower-case, unique; never `user` or `admin`.
    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default="{}")
