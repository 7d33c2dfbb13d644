"""Three real `parley serve` processes behind Debian's nginx, on one PostgreSQL (a database of its own in the test
run's embedded server, with pgvector), one Redis and one RabbitMQ: what a multi-replica deployment is, on one
machine. Replicas share the data directory (uploads, as a shared volume would) and the JWT signing key.

The cluster lives for the module; a test that stops or kills a replica leaves it down. nginx's `X-Upstream`
response header names the replica that answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.auth.security import Security
from parley.bootstrap import ensure_first_admin
from parley.config import AuthSettings, Settings
from parley.db import Database, create_engine
from parley.migrations.runner import upgrade_to_head
from parley.plans import service as plans_service
from parley.policy.plans import load_plan_file
from tests.databases import fresh_database_sync
from tests.factories import TEST_AUTH
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "ops@example.com"
PASSWORD = "a perfectly fine passphrase"
# long: a slow, deterministic long answer (it repeats the question word by word); echo: the same at once.
MODELS_YAML = """\
default: echo
models:
  - {name: echo, provider: scripted, reply: echo, context_window: 8192}
  - {name: long, provider: scripted, reply: echo, tokens_per_second: 20, context_window: 8192}
"""
# free: three chat requests a minute (the limits test); pro: many answers at once, with quota holds.
PLANS_YAML = """\
plans:
  free: {requests_per_minute: 3}
  pro: {concurrent_answers: 40, tokens_per_day: 10000000}
"""
READY_SECONDS = 120.0


@dataclass
class Replica:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    replicas: list[Replica]
    nginx_url: str
    env: dict[str, str]
    database_url: str
    workdir: Path
    nginx: subprocess.Popen[bytes] | None = None
    _logs: list[object] = field(default_factory=list)

    def start(self, replica: Replica) -> None:
        log = replica.log.open("ab")
        self._logs.append(log)
        command = [sys.executable, "-m", "parley", "serve", "--port", str(replica.port)]
        command += ["--data-dir", str(self.workdir / "data")]
        replica.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, *replicas: Replica) -> None:
        deadline = time.monotonic() + READY_SECONDS
        waiting = list(replicas)
        while waiting and time.monotonic() < deadline:
            for replica in list(waiting):
                assert replica.process is not None
                if replica.process.poll() is not None:
                    pytest.fail(f"{replica.name} exited with {replica.process.returncode}:\n{self.tail(replica)}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                        waiting.remove(replica)
            time.sleep(0.3)
        if waiting:
            pytest.fail(f"{waiting[0].name} was not ready in {READY_SECONDS:g} s:\n{self.tail(waiting[0])}")

    def kill(self, replica: Replica) -> None:
        assert replica.process is not None
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(timeout=30)

    def tail(self, replica: Replica, chars: int = 4000) -> str:
        return replica.log.read_text(errors="replace")[-chars:] if replica.log.exists() else ""

    def by_upstream(self, upstream: str) -> Replica:
        return next(replica for replica in self.replicas if replica.upstream == upstream)

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.running:
                assert replica.process is not None
                replica.process.send_signal(signal.SIGINT)
        for replica in self.replicas:
            if replica.process is not None:
                try:
                    replica.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    replica.process.kill()
        if self.nginx is not None:
            self.nginx.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.nginx.wait(timeout=10)
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]


def _nginx_conf(workdir: Path, port: int, replicas: list[Replica]) -> str:
    servers = "\n".join(f"    server {replica.upstream} max_fails=0;" for replica in replicas)
    temp = "\n".join(
        f"  {kind}_temp_path {workdir}/nginx-{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}
  upstream parley {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 20m;
    location / {{
      proxy_pass http://parley;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 120s;
      proxy_connect_timeout 2s;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
"""


def _nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        message = "nginx is not installed: `sudo apt-get install nginx` (make install does)"
        if os.environ.get("PARLEY_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def threading_run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` to its end in a thread of its own (the test's event loop is running in this one)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def _bootstrap(url: str, plans_file: Path) -> None:
    settings = Settings(
        database_url=url,
        admin_email=ADMIN_EMAIL,
        admin_password=PASSWORD,
        plans_file=plans_file,
        auth=AuthSettings(**TEST_AUTH),
    )
    database = Database(create_engine(url, settings))
    try:
        await upgrade_to_head(database.engine)
        async with database.session() as session:
            await ensure_first_admin(session, Security.from_settings(settings), settings)
        async with database.session() as session:
            await plans_service.seed(session, load_plan_file(plans_file))
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def replicas_database_url(database_url: str) -> Iterator[str]:
    """A fresh database of its own in the run's embedded PostgreSQL (pgvector), for the cluster."""
    with fresh_database_sync(database_url, "parley_replicas") as url:
        yield url


@pytest.fixture(scope="module")
def replica_environment() -> dict[str, str]:
    """Settings every replica gets on top of the cluster's (tests/redis_cluster runs them on a Redis Cluster)."""
    return {}


@pytest.fixture(scope="module")
def running_cluster(
    tmp_path_factory: pytest.TempPathFactory,
    replicas_database_url: str,
    redis_url: str,
    rabbitmq_url: str,
    replica_environment: dict[str, str],
) -> Iterator[Cluster]:
    nginx = _nginx_binary()
    workdir = tmp_path_factory.mktemp("replicas")
    (workdir / "models.yaml").write_text(MODELS_YAML)
    (workdir / "plans.yaml").write_text(PLANS_YAML)
    prefix = f"parley-replicas-{uuid.uuid4().hex[:8]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    for key in ("DATABASE_URL", "REDIS_URL", "RABBITMQ_URL"):
        env.pop(key, None)
    env.update(
        DATABASE_URL=replicas_database_url,
        REDIS_URL=redis_url,
        RABBITMQ_URL=rabbitmq_url,
        HF_HUB_OFFLINE="1",
        PARLEY_REDIS_KEY_PREFIX=prefix,
        PARLEY_MODELS=str(workdir / "models.yaml"),
        PARLEY_PLANS=str(workdir / "plans.yaml"),
        PARLEY_ADMIN_EMAIL=ADMIN_EMAIL,
        PARLEY_ADMIN_PASSWORD=PASSWORD,
        PARLEY_AUTH__JWT_SECRET=TEST_AUTH["jwt_secret"],
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
        PARLEY_LOG_JSON="false",
        PARLEY_LOG_LEVEL="info",
        # Few idle connections each: the embedded server is shared with the rest of the test run.
        PARLEY_DATABASE__POOL_SIZE="4",
        PARLEY_DATABASE__MAX_OVERFLOW="30",
        PARLEY_JOBS__POLL_INTERVAL_SECONDS="0.5",
        # A dead replica's answers are stale after 3 s without a checkpoint (10 missed ones): noticed quickly,
        # yet never mistaken for a live replica slowed down by a loaded machine.
        PARLEY_LLM__CHECKPOINT_INTERVAL_SECONDS="0.3",
        PARLEY_LLM__INTERRUPTED_AFTER_SECONDS="3",
        # Clients reconnect within this (through nginx, after a replica died).
        PARLEY_LLM__DISCONNECT_GRACE_SECONDS="20",
        PARLEY_DRAIN_TIMEOUT_SECONDS="4",
    )
    env.update(replica_environment)
    replicas = [Replica(f"replica-{n}", free_port(), workdir / f"replica-{n}.log") for n in range(3)]
    nginx_port = free_port()
    (workdir / "nginx.conf").write_text(_nginx_conf(workdir, nginx_port, replicas))
    cluster = Cluster(replicas, f"http://127.0.0.1:{nginx_port}", env, replicas_database_url, workdir)
    try:
        # What the first of several replicas would do alone (migrate, create the admin, seed the plans) done here,
        # so the three start at once.
        threading_run(_bootstrap(replicas_database_url, workdir / "plans.yaml"))
        for replica in replicas:
            cluster.start(replica)
        cluster.wait_ready(*replicas)
        nginx_log = (workdir / "nginx.out").open("wb")
        cluster._logs.append(nginx_log)
        cluster.nginx = subprocess.Popen(
            [nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "nginx-error.log")],
            stdout=nginx_log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{cluster.nginx_url}/readyz", timeout=2).status_code == 200:
                    break
            if cluster.nginx.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start:\n{(workdir / 'nginx-error.log').read_text(errors='replace')}")
            time.sleep(0.2)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(running_cluster: Cluster) -> Cluster:
    """The cluster, as earlier tests left it: the drain test stops replica 1, the hand-over test kills replica 2
    (the tests run in that order, so that the slow start of a replica is never waited for twice)."""
    return running_cluster
