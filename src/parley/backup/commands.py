"""The `parley backup` and `parley restore` commands (wired in cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from parley.config import Settings


def run_backup(settings: Settings, archive: Path) -> int:
    print("parley: error: backup is not available yet", file=sys.stderr)
    return 1


def run_restore(settings: Settings, archive: Path, *, force: bool) -> int:
    print("parley: error: restore is not available yet", file=sys.stderr)
    return 1
