"""deploy/nginx/parley.conf, run by Debian's nginx in front of two stand-in replicas on loopback.

The configuration under test is the file compose mounts, with only the addresses changed (the compose service
names `parley-1`/`parley-2` and port 80 become loopback ports): nginx resolves upstream names when it starts,
and those names exist only on compose's network.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import DEPLOY, require_tool
from tests.servers import free_port


@dataclass
class Replica:
    """A stand-in for one Parley replica: names itself, echoes Last-Event-ID, streams events on request."""

    name: str
    port: int = field(default_factory=free_port)
    release: threading.Event = field(default_factory=threading.Event)
    seen_last_event_ids: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                replica.seen_last_event_ids.append(self.headers.get("Last-Event-ID", ""))
                if self.path == "/stream":
                    # First event now; the rest only once the test has seen the first one through nginx.
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(f"id: 1\ndata: first from {replica.name}\n\n".encode())
                    self.wfile.flush()
                    replica.release.wait(20)
                    self.wfile.write(b"id: 2\ndata: second\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                body = replica.name.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Proxy:
    url: str
    replicas: list[Replica]


def _config(tmp: Path, replicas: list[Replica], port: int) -> Path:
    text = (DEPLOY / "nginx" / "parley.conf").read_text()
    assert "server parley-1:8000" in text and "server parley-2:8000" in text and "listen 80;" in text
    text = text.replace("parley-1:8000", f"127.0.0.1:{replicas[0].port}")
    text = text.replace("parley-2:8000", f"127.0.0.1:{replicas[1].port}")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp / "parley.conf").write_text(text)
    (tmp / "logs").mkdir(exist_ok=True)
    main = tmp / "nginx.conf"
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  access_log off;\n"
        f"  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
        f"  include {tmp}/parley.conf;\n}}\n"
    )
    return main


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    nginx = require_tool("nginx")
    replicas = [Replica("replica-1"), Replica("replica-2")]
    for replica in replicas:
        replica.start()
    port = free_port()
    config = _config(tmp_path, replicas, port)
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-e", "stderr", "-c", str(config), "-g", "daemon off; master_process off;"],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stderr.read() if process.stderr else b""
                    raise AssertionError(f"nginx did not start: {output!r}") from exc
                time.sleep(0.05)
        yield Proxy(f"http://127.0.0.1:{port}", replicas)
    finally:
        for replica in replicas:
            replica.stop()
        process.terminate()
        process.wait(10)


class TestProxy:
    def test_an_event_reaches_the_client_while_the_stream_is_still_open(self, proxy: Proxy) -> None:
        """Unbuffered SSE: the first event arrives although the replica has not finished the stream (with
        nginx's default buffering it would wait for more data)."""
        with httpx.Client(timeout=10) as client, client.stream("GET", f"{proxy.url}/stream") as response:
            assert response.headers["content-type"] == "text/event-stream"
            lines = response.iter_lines()
            first = [next(lines), next(lines)]
            assert first[0] == "id: 1" and first[1].startswith("data: first from replica-")
            assert not any(replica.release.is_set() for replica in proxy.replicas)
            for replica in proxy.replicas:
                replica.release.set()
            rest = list(lines)
        assert "id: 2" in rest and "data: second" in rest

    def test_last_event_id_reaches_the_replica(self, proxy: Proxy) -> None:
        response = httpx.get(f"{proxy.url}/conversation", headers={"Last-Event-ID": "run-7:42"}, timeout=10)
        assert response.status_code == 200
        seen = [value for replica in proxy.replicas for value in replica.seen_last_event_ids]
        assert seen == ["run-7:42"]

    def test_new_requests_go_to_the_replica_with_fewer_open_streams(self, proxy: Proxy) -> None:
        """least_conn: while one replica holds a long stream, the short requests go to the other one
        (round-robin would send every second one to the busy replica)."""
        with httpx.Client(timeout=10) as client, client.stream("GET", f"{proxy.url}/stream") as stream:
            lines = stream.iter_lines()  # kept: a dropped line iterator closes the stream
            assert next(lines) == "id: 1"
            busy = next(lines).removeprefix("data: first from ")
            answered_by = [client.get(f"{proxy.url}/who").text for _ in range(6)]
            for replica in proxy.replicas:
                replica.release.set()
        assert busy not in answered_by
        assert len(set(answered_by)) == 1

    def test_a_replica_that_is_down_is_skipped(self, proxy: Proxy) -> None:
        proxy.replicas[1].stop()
        answered_by = [httpx.get(f"{proxy.url}/who", timeout=10) for _ in range(4)]
        assert [response.status_code for response in answered_by] == [200] * 4
        assert {response.text for response in answered_by} == {"replica-1"}
