"""Reading an upload in a child process with a memory ceiling and a time limit.

Parsers are the part of Parley that any signed-in user can feed: a 1 MiB DOCX can expand to gigabytes of XML
tree, a 8 KB PDF can make pypdf interpret the same 4 MiB content stream on every page. So `extract` runs in a
process of its own, one per file, forked from a fork server that has the parsers imported already (starting
one costs a fork, not an interpreter), with:

- `RLIMIT_AS`: the child may grow by `memory_mib` beyond what it starts with; past that allocations fail
  (a `MemoryError` the child reports) and the server's own memory never moves;
- a wall-clock limit of `timeout_seconds`, after which the child is killed (and `RLIMIT_CPU` as a second line
  should the parent be unable to);
- `PR_SET_PDEATHSIG`: a child whose fork server goes away (the server was killed) dies with it.

Each failure a user can act on is an `ExtractionError` with a reason for the file's status. A child that
vanished without a word and without hitting a limit (killed from outside, e.g. while the server stops) raises
`ReaderInterrupted`, which the job treats as retryable rather than as a verdict on the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

from parley.config import FileSettings
from parley.ingestion.extraction import ExtractedDocument, ExtractionError, ExtractionLimits, extract

_logger = structlog.get_logger("parley.ingestion")

MIB = 1024 * 1024
# Imported once by the fork server, so each reader starts with them loaded. `__main__` first: a child whose
# main module is already imported does not import it again (multiprocessing would otherwise re-run the
# `parley` script's imports in every child).
_PRELOAD = [
    "__main__",
    "parley.ingestion.extraction",
    "parley.ingestion.docx_stream",
    "pypdf",
    "pptx",
    "openpyxl",
    "bs4",
    "lxml.etree",
]
_PR_SET_PDEATHSIG = 1
# How long a killed child may take to be reaped before the parent stops waiting for it.
_REAP_SECONDS = 5.0


class ReaderInterrupted(Exception):
    """The reading process was stopped from outside (not by a limit): try the file again later."""


@dataclass(frozen=True)
class ReadingLimits:
    """What reading one file may cost."""

    memory_mib: int
    timeout_seconds: float
    extraction: ExtractionLimits

    @classmethod
    def from_settings(cls, settings: FileSettings) -> ReadingLimits:
        return cls(
            memory_mib=settings.reading_memory_mib,
            timeout_seconds=settings.reading_timeout_seconds,
            extraction=ExtractionLimits.from_settings(settings),
        )

    @property
    def memory_reason(self) -> str:
        return f"reading the file needs more than {self.memory_mib} MiB of memory; split it into smaller files"

    @property
    def time_reason(self) -> str:
        return (
            f"reading the file took longer than {self.timeout_seconds:g} s; split it into smaller files or save "
            "it in a simpler form"
        )


class ReadingSandbox:
    """Runs `extract` in a fresh child process per file, within `ReadingLimits`. `close()` kills the readers
    still running (the server is stopping); their callers get `ReaderInterrupted`."""

    def __init__(self, limits: ReadingLimits) -> None:
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        # Touched only from the event loop's thread.
        self._running: set[BaseProcess] = set()
        self._starting = asyncio.Lock()
        self._closed = False

    async def extract(self, data: bytes, file_type: str) -> ExtractedDocument:
        """The text of `data`, read in a child process; ExtractionError (with the reason) when it cannot be,
        ReaderInterrupted when the reader was stopped from outside."""
        if self._closed:
            raise ReaderInterrupted("the server is stopping")
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_read_in_child, args=(theirs, file_type, self.limits), name="parley-reader", daemon=True
        )
        try:
            async with self._starting:
                # Starting talks to the fork server (a socket round trip, the server's own start the first
                # time): short, but not for the event loop; one at a time, as multiprocessing's bookkeeping wants.
                await asyncio.to_thread(process.start)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._running.add(process)
        answer: tuple[str, Any] | None = None
        # Sent from a thread while this task waits for the answer: a child that gives up half way through
        # the bytes (they alone are over its memory ceiling) answers at once, and the send just ends.
        sending = asyncio.ensure_future(asyncio.to_thread(_send, ours, data))
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                await _readable(ours)
                # The answer is being written: reading it may take a moment for a big document, and fails at
                # once (EOFError) if the child is killed meanwhile.
                answer = await asyncio.to_thread(_receive, ours)
        except TimeoutError:
            _logger.info("reading_timed_out", file_type=file_type, seconds=self.limits.timeout_seconds)
            raise ExtractionError(self.limits.time_reason) from None
        except (EOFError, OSError):
            answer = None  # the child is gone: its exit code tells why
        finally:
            # On every way out (a verdict, a timeout, the job cancelled because the server stops) the reader
            # is killed now rather than left to finish work nobody waits for.
            await self._stop(process)
            # With the child gone the send fails at once, if it had not ended.
            await asyncio.wait([sending], timeout=_REAP_SECONDS)
            ours.close()
        return self._verdict(answer, process, file_type)

    def _verdict(self, answer: tuple[str, Any] | None, process: BaseProcess, file_type: str) -> ExtractedDocument:
        if answer is not None:
            outcome, value = answer
            if outcome == "ok" and isinstance(value, ExtractedDocument):
                return value
            if outcome == "refused":
                raise ExtractionError(str(value))
            if outcome == "memory":
                _logger.info("reading_out_of_memory", file_type=file_type, limit_mib=self.limits.memory_mib)
                raise ExtractionError(self.limits.memory_reason)
        code = process.exitcode
        if code == -signal.SIGXCPU:
            raise ExtractionError(self.limits.time_reason)
        if self._closed or code in (-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT):
            raise ReaderInterrupted(f"the reading process was stopped (exit code {code})")
        # A parser that crashed in C (usually on an allocation the memory ceiling refused).
        _logger.warning("reading_crashed", file_type=file_type, exit_code=code)
        raise ExtractionError(
            f"the file could not be read (the reader stopped; it may need more than {self.limits.memory_mib} MiB)"
        )

    async def _stop(self, process: BaseProcess) -> None:
        self._running.discard(process)
        if process.exitcode is None:
            with contextlib.suppress(OSError, ValueError):
                process.kill()
        with contextlib.suppress(TimeoutError, ValueError):
            await asyncio.wait_for(_readable(process.sentinel), _REAP_SECONDS)
        with contextlib.suppress(ValueError):
            process.join(0)

    def close(self) -> None:
        """Kill every running reader and refuse new ones. Returns at once; idempotent."""
        self._closed = True
        for process in list(self._running):
            with contextlib.suppress(OSError, ValueError):
                process.kill()


def _send(connection: multiprocessing.connection.Connection, data: bytes) -> None:
    # The child may stop reading (over its ceiling) or be killed: its answer, or its exit, says what happened.
    with contextlib.suppress(OSError):
        connection.send_bytes(data)


def _receive(connection: multiprocessing.connection.Connection) -> tuple[str, Any]:
    answer: tuple[str, Any] = connection.recv()
    return answer


async def _readable(source: multiprocessing.connection.Connection | int) -> None:
    """Wait, without a thread, until `source` has data or its other end is gone."""
    descriptor = source if isinstance(source, int) else source.fileno()
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(descriptor, wake)
    try:
        await ready
    finally:
        loop.remove_reader(descriptor)


# In the child --------------------------------------------------------------------------------------------------


def _read_in_child(connection: multiprocessing.connection.Connection, file_type: str, limits: ReadingLimits) -> None:
    """The reader process: take the bytes, read them within the limits, send back one answer."""
    # Ctrl-C in a terminal reaches the whole process group: the server decides when its readers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _limit_self(limits)
    start_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answer: tuple[str, Any]
    try:
        answer = ("ok", extract(connection.recv_bytes(), file_type, limits=limits.extraction))
    except ExtractionError as exc:
        # libxml2 reports an allocation the ceiling refused as a parse error ("unknown error"), which reads
        # as a damaged file: a reader that had grown to most of its ceiling ran out of memory instead.
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_kib) / 1024
        answer = ("memory", None) if grown_mib >= 0.75 * limits.memory_mib else ("refused", exc.message)
    except MemoryError:
        # The parser's half-built objects are gone with its frames by now; sending this needs little.
        answer = ("memory", None)
    connection.send(answer)
    connection.close()


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent (the fork server) exits, which it does when the server
    dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _limit_self(limits: ReadingLimits) -> None:
    # The ceiling is measured from what the child already maps (the interpreter and the parsers it inherited),
    # so `memory_mib` is what reading a file may add, whatever the libraries weigh on this machine.
    with open("/proc/self/statm", encoding="ascii") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    ceiling = mapped + limits.memory_mib * MIB
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    seconds = max(1, math.ceil(limits.timeout_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
