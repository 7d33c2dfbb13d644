"""A last resort for `parley serve`: once asked to stop, the process is gone within a bounded time.

A graceful shutdown waits for things Parley does not fully control: open streams, a job's thread, a library
that ignores cancellation. Each of those has its own bounded wait, but one missed is enough for a process
that logs "Application shutdown complete" and then hangs, holding the embedded PostgreSQL. The deadline is
armed by the first stop signal; if the process is still there when it passes, `on_overrun` runs (stop the
embedded database) and the process exits at once with status 1.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable


class ShutdownDeadline:
    """Arm once (idempotent); after `seconds`, run `on_overrun` and end the process."""

    def __init__(self, seconds: float, *, on_overrun: Callable[[], None]) -> None:
        self.seconds = seconds
        self._on_overrun = on_overrun
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            if self._timer is not None:
                return
            # A daemon thread: it never keeps a process alive that ended in time, and it still runs while the
            # main thread is stuck joining other threads at interpreter exit.
            self._timer = threading.Timer(self.seconds, self._overrun)
            self._timer.daemon = True
            self._timer.name = "parley-shutdown-deadline"
            self._timer.start()

    def _overrun(self) -> None:
        print(
            f"parley: shutdown did not finish within {self.seconds:g} s; stopping the embedded database and exiting",
            file=sys.stderr,
            flush=True,
        )
        try:
            self._on_overrun()
        finally:
            os._exit(1)
