"""The command line as an operator uses it: serve, migrate, create-admin, and clear start-up failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.factories import PASSWORD
from tests.servers import free_port, wait_ready

PARLEY = [sys.executable, "-m", "parley"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
    env.update(
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
    )
    env.update(extra)
    return env


class TestStartupFailures:
    def test_unreachable_database_fails_with_one_clear_line(self, tmp_path):
        result = subprocess.run(
            [*PARLEY, "migrate", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/parley"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("parley: error: cannot reach PostgreSQL at 127.0.0.1")
        assert "DATABASE_URL" in lines[0]

    def test_server_without_pgvector_is_refused_with_one_clear_line(self, tmp_path, system_postgres):
        result = subprocess.run(
            [*PARLEY, "migrate", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=system_postgres),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "lacks the vector extension" in lines[0]

    def test_several_workers_without_redis_are_refused(self, tmp_path):
        result = subprocess.run(
            [*PARLEY, "serve", "--workers", "2", "--data-dir", str(tmp_path)],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "parley: error: --workers above 1 needs REDIS_URL" in result.stderr

    def test_non_postgres_url_is_refused(self, tmp_path):
        result = subprocess.run(
            [*PARLEY, "migrate", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL="mysql://root@127.0.0.1/test"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "DATABASE_URL must be a PostgreSQL URL" in result.stderr
        assert "Traceback" not in result.stderr


class TestCreateAdmin:
    def test_password_from_stdin_then_sign_in(self, tmp_path, database_url, client, app):
        result = subprocess.run(
            [*PARLEY, "create-admin", "--email", "Ops@Example.com", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=database_url),
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "Created admin ops@example.com" in result.stdout
        assert PASSWORD not in result.stdout + result.stderr

    def test_generated_password_is_printed_once_and_works(self, tmp_path, database_url, client, app):
        result = subprocess.run(
            [*PARLEY, "create-admin", "--email", "gen@example.com", "--data-dir", str(tmp_path)],
            env=_env(DATABASE_URL=database_url),
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        generated = result.stdout.split("Generated password (shown once): ")[1].strip()
        assert len(generated) >= 16

    def test_duplicate_admin_email_is_a_clear_error(self, tmp_path, database_url, client, app):
        args = [*PARLEY, "create-admin", "--email", "twice@example.com", "--data-dir", str(tmp_path)]
        first = subprocess.run(args, env=_env(DATABASE_URL=database_url), input="", capture_output=True, text=True)
        second = subprocess.run(args, env=_env(DATABASE_URL=database_url), input="", capture_output=True, text=True)
        assert first.returncode == 0 and second.returncode == 1
        assert second.stderr.strip() == "parley: error: an account with this email already exists"


class TestServe:
    def test_serve_with_embedded_postgres_from_an_empty_data_dir(self, tmp_path: Path):
        """What `make run` does on a fresh machine: own PostgreSQL, migrate, first admin, serve, stop cleanly."""
        port = free_port()
        process = subprocess.Popen(
            [*PARLEY, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            env=_env(PARLEY_ADMIN_EMAIL="boss@acme.test"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            else:
                pytest.fail("parley serve did not become ready")
            assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
            assert (tmp_path / "data" / "jwt-secret").stat().st_mode & 0o777 == 0o600
            login = httpx.post(
                f"{base}/api/v1/auth/login", json={"email": "boss@acme.test", "password": "definitely wrong"}
            )
            assert login.status_code == 401
            assert login.headers["content-type"].startswith("application/problem+json")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        generated = stderr.split("password: ")[1].split()[0]
        assert stderr.count(generated) == 1  # shown once, never logged
        log_lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        requests = [line for line in log_lines if line.get("event") == "request"]
        assert requests and all(line.get("request_id") for line in requests)
        # The start-up line tells the truth: `parley serve` started the embedded PostgreSQL (and passed its URL in).
        started = next(line for line in log_lines if line.get("event") == "parley_started")
        assert started["embedded_database"] is True
        assert "definitely wrong" not in stderr
        # The embedded server was stopped with Parley.
        assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


def _readers(pid: int) -> list[psutil.Process]:
    children = psutil.Process(pid).children(recursive=True)
    return [child for child in children if "multiprocessing.forkserver" in " ".join(child.cmdline())]


def _private_modes_problems(data_dir: Path) -> list[str]:
    """Folders and files under the data dir that another account could list or read."""
    problems = []
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue  # sockets and links: reachable only through the folders checked here
        mode = path.stat().st_mode & 0o777
        if path == data_dir and os.geteuid() == 0 and mode == 0o711:
            continue  # as root the embedded PostgreSQL runs as its own account, which must pass through
        if mode & 0o077:
            problems.append(f"{path.relative_to(data_dir.parent)} {oct(mode)}")
    return problems


class TestShutdown:
    def test_sigterm_while_a_file_is_being_read_stops_everything_promptly(self, tmp_path: Path):
        """The review's case: SIGTERM while a hostile PDF is being read left the process in Runner.close for
        100 s+ (an extraction thread nobody could stop) and the embedded PostgreSQL running."""
        from tests.ingestion import hostile

        port = free_port()
        data_dir = tmp_path / "data"
        env = _env(
            # The page budget and time limit out of the way: this reader would run for minutes.
            PARLEY_FILES__PDF_MAX_PAGE_CONTENT_KIB="65536",
            PARLEY_FILES__READING_TIMEOUT_SECONDS="900",
        )
        process = subprocess.Popen(
            [*PARLEY, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so a failed test can end everything it started, children included
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base)
            credentials = {"email": "reader@example.com", "password": PASSWORD}
            assert httpx.post(f"{base}/api/v1/auth/register", json=credentials).status_code == 201
            token = httpx.post(f"{base}/api/v1/auth/login", json=credentials).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            pdf = hostile.pdf_sharing_one_content_stream(pages=12, stream_mib=4)
            response = httpx.post(
                f"{base}/api/v1/chat/upload", files={"file": ("report.pdf", pdf, "application/pdf")}, headers=headers
            )
            assert response.status_code == 201, response.text
            file_url = f"{base}/api/v1/files/{response.json()['id']}"
            deadline = time.monotonic() + 60
            while httpx.get(file_url, headers=headers).json()["status"] != "processing":
                assert time.monotonic() < deadline, "the file was never picked up"
                time.sleep(0.2)
            while len(_readers(process.pid)) < 2:  # the fork server, and the reader it forked for this file
                assert time.monotonic() < deadline, "no reader process was started"
                time.sleep(0.2)
            time.sleep(1)  # well inside the reading now
            postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
            children = psutil.Process(process.pid).children(recursive=True)
            # Everything Parley wrote so far, the upload among it, is owner-only.
            assert list((data_dir / "files").rglob("*")), "the upload is stored under data/files"
            assert _private_modes_problems(data_dir) == []
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
            raise
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # Generous: the point is that it ends on its own, not after the 100 s+ it took, or never.
        try:
            _, stderr = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
            if psutil.pid_exists(postmaster):  # what the hung server never got to stop
                os.kill(postmaster, signal.SIGTERM)
            pytest.fail("parley serve was still shutting down 90 s after SIGTERM")
        took = time.monotonic() - started
        assert process.returncode == 0, stderr[-3000:]
        assert took < 45, f"shutdown took {took:.0f} s"
        assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
        assert not (data_dir / "postgres" / "postmaster.pid").exists()
        # The fork server ends on its own once the server's end of its lifeline closes, which is at the server's
        # exit: a moment after it, not never.
        alive = [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
        _gone, left = psutil.wait_procs(alive, timeout=5)
        assert left == [], [child.cmdline()[:3] for child in left]

    def test_a_shutdown_that_hangs_anyway_ends_at_the_deadline_after_stopping_the_database(self, tmp_path: Path):
        """The last resort behind the bounded waits: armed by the stop signal, it stops the embedded database
        and ends a process whose shutdown hangs (here: a thread that never ends, as the extraction thread did)."""
        marker = tmp_path / "database-stopped"
        script = (
            "import threading, time\n"
            "from pathlib import Path\n"
            "from parley.kit.shutdown_deadline import ShutdownDeadline\n"
            f"deadline = ShutdownDeadline(1, on_overrun=lambda: Path({str(marker)!r}).write_text('stopped'))\n"
            "threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon: exit would wait for it\n"
            "deadline.arm()\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert marker.read_text() == "stopped"
        assert "shutdown did not finish within 1 s; stopping the embedded database" in result.stderr
