"""The outside review's hostile uploads through the reader as the server runs it (a child process with a memory
ceiling and a time limit): how long each takes to end, how it ends, and what the server process's own peak
memory did meanwhile.

- a DOCX of ~1.6 MiB expanding to 100 MiB of XML (inside the zip ratio and total limits),
- a PDF of ~20 KiB whose 12 pages share one 4 MiB content stream,
- a 190 MiB text file (cut at the character budget, then at the chunk budget).

    .venv/bin/python bench/hostile_uploads.py [--part-mib 32] [--memory-mib 1024] [--timeout 120]

`--part-mib 512` lifts the per-part budget so the DOCX reaches the parser and only the memory ceiling and the
time limit stand in its way.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ingestion import hostile

from parley.config import FileSettings
from parley.ingestion.extraction import ExtractionError
from parley.ingestion.sandbox import ReadingLimits, ReadingSandbox


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _run(sandbox: ReadingSandbox, name: str, data: bytes, file_type: str) -> None:
    before = _peak_mib()
    started = time.perf_counter()
    try:
        document = await sandbox.extract(data, file_type)
        outcome = f"read: {document.char_count:,} characters{' (cut)' if document.truncated else ''}"
    except ExtractionError as exc:
        outcome = f"failed: {exc.message}"
    took = time.perf_counter() - started
    print(
        f"{name:34} {len(data) / 2**20:7.2f} MiB {took:6.1f} s  server peak +{_peak_mib() - before:4.0f} MiB  {outcome}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part-mib", type=int, default=FileSettings().ooxml_max_part_mib)
    parser.add_argument("--memory-mib", type=int, default=FileSettings().reading_memory_mib)
    parser.add_argument("--timeout", type=float, default=FileSettings().reading_timeout_seconds)
    args = parser.parse_args()
    settings = FileSettings(
        ooxml_max_part_mib=args.part_mib, reading_memory_mib=args.memory_mib, reading_timeout_seconds=args.timeout
    )
    sandbox = ReadingSandbox(ReadingLimits.from_settings(settings))
    docx = hostile.docx_expanding_to(100)
    pdf = hostile.pdf_sharing_one_content_stream(pages=12, stream_mib=4)
    text = b"All work and no play makes Jack a dull boy.\n" * (190 * 2**20 // 44)
    print(f"limits: part {args.part_mib} MiB, memory {args.memory_mib} MiB, time {args.timeout:g} s")
    print(f"server peak before: {_peak_mib():.0f} MiB (the documents themselves are held by this process)")
    await _run(sandbox, "docx, 100 MiB of XML", docx, "docx")
    await _run(sandbox, "pdf, 12 pages x one 4 MiB stream", pdf, "pdf")
    await _run(sandbox, "txt, 190 MiB", text, "txt")
    sandbox.close()


if __name__ == "__main__":
    asyncio.run(main())
