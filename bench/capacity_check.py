"""The capacity model's check (issue 13): three `parley serve` replicas behind Debian's nginx, over one PostgreSQL
and one Redis, at the largest load this machine can generate.

    .venv/bin/python bench/capacity_check.py [--seconds 30] [--concurrency 96] [--more 256]

The first replica comes from `bench/sse_load.py` (the mock upstream answering at once, an embedded PostgreSQL,
the benchmark account and its API key); the other two use the same database (by URL), the same data dir, models,
plans and signing key; all three share a Redis (`REDIS_URL`, default the local one, under a key prefix of their
own). nginx balances them round robin, keep-alive to the upstreams, no buffering (as `tests/replicas`).

Phases of `--seconds` each: B3's load through nginx (non-streamed chats into stored conversations, closed
loop) at `--concurrency` clients, then at each `--more` concurrency; each prints the same figures as B3 (chats/s,
p50/p99, CPU of the three replicas, PostgreSQL, Redis, nginx, the mock, the load generator and the rest of the
machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import b3_throughput
import sse_load

from parley.db import start_embedded_postgres

NGINX_CONF = """{user}worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
  access_log off;
{temp}
  upstream parley {{
{servers}
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://parley;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 300s;
    }}
  }}
}}
"""


def nginx_conf(workdir: Path, port: int, upstreams: list[int]) -> str:
    temp = "\n".join(
        f"  {kind}_temp_path {workdir}/nginx-{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
    return NGINX_CONF.format(
        user="user root;\n" if os.geteuid() == 0 else "",
        workdir=workdir,
        temp=temp,
        servers=servers,
        port=port,
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"exited:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"not ready:\n{log.read_text(errors='replace')[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=96)
    parser.add_argument("--conversations", type=int, default=400)
    parser.add_argument("--more", type=int, nargs="*", default=[256], help="further phases at these concurrencies")
    parser.add_argument("--pool-size", type=int, default=10, help="each replica's database pool")
    parser.add_argument("--max-overflow", type=int, default=10)
    args = parser.parse_args()
    sse_load.install_uvloop()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = f"parley-capacity-{uuid.uuid4().hex[:8]}"
    print(f"capacity check: 3 replicas behind nginx, load average {sse_load.load_average()}", flush=True)
    # A Redis of its own, so that its command count is the replicas' alone.
    redis_port = sse_load.free_port()
    redis_server = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    redis_url = f"redis://{sse_load.HOST}:{redis_port}/0"
    # Three replicas at the default pool (40 + 10 connections each) pass the embedded PostgreSQL's 100
    # connections under load ("too many clients already"): the capacity model's pool size per replica.
    shared_env = {
        "REDIS_URL": redis_url,
        "PARLEY_REDIS_KEY_PREFIX": prefix,
        "PARLEY_DATABASE__POOL_SIZE": str(args.pool_size),
        "PARLEY_DATABASE__MAX_OVERFLOW": str(args.max_overflow),
    }
    try:
        run(args, nginx, shared_env, redis_server, redis_port)
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)


def redis_commands(port: int) -> int:
    out = subprocess.run(  # noqa: S603
        ["redis-cli", "-p", str(port), "INFO", "stats"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":")[1])
    return 0


def run(
    args: argparse.Namespace,
    nginx: str,
    shared_env: dict[str, str],
    redis_server: subprocess.Popen[bytes],
    redis_port: int,
) -> None:
    with sse_load.servers(
        first_token_ms=0, tokens_per_second=0, reply="Fine, thank you.", workers=1, parley_env=shared_env
    ) as first:
        workdir = first.workdir
        database_url = start_embedded_postgres(workdir / "data").url
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") and k != "DATABASE_URL"}
        env.update(
            shared_env,
            DATABASE_URL=database_url,
            PARLEY_MODELS=str(workdir / "models.yaml"),
            PARLEY_PLANS=str(workdir / "plans.yaml"),
            PARLEY_ADMIN_EMAIL=sse_load.ADMIN_EMAIL,
            PARLEY_ADMIN_PASSWORD=sse_load.ADMIN_PASSWORD,
            PARLEY_AUTH__ARGON2_TIME_COST="1",
            PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
            PARLEY_AUTH__ARGON2_PARALLELISM="1",
            PARLEY_AUTH__JWT_SECRET="bench-signing-key-" + "x" * 32,
        )
        others: list[subprocess.Popen[bytes]] = []
        ports = [first.parley_port]
        nginx_process: subprocess.Popen[bytes] | None = None
        try:
            for n in (2, 3):
                port = sse_load.free_port()
                log = workdir / f"replica-{n}.log"
                process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                    [
                        sse_load.PYTHON,
                        "-m",
                        "parley",
                        "serve",
                        "--port",
                        str(port),
                        "--data-dir",
                        str(workdir / "data"),
                    ],
                    cwd=workdir,
                    env=env,
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
                others.append(process)
                wait_ready(f"http://{sse_load.HOST}:{port}/readyz", process, log)
                ports.append(port)
            nginx_port = sse_load.free_port()
            (workdir / "nginx.conf").write_text(nginx_conf(workdir, nginx_port, ports))
            nginx_process = subprocess.Popen(  # noqa: S603
                [nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "nginx-error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            wait_ready(f"http://{sse_load.HOST}:{nginx_port}/readyz", nginx_process, workdir / "nginx-error.log")
            through = sse_load.Servers(
                first.mock_port, nginx_port, first.mock, first.parley, workdir, first.api_key, first._postmaster
            )
            replicas = [psutil.Process(first.parley.pid)] + [psutil.Process(p.pid) for p in others]
            nginx_ps = psutil.Process(nginx_process.pid)
            redis_ps = [psutil.Process(redis_server.pid)]
            meter = sse_load.CpuMeter(
                {
                    "replicas": lambda: list(replicas),
                    "postgres": first.postgres,
                    "redis": lambda: redis_ps,
                    "nginx": lambda: [nginx_ps, *nginx_ps.children()],
                    "mock": lambda: [psutil.Process(first.mock.pid)],
                    "loadgen": lambda: [psutil.Process()],
                }
            )
            pool = asyncio.run(sse_load.open_conversations(through, args.conversations, concurrency=32))
            asyncio.run(b3_throughput.phase(through, pool, seconds=5, concurrency=args.concurrency))
            print(
                "| phase | chats/s | p50 ms | p99 ms | errors | replicas CPU | PostgreSQL | Redis | nginx | mock "
                "| loadgen | other | load average |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for concurrency in [args.concurrency, *args.more]:
                meter.start()
                commands = redis_commands(redis_port)
                done, latencies, errors, elapsed = asyncio.run(
                    b3_throughput.phase(through, pool, seconds=args.seconds, concurrency=concurrency)
                )
                cpu = meter.read()
                commands = redis_commands(redis_port) - commands
                report(f"3 replicas, {concurrency} clients", cpu, done, latencies, errors, elapsed)
                print(
                    f"|   | (Redis: {commands / elapsed:.0f} commands/s, {commands / max(1, done):.1f} a chat) "
                    "| | | | | | | | | | | |",
                    flush=True,
                )
        finally:
            if nginx_process is not None:
                nginx_process.terminate()
                nginx_process.wait(timeout=10)
            for process in others:
                process.terminate()
            for process in others:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def report(
    name: str, cpu: dict[str, float], done: int, latencies: list[float], errors: dict[str, int], elapsed: float
) -> None:
    error_text = ", ".join(f"{n}x {kind[:80]}" for kind, n in errors.items()) or "0"
    print(
        f"| {name} | {done / elapsed:.1f} | {1000 * sse_load.percentile(latencies, 0.5):.1f} | "
        f"{1000 * sse_load.percentile(latencies, 0.99):.1f} | {error_text} | {cpu['replicas']:.0f}% | "
        f"{cpu['postgres']:.0f}% | {cpu['redis']:.0f}% | {cpu['nginx']:.0f}% | {cpu['mock']:.0f}% | "
        f"{cpu['loadgen']:.0f}% | {cpu['other']:.0f}% | {sse_load.load_average()} |",
        flush=True,
    )
    if done:
        print(f"|   | (replicas' CPU per chat {10 * cpu['replicas'] * elapsed / done:.1f} ms) | | | | | | | | | | | |")


if __name__ == "__main__":
    main()
