"""A user's words in PostgreSQL (README, "Encryption at rest"): message text and its checkpoints, conversation
titles and summaries, extracted chunk text, sealed with the owner's data key, and the blind index that lets
them be searched.

A sealed text column holds `MARKER` + base64 of a sealed value (`envelope`), bound to its table, column and row,
so the columns keep their type and every statement its shape (the history is still one JSON array); a value
without the marker is a row written before encryption (readable until `parley keys seal-existing` seals it).

The process's `Crypto` registers itself here when it starts (`install`), so repositories seal and open without
threading it through every call; a process without one (a unit test of a repository) stores plaintext. Opening
needs no owner: a sealed value names its data key, fetched once and cached (`Crypto.key_by_id`). ORM loads of
`Message` and `Conversation` are opened in place (`parley.crypto.orm_content`), inside SQLAlchemy's greenlet, so a
key not cached yet is awaited there.

Blind index: `terms(key, text)` are HMAC tokens (`SealingKey.blind`) of the text's words, lower-cased, and of
their prefixes of 3 to `PREFIX_MAX` letters, so search-as-you-type keeps working; the database never sees the
key (derived from the data key, which it holds only wrapped).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.util import await_only

from parley.crypto.envelope import Owner, SealingKey, context_of, key_id_of
from parley.crypto.errors import SealedValueInvalid

if TYPE_CHECKING:
    from parley.crypto.keyring import Crypto

__all__ = [
    "MARKER",
    "Owner",
    "SealingKey",
    "context_of",
    "install",
    "is_sealed",
    "open_text",
    "open_texts",
    "query_terms",
    "seal_text",
    "seal_with",
    "terms",
    "uninstall",
]

MARKER: Final = "\x01pz1:"
PREFIX_MIN: Final = 3
PREFIX_MAX: Final = 8
# Words indexed per value at most (a 100-page paste still indexes its first 4,000 distinct words).
_MAX_WORDS = 4000
_WORD = re.compile(r"\w+", re.UNICODE)

# The started `Crypto`s of this process, newest last: the newest seals and opens. One in a server; a test that
# starts a second app beside the first (or a command beside a server) must leave the first one working after.
_installed: list[Crypto] = []


def install(crypto: Crypto) -> None:
    """Make `crypto` the one this process seals content with (its `start`)."""
    _installed.append(crypto)


def uninstall(crypto: Crypto) -> None:
    """`crypto` stopped: the one started before it (if any) seals again."""
    for index in range(len(_installed) - 1, -1, -1):
        if _installed[index] is crypto:
            del _installed[index]
            return


def active() -> Crypto | None:
    return _installed[-1] if _installed else None


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(MARKER)


def _encode(sealed: bytes) -> str:
    return MARKER + base64.b64encode(sealed).decode("ascii")


def _decode(value: str) -> bytes:
    try:
        return base64.b64decode(value[len(MARKER) :], validate=True)
    except binascii.Error as exc:
        raise SealedValueInvalid("a sealed text that is not base64") from exc


def sealing() -> bool:
    """Whether this process writes content sealed (`PARLEY_CRYPTO__SEAL_CONTENT`; off while a rolling upgrade
    from a release without encryption at rest runs). Blind-index tokens are written either way."""
    crypto = active()
    return crypto is not None and crypto.seal_content


def seal_with(key: SealingKey, text: str, *, context: str) -> str:
    """`text` as stored: sealed for `context` (as it is while `sealing()` is off)."""
    if not sealing():
        return text
    return _encode(key.seal(text.encode(), context=context))


async def key_for(owner: Owner) -> SealingKey | None:
    """`owner`'s data key to seal with, or None when this process seals nothing (no `Crypto` installed)."""
    crypto = active()
    return await crypto.key_for(owner) if crypto is not None else None


async def seal_text(owner: Owner, text: str, *, context: str) -> str:
    key = await key_for(owner)
    return seal_with(key, text, context=context) if key is not None else text


async def open_text(value: str, *, context: str) -> str:
    """The text of a column value: opened when sealed, as it is when written before encryption."""
    if not value.startswith(MARKER):
        return value
    crypto = _required()
    sealed = _decode(value)
    key = await crypto.key_by_id(key_id_of(sealed))
    return key.open(sealed, context=context).decode()


async def open_texts(values: Sequence[tuple[str | None, str]]) -> list[str | None]:
    """`open_text` of several (value, context) pairs: each distinct key fetched once."""
    return [await open_text(value, context=context) if value is not None else None for value, context in values]


def open_text_in_greenlet(value: str, *, context: str) -> str:
    """`open_text` from synchronous code running under SQLAlchemy's async bridge (ORM load events)."""
    if not value.startswith(MARKER):
        return value
    sealed = _decode(value)
    return opening_key_in_greenlet(sealed).open(sealed, context=context).decode()


def opening_key_in_greenlet(sealed: bytes) -> SealingKey:
    """The data key that sealed `sealed` (a bytea column's value), from synchronous code under the async bridge."""
    crypto = _required()
    key_id = key_id_of(sealed)
    key = crypto.cached_key(key_id)
    return key if key is not None else await_only(crypto.key_by_id(key_id))


def await_key_for(owner: Owner) -> SealingKey:
    """`owner`'s data key from synchronous code under the async bridge (an ORM flush)."""
    return await_only(_required().key_for(owner))


def _required() -> Crypto:
    crypto = active()
    if crypto is None:
        raise SealedValueInvalid("a sealed value, and no data keys in this process to open it")
    return crypto


# -- blind index ---------------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """The distinct normalised words of `text` (lower-cased), in order of first appearance."""
    return list(dict.fromkeys(_WORD.findall(text.casefold())))[:_MAX_WORDS]


def terms(key: SealingKey | None, texts: Iterable[str]) -> list[bytes] | None:
    """Blind-index tokens of `texts`: each prefix of each word of `PREFIX_MIN`..`PREFIX_MAX` letters (the word
    itself among them up to `PREFIX_MAX` letters), and a shorter word whole (None without a key: the row is then
    found by its tsvector, as before encryption)."""
    if key is None:
        return None
    forms: set[str] = set()
    for text in texts:
        for word in words(text):
            if len(word) < PREFIX_MIN:  # found as a whole word only (`query_terms`)
                forms.add("w:" + word)
            for length in range(PREFIX_MIN, min(len(word), PREFIX_MAX) + 1):
                forms.add("p:" + word[:length])
    return sorted(key.blind_many(forms, purpose="search"))


def query_terms(key: SealingKey, query: str, *, at_most: int = 16) -> list[bytes]:
    """The tokens a row must all hold to match `query`, each word as a prefix (search as you type): a word of
    `PREFIX_MIN`..`PREFIX_MAX` letters by its prefix token, a longer one by its first `PREFIX_MAX` letters, a
    shorter one as a whole word."""
    tokens: list[bytes] = []
    for word in words(query)[:at_most]:
        form = "w:" + word if len(word) < PREFIX_MIN else "p:" + word[:PREFIX_MAX]
        tokens.append(key.blind(form, purpose="search"))
    return tokens


def message_context(message_id: uuid.UUID) -> str:
    return context_of("messages", "content", message_id)


def conversation_context(column: str, conversation_id: uuid.UUID) -> str:
    return context_of("conversations", column, conversation_id)


def citation_context(message_id: uuid.UUID, position: int, field: str = "snippet") -> str:
    return context_of("messages", f"citations.{position}.{field}", message_id)


# The fields of an answer's sources that hold the user's or a document's words, sealed in place.
SEALED_CITATION_FIELDS = ("snippet", "filename")


def chunk_context(chunk_id: uuid.UUID) -> str:
    return context_of("file_chunks", "text", chunk_id)


def file_name_context(file_id: uuid.UUID) -> str:
    return context_of("files", "filename", file_id)  # as `orm_content` seals it


async def open_file_name(file_id: uuid.UUID, filename: str, sealed: bytes | None) -> str:
    """A file's name from its two columns (statements that bypass the ORM): opened when sealed."""
    if sealed is None:
        return filename
    key = await _required().key_by_id(key_id_of(sealed))
    return key.open(sealed, context=file_name_context(file_id)).decode()


# -- blind index of document chunks (retrieval's keyword arm) --------------------------------------------------
#
# One key for the deployment (the system's data key): a knowledge base is searched by everyone it is shared
# with, so a question's words must hash alike whoever's chunks they meet. A chunk's words are indexed by their
# lexemes in the chunk's language (snowball stems, as PostgreSQL's configurations of the same names make them;
# lower-cased words for `simple`), a question's word by its lexeme in every configuration it is looked up in.
# Unlike PostgreSQL's configurations, no stop words are dropped from chunks (the question's function words are).

_STEMMERS: dict[str, Any] = {}
_DOCUMENT_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _stem(language: str, words: Sequence[str]) -> list[str]:
    stemmer = _STEMMERS.get(language)
    if stemmer is None:
        import Stemmer  # type: ignore[import-not-found]

        stemmer = _STEMMERS[language] = Stemmer.Stemmer(language)
    stems: list[str] = stemmer.stemWords(words)
    return stems


def document_forms(text: str, language: str) -> set[str]:
    """What a chunk in `language` (a text-search configuration name) is indexed by: its words' lexemes, as
    PostgreSQL's configuration of that name makes them (the snowball stem; the lower-cased word for `simple`),
    each also as `2|lexeme` when it occurs twice or more and `3|lexeme` three times or more, so the keyword search
    can still weigh how often a chunk holds a word (`TF_SATURATION`)."""
    counts = Counter(match.group() for match in _DOCUMENT_WORD.finditer(text.casefold()))
    found = [word for word, _ in counts.most_common(_MAX_WORDS)]
    lexemes = found if language == "simple" else _stem(language, found)
    occurrences: Counter[str] = Counter()
    for word, lexeme in zip(found, lexemes, strict=True):
        occurrences[lexeme] += counts[word]
    forms: set[str] = set()
    for form, n in occurrences.items():
        forms.add(form)
        forms.update(f"{level}|{form}" for level in range(2, min(n, len(TF_SATURATION)) + 1))
    return forms


# What a chunk holding a word once, twice, three times or more scores for it: PostgreSQL's ts_rank with unit
# weights of a one-word query, 1/1.64 · sum over occurrences j of 1/j² (what the keyword search used before).
TF_SATURATION: Final = (1 / 1.64, 1.25 / 1.64, (1.25 + 1 / 9) / 1.64)


def query_forms(word: str, configs: Sequence[str]) -> set[str]:
    """The lexemes a question's `word` matches, one per configuration it is looked up in (as a tsquery of each
    configuration met a chunk's tsvector before encryption: equal lexemes, whatever the configurations)."""
    return {word if config == "simple" else _stem(config, [word])[0] for config in configs}


def document_terms(key: SealingKey | None, text: str, language: str) -> list[bytes] | None:
    if key is None:
        return None
    return sorted(key.blind_many(document_forms(text, language), purpose="chunks"))


@dataclass(frozen=True, slots=True)
class QueryTokens:
    """A question's blind-index tokens as the keyword search binds them: for each token, the number of the
    question's word it is a form of and the saturation a chunk holding it earns (`TF_SATURATION`)."""

    terms: list[int]
    tokens: list[bytes]
    saturations: list[float]


def query_document_terms(key: SealingKey, words: Sequence[str], configs: Sequence[str]) -> QueryTokens:
    query = QueryTokens([], [], [])
    for number, word in enumerate(words, start=1):
        for form in sorted(query_forms(word.casefold(), configs)):
            levels = [form, *(f"{level}|{form}" for level in range(2, len(TF_SATURATION) + 1))]
            query.tokens.extend(key.blind_many(levels, purpose="chunks"))
            query.terms.extend([number] * len(levels))
            query.saturations.extend(TF_SATURATION)
    return query
