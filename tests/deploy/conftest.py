"""Shared helpers of the deploy/ tests: where deploy/ is, and the external tools they run.

A tool the project's own files install (Makefile `install`, .ci/run: Debian's promtool, nginx and docker-compose;
hadolint from the dev dependencies) is required: a test that needs a missing one is skipped on a developer's
machine and fails under PARLEY_REQUIRE_SERVICES=1 (CI), so CI never passes by not checking.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def require_tool(name: str) -> str:
    """The path of `name` (on PATH or beside this interpreter, where the dev dependencies put theirs)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed (`make install` installs it)"
        if os.environ.get("PARLEY_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return found
