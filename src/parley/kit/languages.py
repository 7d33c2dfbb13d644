"""Which language a text is written in, as the name of a PostgreSQL text-search configuration.

Full-text search stems words by language ("vacations" and "vacation" meet only if both are stemmed as
English), so each chunk is indexed with the configuration of its own language and each question is parsed
with the configuration of its language. Detection counts function words (articles, pronouns, prepositions,
auxiliaries): they make up a third or more of any running text, differ between languages, and need no model.
A chunk of 100+ words is recognised reliably; a short question less so, which is why callers treat "unknown"
as "try every language" instead of guessing. Text with no clear winner (tables, code, numbers, a language not
listed) gets `simple`: lower-cased words, no stemming, no stop words, which matches exactly.

Only languages that PostgreSQL ships a snowball configuration for are listed.
"""

from __future__ import annotations

import re
from collections import Counter

UNSTEMMED = "simple"

_FUNCTION_WORDS = {
    "english": """a about after all also am an and any are as at be because been before being between both but
        by can could did do does doing for from had has have having he her here him his how i if in into is it
        its me more most my no not of on only or other our out over she should so some such than that the their
        them then there these they this those through to too under until very was we were what when where which
        while who whom why will with would you your""",
    "german": """aber alle als also am an auch auf aus bei bin bis bist da damit dann das dass dem den denn der
        des dich die dir doch dort du durch ein eine einem einen einer eines er es euch euer für hab habe haben
        hat hatte ich ihr ihre im in ist jede jeder jedes kann kein keine können mich mir mit muss nach nicht
        nichts noch nur ob oder ohne sein seine sich sie sind so soll sollen über um und uns unser unter viel
        viele vom von vor war waren was weil welche welcher wenn wer werden wie wir wird wo zu zum zur""",
    "spanish": """a al algo algunos ante antes como con contra cual cuales cuando cuándo cuál cuánto cuántos de
        del desde donde dónde durante el ella ellos en entre era es esa ese eso esta estaba estar este esto
        estos fue ha hace hay la las le les lo los me mi mis muy más nada ni no nos nosotros o os otra otro para
        pero poco por porque que qué quien quién se sea ser si sin sobre son su sus también te tengo tiene
        todo todos tu tus un una uno unos y ya yo""",
    "french": """au aux avec ce ces cette dans de des du elle en est et être eux il ils je la le les leur lui
        ma mais me même mes moi mon ne nos notre nous on ont ou où par pas pour qu que quel quelle qui sa sans
        se ses son sont sur ta te tes toi ton tu un une vos votre vous y""",
    "italian": """ad al alla alle anche che chi ci come con cui da dal dalla degli dei del della delle di e è
        gli ha hanno il in io la le lei lo loro ma mi mio ne nei nel nella noi non per più quale quando questa
        questo se si sono su sua suo sul sulla tra tu un una uno voi""",
    "portuguese": """ao aos as com como da das de dela dele do dos e ela ele eles em entre era essa esse esta
        este eu foi for há isso isto já lhe mais mas me mesmo meu minha muito na nas não nem no nos nós num
        numa o os ou para pela pelo por qual quando que quem se sem ser seu sua são também te tem um uma você""",
    "dutch": """aan al als bij dan dat de der deze die dit doch door een en er had heb hebben heeft hem het hij
        hoe hun ik in is je kan me meer met mijn na naar niet nog nu of om onder ons ook op over te tot uit van
        veel voor want was wat we wel werd wie wij wordt zal ze zich zij zijn zo zou""",
}
FUNCTION_WORDS: dict[str, frozenset[str]] = {name: frozenset(words.split()) for name, words in _FUNCTION_WORDS.items()}
LANGUAGES = tuple(FUNCTION_WORDS)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Enough words to judge: the rest of a long chunk only costs time.
_SAMPLE_WORDS = 400


def detect_language(text: str, *, minimum_hits: int = 3) -> str | None:
    """The configuration name of `text`'s language, or None when no listed language clearly wins: fewer than
    `minimum_hits` function words, or the runner-up close behind (two languages sharing most hits, as Spanish
    and Portuguese can in a short line)."""
    words = [word.lower() for word in _WORD.findall(text[: _SAMPLE_WORDS * 12])][:_SAMPLE_WORDS]
    if not words:
        return None
    counts = Counter(words)
    hits = sorted(
        (
            (sum(n for word, n in counts.items() if word in vocabulary), name)
            for name, vocabulary in FUNCTION_WORDS.items()
        ),
        reverse=True,
    )
    (best, name), (second, _) = hits[0], hits[1]
    if best < minimum_hits or best < 1.5 * second or best < 0.08 * len(words):
        return None
    return name


def text_search_language(text: str) -> str:
    """The configuration to index `text` with: its language, or `simple` when it has none clearly."""
    return detect_language(text) or UNSTEMMED
