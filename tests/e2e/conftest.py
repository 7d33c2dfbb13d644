"""End-to-end fixtures: a real `parley serve` (embedded PostgreSQL, scripted models, a fresh data directory)
started once per run, and Debian's Chromium driven by Playwright (it never downloads a browser of its own).

The web app must have been built first (`make web`); screenshots of the main screens go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page, Playwright, sync_playwright

from tests.servers import free_port, interrupt, wait_ready

ROOT = Path(__file__).resolve().parents[2]
STATIC_INDEX = ROOT / "src" / "parley" / "web" / "static" / "index.html"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PARLEY_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-e2e"
# echo: repeats the question word by word (fast); slow: the same at a pace that leaves time to press Stop;
# flaky: always fails, so echo answers instead; markdown: a fixed answer with code, a table and LaTeX; eyes:
# echo that reads images (it describes each one it receives before the question).
MODELS_YAML = """\
default: echo
models:
  - {name: echo, provider: scripted, reply: echo, first_token_ms: 100, tokens_per_second: 25}
  - {name: eyes, provider: scripted, reply: echo, tokens_per_second: 200, capabilities: {vision: true}}
  - {name: slow, provider: scripted, reply: echo, first_token_ms: 100, tokens_per_second: 4}
  - {name: flaky, provider: scripted, reply: echo, fail: "status:500", max_retries: 0, fallbacks: [echo]}
  - name: markdown
    provider: scripted
    tokens_per_second: 200
    reply: "Here is code:\\n\\n```python\\nprint('hi')\\n```\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |\\n\\n$E=mc^2$"
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test in a real browser against a running Parley")


def _browser_required() -> bool:
    """In CI a missing browser is a broken machine, so the end-to-end tests fail there; elsewhere they skip."""
    return bool(os.environ.get("PARLEY_REQUIRE_SERVICES") or os.environ.get("CI"))


@pytest.fixture(scope="session", autouse=True)
def chromium_executable() -> str:
    """Debian's Chromium, checked before anything else (autouse, session scope: it runs before the server starts).
    Missing: every end-to-end test skips with the way to install it, or fails under CI / PARLEY_REQUIRE_SERVICES,
    so `make test` passes on a machine without a browser while CI cannot silently lose these tests."""
    if not Path(CHROMIUM).is_file():
        message = (
            f"Chromium is not installed at {CHROMIUM}, so the browser tests cannot run: install it with "
            "`sudo apt-get install chromium` (or point PARLEY_E2E_CHROMIUM at a Chromium binary)"
        )
        if _browser_required():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@contextlib.contextmanager
def served_parley(workdir: Path, port: int, **settings: str) -> Iterator[str]:
    """A `parley serve` on `port` with its data under `workdir`, the test models and these extra environment
    settings; yields its URL once it is ready, and stops it (SIGINT, then kill) afterwards. Only what this server
    needs: nothing from the developer's own Parley settings leaks in."""
    if not STATIC_INDEX.is_file():
        pytest.fail(f"The web app is not built ({STATIC_INDEX} is missing): run `make web` first")
    models = workdir / "models.yaml"
    models.write_text(MODELS_YAML)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    for key in ("DATABASE_URL", "REDIS_URL"):
        env.pop(key, None)
    env.update(
        PARLEY_MODELS=str(models),
        PARLEY_LOG_JSON="false",
        PARLEY_LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
        **settings,
    )
    log_path = workdir / "parley.log"
    command = [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(workdir / "data")]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, server, log=log_path)
            yield url
        finally:
            interrupt(server)


@pytest.fixture(scope="session")
def parley_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_parley(
        tmp_path_factory.mktemp("e2e-parley"),
        free_port(),
        PARLEY_ADMIN_EMAIL=ADMIN_EMAIL,
        PARLEY_ADMIN_PASSWORD=ADMIN_PASSWORD,
        PARLEY_AUTH__ARGON2_TIME_COST="1",
        PARLEY_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        PARLEY_AUTH__ARGON2_PARALLELISM="1",
    ) as url:
        yield url


@pytest.fixture(scope="session")
def base_url(parley_url: str) -> str:
    return parley_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], chromium_executable: str) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium_executable,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


# pytest-playwright keeps one Playwright for the whole session; while it lives, its event loop counts as the
# running loop, and the asyncio tests that the same xdist worker runs afterwards fail ("cannot be called from a
# running event loop"). So Playwright and the browser live per module here, and are gone before other tests run.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args: dict[str, Any], browser_type: BrowserType) -> Any:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser: Any) -> Iterator[Browser]:
    launched: Browser = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def browser_context_args(base_url: str) -> dict[str, Any]:
    # English UI whatever the machine's locale; tests that switch language do it through the UI.
    return {"base_url": base_url, "locale": "en-US", "viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails its test on any uncaught script error (a broken bundle, a CSP violation that throws…)."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert not errors, f"script errors in the page: {errors}"
