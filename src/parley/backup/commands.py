"""`parley backup` and `parley restore` (wired in cli.py; README, "Backup and restore").

A backup is one archive (`archive.py`) of what an install cannot rebuild: the database (pg_dump's custom format,
made with the embedded server's own binaries), the stored files (local storage) and the keys Parley generated
into its data dir (the JWT signing key, the SAML key pair). The bundled models are not in it: they are put
together again from the installed packages. A restore checks the whole archive before it changes anything,
refuses to replace an install unless told to (`--force`), and migrates a database from an older Parley.

With DATABASE_URL the same pg_dump/pg_restore run against that server; with S3 storage the files stay in the
bucket, whose own versioning or replication protects them (the archive says so; it holds no files then).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from parley import __version__
from parley.backup.archive import (
    DATABASE_MEMBER,
    FILES_PREFIX,
    KEYS_PREFIX,
    ArchiveReader,
    ArchiveWriter,
    BackupError,
    Manifest,
    relative_files,
)
from parley.config import Settings
from parley.db import (
    EmbeddedPostgres,
    StartupError,
    asyncpg_dsn,
    create_engine,
    start_embedded_postgres,
    verify_database,
)
from parley.kit.private_paths import make_private_dir
from parley.migrations.runner import alembic_config, upgrade_to_head

# Keys Parley writes into its data dir when they are not configured (auth/tokens.py, identity/saml_keys.py,
# audit/signing.py, and the key file of encryption at rest: crypto/providers/local.py, without which nothing
# sealed in the database or the files opens).
_KEY_PATHS = ("jwt-secret", "saml", "audit-signing-key.pem", "crypto")


def run_backup(settings: Settings, archive: Path) -> int:
    """Write the archive; print what went in. Works while Parley runs (pg_dump reads one consistent snapshot;
    a file uploaded during the backup may be missing from it)."""
    try:
        archive = archive.expanduser().resolve()
        if archive.exists():
            raise BackupError(f"{archive} exists already: choose a new name (a backup never overwrites one)")
        if not archive.parent.exists():
            make_private_dir(archive.parent)
        data_dir = settings.resolved_data_dir
        with (
            _database(settings) as url,
            tempfile.TemporaryDirectory(dir=archive.parent, prefix=".parley-backup-") as scratch,
        ):
            revision = asyncio.run(_revision(url))
            dump = Path(scratch) / DATABASE_MEMBER
            _pg("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"], url)
            manifest = Manifest(
                parley_version=__version__,
                migration_revision=revision,
                database="external" if settings.database_url else "embedded",
                storage="s3" if settings.s3.bucket else "local",
            )
            with ArchiveWriter(archive, manifest) as writer:
                writer.add_file(DATABASE_MEMBER, dump)
                if not settings.s3.bucket:
                    root = data_dir / "files"
                    for relative in relative_files(root):
                        if not relative.name.startswith("."):  # an upload being written (storage/local.py)
                            writer.add_file(FILES_PREFIX + relative.as_posix(), root / relative)
                for key in _KEY_PATHS:
                    for relative in _key_files(data_dir, key):
                        writer.add_file(KEYS_PREFIX + relative.as_posix(), data_dir / relative)
    except (BackupError, StartupError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # the archive's folder is not writable, the disk is full…
        return _fail(f"the backup failed: {exc}")
    files = sum(name.startswith(FILES_PREFIX) for name in manifest.members)
    keys = sum(name.startswith(KEYS_PREFIX) for name in manifest.members)
    print(
        f"Backed up to {archive}: database at migration {revision}, {files} stored file(s), {keys} key file(s)",
        file=sys.stderr,
    )
    if settings.s3.bucket:
        print(
            "parley: note: files in S3 are not in the archive: protect the bucket with its own versioning "
            'and replication (README, "Backup and restore")',
            file=sys.stderr,
        )
    key_file = settings.crypto.key_file_in(data_dir)
    in_archive = settings.crypto.keys is None and key_file.resolve().is_relative_to(data_dir / "crypto")
    if settings.crypto.provider != "local" or not in_archive:
        where = (
            f"the {settings.crypto.provider} key"
            if settings.crypto.provider != "local"
            else "PARLEY_CRYPTO__KEYS"
            if settings.crypto.keys is not None
            else key_file
        )
        print(
            f"parley: note: the key-encryption key ({where}) is not in the archive; without it the archive's "
            'encrypted data cannot be read (README, "Encryption at rest")',
            file=sys.stderr,
        )
    return 0


def run_restore(settings: Settings, archive: Path, *, force: bool) -> int:
    """Restore the archive into the data dir (and the database: embedded, or DATABASE_URL's)."""
    try:
        reader = ArchiveReader(archive.expanduser().resolve())
    except BackupError as exc:
        return _fail(str(exc))
    try:
        reader.verify()
        manifest = reader.manifest
        if manifest.migration_revision is not None and manifest.migration_revision not in known_revisions():
            raise BackupError(
                f"the archive's database is at migration {manifest.migration_revision}, which this Parley "
                f"({__version__}) does not know: restore it with Parley {manifest.parley_version} or newer"
            )
        data_dir = settings.resolved_data_dir
        _make_room(settings, data_dir, force=force)
        with tempfile.TemporaryDirectory(prefix=".parley-restore-") as scratch:
            dump = Path(scratch) / DATABASE_MEMBER
            reader.extract(DATABASE_MEMBER, dump)
            for name in reader.names(KEYS_PREFIX):
                reader.extract(name, data_dir / name.removeprefix(KEYS_PREFIX))
            if settings.s3.bucket is None:
                for name in reader.names(FILES_PREFIX):
                    reader.extract(name, data_dir / "files" / name.removeprefix(FILES_PREFIX))
            with _database(settings) as url:
                restore_options = ["--no-owner", "--no-privileges", "--exit-on-error"]
                if settings.database_url:
                    restore_options += ["--clean", "--if-exists"]
                _pg("pg_restore", [*restore_options, str(dump)], url)
                asyncio.run(_migrate(url, settings))
    except (BackupError, StartupError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # the data dir is not writable, the disk is full…
        return _fail(f"the restore failed: {exc}")
    finally:
        reader.close()
    print(
        f"Restored {archive} (written {manifest.created_at} by Parley {manifest.parley_version}, migration "
        f"{manifest.migration_revision}) into {settings.resolved_data_dir}",
        file=sys.stderr,
    )
    if manifest.storage == "s3":
        print("parley: note: the archive holds no files: they are in the S3 bucket", file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"parley: error: {message}", file=sys.stderr)
    return 1


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The database's SQLAlchemy URL: DATABASE_URL's, or the embedded server's (started for the block; one a
    running Parley started is shared, and left running)."""
    if settings.database_url:
        yield settings.database_url
        return
    embedded: EmbeddedPostgres = start_embedded_postgres(settings.resolved_data_dir)
    try:
        yield embedded.url
    finally:
        embedded.stop()


def _pg(program: str, arguments: list[str], url: str) -> None:
    """Run the embedded server's `program` (pg_dump, pg_restore) against `url`; the password goes through the
    environment, never the command line (which every account on the machine can read)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    parsed = make_url(url).set(drivername="postgresql")
    environment = {**os.environ}
    if parsed.password:
        environment["PGPASSWORD"] = str(parsed.password)
    dsn = parsed.set(password=None).render_as_string(hide_password=False)
    result = subprocess.run(  # noqa: S603 - our own binary, arguments we built
        [str(POSTGRES_BIN_PATH / program), f"--dbname={dsn}", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        raise BackupError(f"{program} failed: {detail[-1] if detail else f'exit status {result.returncode}'}")


async def _revision(url: str) -> str | None:
    await verify_database(url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        exists = await connection.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        revision = await connection.fetchval("SELECT version_num FROM alembic_version") if exists else None
    finally:
        await connection.close()
    return str(revision) if revision is not None else None


def known_revisions() -> set[str]:
    """Every migration revision this Parley has (an archive at another one was written by a newer Parley)."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


async def _migrate(url: str, settings: Settings) -> None:
    engine = create_engine(url, settings)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def _key_files(data_dir: Path, key: str) -> list[Path]:
    path = data_dir / key
    if path.is_file():
        return [Path(key)]
    return [Path(key) / relative for relative in relative_files(path)]


def _make_room(settings: Settings, data_dir: Path, *, force: bool) -> None:
    """Refuse to restore over an install (unless `force`: then its database, files and keys are removed);
    never while a Parley or its database runs on it."""
    present = [name for name in ("postgres", "files", *_KEY_PATHS) if _occupied(data_dir / name)]
    if settings.database_url and asyncio.run(_revision(settings.database_url)) is not None:
        present.append("the database at DATABASE_URL")
    if not present:
        return
    if not force:
        raise BackupError(
            f"{data_dir} already holds an install ({', '.join(present)}): restore into an empty data dir, or "
            "add --force to replace it"
        )
    if _server_running(data_dir / "postgres"):
        raise BackupError(f"Parley's database under {data_dir / 'postgres'} is running: stop Parley first")
    for name in ("postgres", "files", *_KEY_PATHS):
        path = data_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _occupied(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def _server_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return psutil.pid_exists(pid)
