"""A real Redis Cluster for the tests: three masters (Debian's `redis-server --cluster-enabled yes` on free
ports of this machine), joined by `redis-cli --cluster create`, stopped at the end."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

# A node also listens on its port + 10,000 (the cluster bus): both must be free, and under 65,536.
_PORTS = range(20_000, 30_000)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = random.choice(_PORTS)
        if port not in ports and _free(port) and _free(port + 10_000):
            ports.append(port)
    return ports


def _cli(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    cli = shutil.which("redis-cli")
    assert cli is not None
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=timeout, check=False)


@contextlib.contextmanager
def redis_cluster(workdir: Path, *, masters: int = 3) -> Iterator[str]:
    """Start a cluster of `masters` nodes; yields a `redis://` URL of its first node (the client finds the rest)."""
    server = shutil.which("redis-server")
    if server is None or shutil.which("redis-cli") is None:
        raise FileNotFoundError("redis-server and redis-cli (Debian's redis-server package) are needed")
    ports = _cluster_ports(masters)
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            directory = workdir / str(port)
            directory.mkdir(parents=True)
            options = {
                "port": str(port),
                "bind": "127.0.0.1",
                "cluster-enabled": "yes",
                "cluster-config-file": "nodes.conf",
                "cluster-node-timeout": "5000",
                "save": "",
                "appendonly": "no",
                "dir": str(directory),
                "logfile": str(directory / "redis.log"),
            }
            command = [server, *(part for name, value in options.items() for part in (f"--{name}", value))]
            nodes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        for port in ports:
            while _cli("-p", str(port), "ping").stdout != "PONG\n":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {port} did not start")
                time.sleep(0.1)
        created = _cli("--cluster", "create", *(f"127.0.0.1:{port}" for port in ports), "--cluster-yes", timeout=60)
        assert created.returncode == 0, created.stdout + created.stderr
        while not all("cluster_state:ok" in _cli("-p", str(port), "cluster", "info").stdout for port in ports):
            if time.monotonic() > deadline + 30:
                raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.2)
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
