"""`parley backup` / `parley restore` of an embedded install, through the CLI as an operator runs them: what
users had (accounts, conversations, file bytes, and the signing key, so their sessions survive) is there again
after the data dir is wiped and restored; a damaged archive is refused before anything is touched."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, interrupt, wait_ready

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "backup-password-1234"
# Settings only this server sees: none of the developer's own Parley settings leak in.
_SERVER_ENV = {
    "PARLEY_LOG_JSON": "false",
    "PARLEY_LOG_LEVEL": "warning",
    "PARLEY_JOBS__WORKERS": "0",
    "PARLEY_AUTH__ARGON2_TIME_COST": "1",
    "PARLEY_AUTH__ARGON2_MEMORY_COST_KIB": "1024",
    "PARLEY_AUTH__ARGON2_PARALLELISM": "1",
    "HF_HUB_OFFLINE": "1",
}


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    for key in ("DATABASE_URL", "REDIS_URL", "RABBITMQ_URL"):
        env.pop(key, None)
    return {**env, **_SERVER_ENV}


def _parley(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", *arguments],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@contextlib.contextmanager
def _served(data_dir: Path, log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    with log.open("ab") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=_environment(), stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, server, log=log, timeout=180)
            yield url
        finally:
            interrupt(server, timeout=60)


def _sign_in(url: str, email: str) -> dict[str, str]:
    response = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _titles(url: str, headers: dict[str, str]) -> set[str]:
    response = httpx.get(f"{url}/api/v1/conversations", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return {item["title"] for item in response.json()["items"]}


def test_backup_wipe_restore_keeps_accounts_conversations_files_and_sessions(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    archive = tmp_path / "backups" / "parley.tar"
    log = tmp_path / "parley.log"
    email = "backup-user@example.com"
    document = "".join(f"{row},{secrets.token_hex(16)}\n" for row in range(8000)).encode()

    with _served(data_dir, log) as url:
        registered = httpx.post(f"{url}/api/v1/auth/register", json={"email": email, "password": PASSWORD}, timeout=30)
        assert registered.status_code == 201, registered.text
        headers = _sign_in(url, email)
        for title in ("Quarterly plan", "Holiday rota"):
            created = httpx.post(f"{url}/api/v1/conversations", json={"title": title}, headers=headers, timeout=30)
            assert created.status_code == 201, created.text
        uploaded = httpx.post(
            f"{url}/api/v1/chat/upload",
            files={"file": ("figures.csv", document, "text/csv")},
            headers=headers,
            timeout=60,
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["id"]
        # A hot backup: the server keeps running.
        backed_up = _parley("backup", str(archive), "--data-dir", str(data_dir))
        assert backed_up.returncode == 0, backed_up.stderr
        assert "1 stored file(s)" in backed_up.stderr
        # The key file of encryption at rest is in the archive; the file's bytes in it are sealed.
        with tarfile.open(archive) as members:
            assert "keys/crypto/keyring.json" in members.getnames()
            stored = members.extractfile(f"files/uploads/{file_id}")
            assert stored is not None
            sealed = stored.read()
        assert sealed.startswith(b"\x89PRLYSF") and document[200:260] not in sealed
        # The backup borrowed the running server's database and left it running.
        assert _titles(url, headers) == {"Quarterly plan", "Holiday rota"}

    shutil.rmtree(data_dir)
    restored = _parley("restore", str(archive), "--data-dir", str(data_dir))
    assert restored.returncode == 0, restored.stderr

    with _served(data_dir, log) as url:
        # The signing key came back too: the access token issued before the backup is still accepted.
        assert _titles(url, headers) == {"Quarterly plan", "Holiday rota"}
        fresh = _sign_in(url, email)
        assert _titles(url, fresh) == {"Quarterly plan", "Holiday rota"}
        downloaded = httpx.get(f"{url}/api/v1/files/{file_id}/content", headers=fresh, timeout=60)
        assert downloaded.status_code == 200 and downloaded.content == document

    # Restoring over the install is refused unless told to replace it; with --force it is replaced.
    again = _parley("restore", str(archive), "--data-dir", str(data_dir))
    assert again.returncode == 1 and "already holds an install" in again.stderr and "--force" in again.stderr
    forced = _parley("restore", str(archive), "--data-dir", str(data_dir), "--force")
    assert forced.returncode == 0, forced.stderr


def _damaged_copy(archive: Path, target: Path, offset: int) -> Path:
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive of a migrated, unused install, with one stored file and a signing key."""
    home = tmp_path_factory.mktemp("backup-small")
    data_dir = home / "data"
    migrated = _parley("migrate", "--data-dir", str(data_dir))
    assert migrated.returncode == 0, migrated.stderr
    (data_dir / "files" / "someone").mkdir(parents=True)
    (data_dir / "files" / "someone" / "notes.txt").write_bytes(b"A" * 5000)
    (data_dir / "jwt-secret").write_text("not-a-real-secret")
    archive = home / "small.tar"
    result = _parley("backup", str(archive), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    return archive


class TestDamagedArchives:
    def test_a_flipped_byte_in_the_database_dump_is_refused_and_nothing_is_restored(self, small_archive, tmp_path):
        # The first member's data starts after its 512-byte header (and a PAX header block before it).
        damaged = _damaged_copy(small_archive, tmp_path / "damaged.tar", 4000)
        target = tmp_path / "restored"
        result = _parley("restore", str(damaged), "--data-dir", str(target))
        assert result.returncode == 1
        assert "does not match its checksum" in result.stderr and "nothing was restored" in result.stderr
        assert not target.exists() or not any(target.iterdir())

    def test_a_truncated_archive_is_refused(self, small_archive, tmp_path):
        truncated = tmp_path / "truncated.tar"
        truncated.write_bytes(small_archive.read_bytes()[: small_archive.stat().st_size // 2])
        result = _parley("restore", str(truncated), "--data-dir", str(tmp_path / "restored"))
        assert result.returncode == 1 and "not a readable Parley backup" in result.stderr

    def test_a_file_that_is_no_backup_is_refused(self, tmp_path):
        other = tmp_path / "holiday.tar"
        with tarfile.open(other, "w") as tar:
            tar.add(ROOT / "README.md", arcname="README.md")
        result = _parley("restore", str(other), "--data-dir", str(tmp_path / "restored"))
        assert result.returncode == 1 and "not a complete Parley backup" in result.stderr

    def test_a_backup_never_overwrites_an_archive(self, small_archive, tmp_path):
        result = _parley("backup", str(small_archive), "--data-dir", str(tmp_path / "data"))
        assert result.returncode == 1 and "exists already" in result.stderr
