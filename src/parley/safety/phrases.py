"""Known prompt-injection phrases and chat-template markers: the heuristic half of the injection detector.

Does a piece of text read like instructions to the model rather than content? The check is deliberately
simple (phrases and chat-template markers in English, German, French, Spanish, Italian, Portuguese and Dutch):
it catches the copy-pasted attacks and costs microseconds per chunk. The learned half
(`parley.safety.injection`) catches the paraphrased role-play jailbreaks these phrases miss.
"""

from __future__ import annotations

import re
import unicodedata

_PREVIOUS = r"(previous|prior|above|earlier|preceding|foregoing)"
_INSTRUCTIONS = r"(instructions?|prompts?|rules|directions|guidelines|context|messages?)"

_PATTERNS = [
    # English
    rf"\b(ignore|disregard|forget|override|bypass|skip)\b(\s+\w+){{0,3}}\s+{_PREVIOUS}\s+{_INSTRUCTIONS}",
    r"\b(ignore|disregard|forget|override|bypass)\b(\s+\w+){0,2}\s+(system|developer)\s+(prompt|message|instructions?)",
    r"\b(ignore|disregard|forget)\s+(all|everything|anything)\s+(you\s+(were|have\s+been)\s+told|above)",
    r"\byou\s+are\s+now\s+(a|an|the|in|my|no\s+longer|dan\b|free|unrestricted|jailbroken)",
    r"\b(new|updated|real)\s+(system\s+)?instructions\s*:",
    r"\b(reveal|print|show|repeat|output|leak)\s+(me\s+)?(your|the)\s+(system\s+prompt|hidden\s+instructions|initial\s+prompt)",
    r"\bact\s+as\s+(if\s+you\s+(are|were)\s+)?(an?\s+)?(unrestricted|unfiltered|jailbroken|evil)",
    r"\b(do\s+anything\s+now|developer\s+mode\s+(enabled|on))\b",
    r"\b(ignore|disregard|bypass)\b(\s+\w+){0,2}\s+(safety|security|content)\s+(rules|guidelines|polic(y|ies)|filters?)",
    r"\b(ai|model|assistant|chatbot)\b(\s+\w+){0,2}\s+without\s+(any\s+)?(filters?|restrictions|censorship|morals?|ethics)\b",
    r"\bno\s+longer\s+(bound|restricted|limited)\s+by\b",
    # German
    r"\b(ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte)\b(\s+\w+){0,3}\s+"
    r"(vorherigen?|vorigen?|obigen?|bisherigen?|fr[uü]heren?)\s+(anweisungen|instruktionen|befehle|regeln|vorgaben)",
    r"\bdu\s+bist\s+(jetzt|nun|ab\s+sofort)\b",
    r"\b(ignoriere|vergiss)\s+(den|die|deinen?)\s+system\s*-?\s*(prompt|anweisungen?|nachricht)",
    r"\bab\s+sofort\s+bist\s+du\b",
    r"\bneue\s+(system\s*-?\s*)?(anweisungen|instruktionen)\s*:",
    r"\b(zeig|zeige|gib|verrate|wiederhole|nenne)\b(\s+\w+){0,4}\s+(system\s*-?\s*prompt|systemanweisungen?|"
    r"versteckten\s+anweisungen|anf[aä]nglichen\s+anweisungen)",
    r"\b(entwicklermodus\s+(aktiviert|an|ein)|(bist|befindest\s+dich)\s+(jetzt\s+|nun\s+)?im\s+entwicklermodus)\b",
    r"\b(ignorier\w*|missachte\w*|umgeh\w*)\s+(\w+\s+){0,3}(inhalts|sicherheits)(richtlinien|regeln)",
    r"\b(ki|modell|assistent|chatbot)\b(\s+\w+){0,2}\s+ohne\s+(jede\s+)?(filter|einschr[aä]nkungen|zensur|moral|ethik)",
    r"\b(vergiss|vergessen\s+sie)\s+alles\s*,?\s+was\s+(dir|ihnen)\s+(\w+\s+)?gesagt",
    r"\bnicht\s+(mehr\s+)?an\s+(die|deine)\s+(\w+\s+){0,3}gebunden",
    r"\bwiederhole\b(\s+\w+){0,4}\s+(vorherigen|obigen|bisherigen)\s+nachrichten",
    # French
    r"\b(ignore[rz]?|oublie[rz]?|n[eé]glige[rz]?)\b(\s+\w+){0,3}\s+(les\s+|tes\s+|vos\s+)?"
    r"(instructions|consignes|r[eè]gles|directives)\s+(pr[eé]c[eé]dentes|ant[eé]rieures|ci-dessus)",
    r"\b(tu\s+es|vous\s+[eê]tes)\s+(maintenant|d[eé]sormais)\b",
    # Spanish
    r"\b(ignora|ignore|olvida|olvide|omite|descarta)\b(\s+\w+){0,3}\s+(las\s+|tus\s+|sus\s+)?"
    r"(instrucciones|indicaciones|reglas|[oó]rdenes)\s+(anteriores|previas|de\s+arriba)",
    r"\bahora\s+eres\b",
    r"\bnuevas\s+instrucciones\s*:",
    r"\b(mu[eé]strame|muestra|revela|rep[ií]te(me)?|dime|imprime)\b(\s+\w+){0,4}\s+(prompt\s+del\s+sistema|"
    r"instrucciones\s+(ocultas|iniciales|del\s+sistema)|mensaje\s+del\s+sistema)",
    r"\b(modo\s+desarrollador\s+(activado|habilitado)|(est[aá]s|eres)\s+(ahora\s+)?en\s+modo\s+desarrollador)\b",
    r"\b(ignor\w*|descarta\w*|omite|salta)\s+(\w+\s+){0,3}(reglas|normas|pol[ií]ticas|filtros)\s+de\s+(seguridad|contenido)",
    r"\b(ia|modelo|asistente|chatbot)\b(\s+\w+){0,2}\s+sin\s+(ning[uú]n\w*\s+)?(filtros?|restricciones|censura|moral|[eé]tica)",
    r"\b(olvida|olvide)\s+todo\s+lo\s+que\s+(te|le|les)\s+(\w+\s+)?(dijeron|dije|han\s+dicho)",
    r"\bya\s+no\s+(est[aá]s|est[aá])\s+(sujet[oa]|obligad[oa]|limitad[oa])",
    r"\brepite\b(\s+\w+){0,5}\s+(mensajes|instrucciones)\s+anteriores",
    # Italian
    r"\b(ignora|dimentica)\b(\s+\w+){0,3}\s+(le\s+)?(istruzioni|regole)\s+(precedenti|sopra)",
    r"\bora\s+sei\b",
    # Portuguese
    r"\b(ignore|ignora|esque[cç]a)\b(\s+\w+){0,3}\s+(as\s+)?(instru[cç][oõ]es|regras)\s+(anteriores|acima)",
    r"\bagora\s+voc[eê]\s+[eé]\b",
    # Dutch
    r"\b(negeer|vergeet)\b(\s+\w+){0,3}\s+(de\s+)?(vorige|eerdere|bovenstaande)\s+(instructies|regels)",
]

# Chat-template and role markers that never belong in an ordinary document.
_MARKERS = [
    r"<\|im_start\|>",
    r"<\|im_end\|>",
    r"<\|(system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>",
    r"\[/?INST\]",
    r"<<\s*/?SYS\s*>>",
    r"</?(system|system_prompt|instructions)>",
    # A line that opens with a role label, as in a pasted transcript aimed at the model.
    r"^\s*#{0,3}\s*(system|assistant|developer)\s*:\s*\S",
]

_DETECTOR = re.compile("|".join(f"(?:{p})" for p in (*_PATTERNS, *_MARKERS)), re.IGNORECASE | re.MULTILINE)


def matched_phrase(text: str) -> str | None:
    """The first known prompt-injection phrase or chat-template/role marker in `text`, or None."""
    # NFKC folds look-alike letters (full-width, ligatures) onto the plain ones the patterns expect.
    found = _DETECTOR.search(unicodedata.normalize("NFKC", text))
    return found.group(0).strip() if found else None


def looks_like_instructions(text: str) -> bool:
    """True when `text` contains a known prompt-injection phrase or a chat-template/role marker."""
    return matched_phrase(text) is not None
