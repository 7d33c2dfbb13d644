"""The backup archive: a plain tar whose last member, `manifest.json`, names every other member with its size
and SHA-256, so a restore proves the whole archive intact before it touches anything.

Members: `database.dump` (pg_dump's custom format), `files/<storage key>` (local storage), `keys/<name>` (the
keys Parley generated into the data dir: `jwt-secret`, `saml/...`), then `manifest.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from parley.kit.private_paths import make_private_dir, open_private_file

MANIFEST = "manifest.json"
DATABASE_MEMBER = "database.dump"
FILES_PREFIX = "files/"
KEYS_PREFIX = "keys/"
FORMAT = "parley-backup"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


class BackupError(Exception):
    """The backup or restore cannot go on; the message is one line saying why and what to do."""


@dataclass
class Manifest:
    """What an archive holds and where it came from."""

    parley_version: str
    migration_revision: str | None
    database: Literal["embedded", "external"]
    storage: Literal["local", "s3"]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    # member name -> {"sha256": hex, "size": bytes}
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise BackupError("the archive's manifest is not valid JSON: the archive is damaged") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise BackupError("this is not an archive written by `parley backup` (no Parley manifest)")
        if document.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"the archive has format version {document.get('format_version')!r}; this Parley reads version "
                f"{FORMAT_VERSION}: restore it with the Parley version that wrote it ({document.get('parley_version')})"
            )
        try:
            return cls(
                parley_version=str(document["parley_version"]),
                migration_revision=document["migration_revision"],
                database=document["database"],
                storage=document["storage"],
                created_at=str(document["created_at"]),
                members={str(name): dict(entry) for name, entry in document["members"].items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BackupError("the archive's manifest is incomplete: the archive is damaged") from exc


class ArchiveWriter:
    """Adds members to a new archive (written beside the target and renamed into place when complete, so an
    interrupted backup never leaves a file that looks like a whole archive)."""

    def __init__(self, target: Path, manifest: Manifest) -> None:
        self.target = target
        self.manifest = manifest
        self._partial = target.with_name(target.name + ".partial")
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> ArchiveWriter:
        descriptor = open_private_file(self._partial, exclusive=False)
        self._tar = tarfile.open(fileobj=os.fdopen(descriptor, "wb"), mode="w", format=tarfile.PAX_FORMAT)
        return self

    def add_file(self, name: str, source: Path) -> None:
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        size = source.stat().st_size
        with source.open("rb") as handle:
            self._add(name, handle, size)
        self.manifest.members[name] = {"sha256": digest.hexdigest(), "size": size}

    def _add(self, name: str, handle: IO[bytes], size: int) -> None:
        assert self._tar is not None
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o600
        info.mtime = int(datetime.now(UTC).timestamp())
        self._tar.addfile(info, handle)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        assert self._tar is not None
        fileobj = self._tar.fileobj
        try:
            if exc_type is None:
                manifest = self.manifest.to_json()
                self._add(MANIFEST, io.BytesIO(manifest), len(manifest))
            self._tar.close()
        finally:
            if fileobj is not None:
                fileobj.close()
        if exc_type is None:
            self._partial.replace(self.target)
        else:
            self._partial.unlink(missing_ok=True)


class ArchiveReader:
    """An archive opened for restoring: `verify()` first (every member present and matching its checksum, no
    member that could land outside the target), then `extract()` what is needed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - open until close()
        except FileNotFoundError as exc:
            raise BackupError(f"no archive at {path}") from exc
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BackupError(f"{path} is not a readable Parley backup (damaged or truncated: {exc})") from exc
        try:
            self.manifest = Manifest.from_json(self._read(MANIFEST))
        except (tarfile.TarError, EOFError, OSError) as exc:
            self._tar.close()
            raise BackupError(f"{path} is not a readable Parley backup (damaged or truncated: {exc})") from exc
        except BackupError:
            self._tar.close()
            raise

    def close(self) -> None:
        self._tar.close()

    def _read(self, name: str) -> bytes:
        try:
            member = self._tar.getmember(name)
        except KeyError as exc:
            raise BackupError(f"{self.path} has no {name}: it is not a complete Parley backup") from exc
        handle = self._tar.extractfile(member)
        if handle is None:
            raise BackupError(f"{self.path}: {name} is not a regular file")
        return handle.read()

    def verify(self) -> None:
        """Raise BackupError unless every member matches the manifest (names, sizes, SHA-256)."""
        seen: set[str] = set()
        try:
            for member in self._tar:
                if member.name == MANIFEST:
                    continue
                if not member.isfile() or not _safe_name(member.name):
                    raise BackupError(f"the archive holds an unexpected entry {member.name!r}: refused")
                expected = self.manifest.members.get(member.name)
                if expected is None:
                    raise BackupError(f"the archive holds {member.name!r}, which its manifest does not list: refused")
                digest = hashlib.sha256()
                with self._open(member) as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                if member.size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
                    raise BackupError(
                        f"{member.name} in the archive does not match its checksum: the archive is damaged "
                        "(nothing was restored)"
                    )
                seen.add(member.name)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BackupError(f"{self.path} is damaged or truncated ({exc}); nothing was restored") from exc
        missing = sorted(set(self.manifest.members) - seen)
        if missing:
            raise BackupError(
                f"the archive lacks {len(missing)} member(s) its manifest lists (first: {missing[0]}): it is "
                "incomplete (nothing was restored)"
            )

    def names(self, prefix: str) -> list[str]:
        return sorted(name for name in self.manifest.members if name.startswith(prefix))

    def extract(self, name: str, target: Path) -> None:
        """Member `name` (verified) written to `target`, owner-only."""
        make_private_dir(target.parent)
        with (
            self._open(self._tar.getmember(name)) as source,
            os.fdopen(open_private_file(target, exclusive=False), "wb") as sink,
        ):
            while chunk := source.read(_CHUNK):
                sink.write(chunk)

    @contextlib.contextmanager
    def _open(self, member: tarfile.TarInfo) -> Iterator[IO[bytes]]:
        handle = self._tar.extractfile(member)
        if handle is None:
            raise BackupError(f"{member.name} is not a regular file")
        try:
            yield handle
        finally:
            handle.close()


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return False
    return name == DATABASE_MEMBER or name.startswith((FILES_PREFIX, KEYS_PREFIX))


def relative_files(root: Path) -> list[Path]:
    """Every regular file below `root`, relative to it, in a stable order (none when `root` is missing)."""
    if not root.is_dir():
        return []
    return sorted(path.relative_to(root) for path in root.rglob("*") if path.is_file() and not path.is_symlink())
