"""Owner-only places on disk: everything Parley keeps under its data dir (uploads, the signing key, the
models, the database) holds what its users gave it, so no other account on the machine may list or read it.

Directories are 0700 and files 0600 whatever the process umask is; `make_private_dir` also tightens a
directory an older Parley (or an operator) created with wider modes, since a 0700 directory alone keeps
everything beneath it out of reach.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents up to it) owner-only, and tighten it when it already exists."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    path.mkdir(parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask; chmod is not. Parents that already existed are not ours to change.
    for created in missing:
        os.chmod(created, PRIVATE_DIR_MODE)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)


def open_private_file(path: Path, *, exclusive: bool = True) -> int:
    """A new file opened for writing with mode 0600 from its first byte (never readable by others, not even
    for a moment); a file descriptor the caller closes."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags, PRIVATE_FILE_MODE)
    # O_CREAT's mode is filtered by the umask too; fchmod makes it exact.
    os.fchmod(descriptor, PRIVATE_FILE_MODE)
    return descriptor
