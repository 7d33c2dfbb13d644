from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.models.base import Base, Timestamps, UUIDPrimaryKey

# Every write takes the next value: replicas notice a change by the highest revision (and the row count, for
# deletes) without reading the rows (`parley.llm.catalogue_store`).
REVISION_SEQUENCE = "model_catalogue_revision"


class ModelCatalogueEntry(UUIDPrimaryKey, Timestamps, Base):
    """An administrator's entry in the model catalogue, over the models file (the seed).

    `config` holds the fields the admins set: for a model they added, its whole entry; for a model of the models
    file, only the fields they changed (the file's other fields still apply). `enabled` false keeps the model in
    the admin list but out of every chat and model list. An entry's API key is either named (`api_key_env`, the
    environment variable that holds it) or stored in `api_key_sealed`, sealed with the system's data key (never in
    `config`, never in the clear)."""

    __tablename__ = "model_catalogue_entries"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    api_key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    revision: Mapped[int] = mapped_column(BigInteger, server_default=text(f"nextval('{REVISION_SEQUENCE}')"))
