"""`make test` on a machine without Chromium: the browser tests skip and say how to install it; in CI (where a
missing browser means the machine is broken) they fail instead. Either way no Parley server is started for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_e2e_without_browser(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    # A run of its own: not CI, and not one of this run's xdist workers.
    inherited = ("CI", "PARLEY_REQUIRE_SERVICES", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT")
    env = {key: value for key, value in os.environ.items() if key not in inherited}
    env["PARLEY_E2E_CHROMIUM"] = str(tmp_path / "no-such-chromium")
    if ci:
        env["CI"] = "true"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/e2e/test_accounts.py",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        f"--basetemp={tmp_path / 'pytest'}",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


class TestBrowserMissing:
    def test_outside_ci_the_browser_tests_skip_with_the_way_to_install_it(self, tmp_path):
        result = _run_e2e_without_browser(tmp_path, ci=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "skipped" in result.stdout and "failed" not in result.stdout and "error" not in result.stdout
        assert "Chromium is not installed" in result.stdout and "apt-get install chromium" in result.stdout
        # Skipped before the server fixture: no embedded database or `parley serve` was started for nothing.
        assert not (tmp_path / "pytest" / "e2e-parley0").exists()

    def test_in_ci_the_browser_tests_fail(self, tmp_path):
        result = _run_e2e_without_browser(tmp_path, ci=True)
        assert result.returncode != 0
        assert "Chromium is not installed" in result.stdout
        assert "skipped" not in result.stdout
