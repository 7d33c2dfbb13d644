"""Who may read and change files (ownership itself is enforced in the repository's SQL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from parley.auth.dependencies import require
from parley.auth.permissions import Permission
from parley.auth.principal import Principal

FileRead = Annotated[Principal, Depends(require(Permission.FILES_READ))]
FileWrite = Annotated[Principal, Depends(require(Permission.FILES_WRITE))]
