"""Where Parley keeps things: the database, uploads (local or S3), images, jobs and batches, GDPR exports (parts
of `parley.config.Settings`)."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
)

from parley.kit.postgres_url import libpq_spelling


def postgres_url(value: str | None, name: str = "DATABASE_URL") -> str | None:
    if not value:
        return None
    if value.startswith(("postgres://", "postgresql://")):
        # Accept the common libpq spelling and use the asyncpg driver for it.
        value = "postgresql+asyncpg://" + value.split("://", 1)[1]
    if not value.startswith("postgresql+asyncpg://"):
        raise ValueError(f"{name} must be a PostgreSQL URL (postgresql+asyncpg://user:pass@host/db)")
    return libpq_spelling(value)


class DatabaseSettings(BaseModel):
    """Connection pool of the one PostgreSQL database (its URL is `Settings.database_url`)."""

    # Kept open: a chat holds a connection for a few milliseconds at a time, but 100 concurrent chats need
    # dozens at once, and opening one costs more than a chat's whole request.
    pool_size: int = Field(default=40, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=500)
    # How long a request waits for a pool connection before it is answered 503 (with Retry-After) instead.
    pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    echo: bool = False
    # Read replica (`DATABASE_READ_URL`; README, "Read replicas"): its own pool, for the read-heavy queries only.
    read_pool_size: int = Field(default=20, ge=1, le=200)
    read_max_overflow: int = Field(default=10, ge=0, le=500)
    # Reads leave a replica that is more than this far behind the primary (or unreachable) for the primary.
    replica_max_lag_seconds: float = Field(default=10.0, gt=0, le=3600)
    # How often the replica's replay position and the primary's WAL position are compared.
    replica_check_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # A replica that does not answer within this long counts as down until its next good check.
    replica_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)


class S3Settings(BaseModel):
    """S3 (or any S3-API server: MinIO, Ceph, moto). Setting `bucket` switches file storage from local files to S3."""

    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    # Key prefix inside the bucket, for several deployments sharing one bucket.
    prefix: str = Field(default="parley/", max_length=200)
    # Multi-region (README, "Multi-region"): the bucket and the KMS key (SSE-KMS) of each Parley region; a
    # deployment stores its uploads in its own region's (`PARLEY_REGION`), falling back to `bucket`/`kms_key_id`.
    buckets: dict[str, str] = Field(default_factory=dict)
    kms_key_id: str | None = None
    kms_key_ids: dict[str, str] = Field(default_factory=dict)

    def for_region(self, region: str | None) -> S3Settings:
        """These settings with the bucket and KMS key of `region` (unchanged when the region has none listed)."""
        if region is None:
            return self
        return self.model_copy(
            update={
                "bucket": self.buckets.get(region, self.bucket),
                "kms_key_id": self.kms_key_ids.get(region, self.kms_key_id),
            }
        )


class FileSettings(BaseModel):
    """Uploads: the limits that refuse archive bombs. The largest upload is a plan's (`max_upload_mib`)."""

    # OOXML (docx/xlsx/pptx) are zip files: refused before unpacking beyond these.
    zip_max_entries: int = Field(default=10_000, ge=1)
    zip_max_uncompressed_mib: int = Field(default=512, ge=1)
    zip_max_ratio: int = Field(default=100, ge=2)
    # Extracted text beyond this many characters is cut (a 100 MiB CSV is not a document).
    max_extracted_chars: int = Field(default=20_000_000, ge=1000)
    # Reading one file (in a child process of its own) may use this much memory and take this long; past
    # either the file fails with the reason. An Office part may expand to at most `ooxml_max_part_mib`.
    reading_memory_mib: int = Field(default=1024, ge=16)
    reading_timeout_seconds: float = Field(default=120.0, gt=0, le=86_400)
    ooxml_max_part_mib: int = Field(default=32, ge=1)
    # PDFs: pages read at most, and content interpreted per page (a bigger page is skipped) and in all.
    pdf_max_pages: int = Field(default=2000, ge=1)
    pdf_max_page_content_kib: int = Field(default=1024, ge=1)
    pdf_max_content_mib: int = Field(default=32, ge=1)
    # Chunks embedded per file at most (2,000: ~1,400 pages, about 12 min of e5-small on one core); text beyond
    # is cut, so a 190 MiB text file ends in bounded time.
    max_chunks_per_file: int = Field(default=2000, ge=1)


class ImageSettings(BaseModel):
    """Images in chat (README, "Images"): the largest image read, and how http(s) image URLs are fetched."""

    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    max_per_request: int = Field(default=20, ge=1, le=500)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_redirects: int = Field(default=3, ge=0, le=10)
    # Host names (or addresses) that may be fetched although they resolve to a private, loopback or link-local
    # address: an internal image server of the deployment. Everything else must resolve to public addresses.
    allowed_private_hosts: list[str] = Field(default_factory=list)


class JobSettings(BaseModel):
    """Background jobs (ingestion …): the outbox table is the source of truth; a worker claims rows from it."""

    # In-process workers in each API process (0: this replica only serves requests).
    workers: int = Field(default=2, ge=0, le=64)
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # A claimed job whose worker died is taken again after its lease runs out.
    lease_seconds: float = Field(default=300.0, ge=5)
    max_attempts: int = Field(default=5, ge=1, le=100)
    # A job still running after this long is stopped and fails for good (not retried): one file cannot hold
    # a worker for hours.
    time_budget_seconds: float = Field(default=1800.0, gt=0, le=86_400)
    # Jobs of one user (an upload's owner) running at once, across replicas: the others wait, so one user's
    # files never hold every worker while someone else's upload waits. 0: no limit.
    max_running_per_owner: int = Field(default=1, ge=0, le=1000)


class BatchSettings(BaseModel):
    """OpenAI's Batch API on /v1 (`parley.batches`; README, "Batches"): lines run by the job workers, behind chat."""

    # Largest file /v1/files takes (a batch's input), in MiB.
    max_file_mib: int = Field(default=100, ge=1, le=1024)
    # Most lines (requests) one batch may hold.
    max_lines: int = Field(default=50_000, ge=1, le=1_000_000)
    # Batch lines running at once in one process, all batches together: the rest of the models' capacity is left
    # to chat, which never waits for a batch.
    concurrent_lines: int = Field(default=2, ge=1, le=64)
    # A batch's job runs its lines for about this long, then hands the worker back and is queued again (behind
    # the other users' jobs): one batch never holds a worker for long.
    slice_seconds: float = Field(default=20.0, gt=0, le=600)


class GdprSettings(BaseModel):
    """Data exports, erasure and retention (README, "Your data: export, erasure and retention")."""

    # A finished export can be downloaded for this long; then the worker deletes its zip.
    export_expiry_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Exports one user may start per rolling 24 hours (one at a time in any case); more is a 429 with Retry-After.
    exports_per_day: int = Field(default=3, ge=1, le=100)
    # Deleting one's account without a password (single sign-on only): the session must have signed in this
    # recently, else the user is asked to sign in again.
    reauthentication_minutes: int = Field(default=10, ge=1, le=1440)
    # How often the job worker applies the plans' and groups' retention policies.
    retention_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # Rows deleted per transaction by retention (short transactions: big tables are never locked for long).
    retention_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Key of the keyed hash that names an erased account in the audit trail and usage records; unset: generated
    # on first start into `<data dir>/tombstone-key` (0600). Keep it to prove later that a given id was erased.
    tombstone_key: SecretStr | None = Field(default=None, min_length=32)
