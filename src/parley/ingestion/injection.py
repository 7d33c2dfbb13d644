"""Does a piece of a document read like instructions to the model rather than content?

A flagged chunk is still retrieved and cited; the prompt builder fences it as quoted data and tells the model
not to follow it. The check is deliberately simple (phrases and chat-template markers in English, German,
French, Spanish, Italian, Portuguese and Dutch): it catches the copy-pasted attacks, costs microseconds per
chunk, and a false positive only adds a fence around harmless text.
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
    # German
    r"\b(ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte)\b(\s+\w+){0,3}\s+"
    r"(vorherigen?|vorigen?|obigen?|bisherigen?|fr[uü]heren?)\s+(anweisungen|instruktionen|befehle|regeln|vorgaben)",
    r"\bdu\s+bist\s+(jetzt|nun|ab\s+sofort)\b",
    r"\b(ignoriere|vergiss)\s+(den|die|deinen?)\s+system\s*-?\s*(prompt|anweisungen?|nachricht)",
    # French
    r"\b(ignore[rz]?|oublie[rz]?|n[eé]glige[rz]?)\b(\s+\w+){0,3}\s+(les\s+|tes\s+|vos\s+)?"
    r"(instructions|consignes|r[eè]gles|directives)\s+(pr[eé]c[eé]dentes|ant[eé]rieures|ci-dessus)",
    r"\b(tu\s+es|vous\s+[eê]tes)\s+(maintenant|d[eé]sormais)\b",
    # Spanish
    r"\b(ignora|ignore|olvida|olvide|omite|descarta)\b(\s+\w+){0,3}\s+(las\s+|tus\s+|sus\s+)?"
    r"(instrucciones|indicaciones|reglas|[oó]rdenes)\s+(anteriores|previas|de\s+arriba)",
    r"\bahora\s+eres\b",
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


def looks_like_instructions(text: str) -> bool:
    """True when `text` contains a known prompt-injection phrase or a chat-template/role marker."""
    # NFKC folds look-alike letters (full-width, ligatures) onto the plain ones the patterns expect.
    normalised = unicodedata.normalize("NFKC", text)
    return _DETECTOR.search(normalised) is not None
