"""What surrounds a release name, taken off before ``release_parser`` reads it (its steps 1-2).

A Usenet subject's quoted file name, leading and trailing ``[tags]`` (kept: they may name a
quality, never the title), file extensions (``.ts`` is a container, never telesync; ``.m2ts`` a
Blu-ray stream, kept as a hint), reposter junk (``-Obfuscated``, ``-1``), and the group after the
final ``-``. Pure; every regex is compiled once at import.
"""

from __future__ import annotations

import re
from itertools import pairwise

from chalicelib.domain.release_tokens import (
    DASHED_GROUPS,
    EXTENSIONS,
    GROUP_JUNK,
    TOKENS,
    is_strong_quality,
)

_I = re.IGNORECASE
_SPACES = re.compile(r"\s+")
_QUOTED = re.compile(r'"([^"]{4,})"')
_LEADING_TAGS = re.compile(r"^(?:\s*(?:\[[^\[\]]*\]|\(\?+\)|\{[^{}]*\}|[-:~]))+\s*")
_EXTENSION = re.compile(
    r"(?:\.(?:" + "|".join(EXTENSIONS) + r")|\.part\d+|\.vol\d+\+\d+|\.r\d\d)$", _I
)
_TRAILING_TAG = re.compile(r"[\s._-]*\[[^\[\]]*\]\s*$")
_TRAILING_JUNK = re.compile(
    r"(?:-(?:" + "|".join(GROUP_JUNK) + r")|-?WtF\[nZb\]|-\[N-Z-B\]|(?<=[A-Za-z])-\d|\s+yEnc)$", _I
)
_DASHED_GROUP = re.compile(r"[-. ](" + "|".join(map(re.escape, DASHED_GROUPS)) + r")$", _I)
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_&@!$]{0,29}")
_GROUP_DOT_TAIL = re.compile(r"\.(?:[a-z]*subs?|english|eng)$", _I)
# ``.ts`` is a container (an MPEG transport stream), not telesync: after a group, in a quoted file
# name, or written in lower case after a word. ``.m2ts`` is a Blu-ray's stream: a source hint.
_TS_EXTENSION = re.compile(r"-[A-Za-z0-9]+\.ts$", _I)
_LOWER_TS = re.compile(r"(?<=[A-Za-z0-9])\.ts$")
_QUOTED_TS = re.compile(r"\.ts$", _I)
_M2TS = re.compile(r"\.m2ts$", _I)
SPLIT = re.compile(r"[\s._\-\[\](){}+,/\\|\"<>*#~=]+")
_HEX = re.compile(r"[0-9a-f]{16,}", _I)
_VOWELS = frozenset("aeiouyAEIOUY")


def clean(text: str) -> tuple[str, str]:
    """One line, the quoted file name of a Usenet subject if there is one, without its leading
    tags; and those tags (``[HorribleSubs]``, ``[CAM]``), which may still name a source."""
    text = _SPACES.sub(" ", text).strip()
    quoted = _QUOTED.search(text)
    if quoted:
        inner = _QUOTED_TS.sub("", _strip_extensions(quoted.group(1).strip()))
        if len(inner) >= 6 and SPLIT.search(inner):
            text = inner
    leading = _LEADING_TAGS.match(text)
    if leading is None:
        return text, ""
    stripped = text[leading.end() :]
    return (stripped, leading.group(0)) if stripped.strip(" .-_") else (text, "")


def _strip_extensions(text: str) -> str:
    while True:
        shorter = _EXTENSION.sub("", text)
        if shorter == text:
            return text
        text = shorter


def trim(text: str) -> tuple[str, list[str]]:
    """Drop what follows the group (``[eztv]``/``[hash]`` tags, extensions, reposter suffixes).

    Returns the trimmed name and the trailing tags, which may still say something about quality.
    """
    tags: list[str] = []
    for _ in range(8):
        tag = _TRAILING_TAG.search(text)
        shorter = text[: tag.start()] if tag else text
        shorter = _TRAILING_JUNK.sub("", shorter)
        shorter = _strip_extensions(shorter).rstrip(" .-_")
        m2ts = _M2TS.search(shorter)
        if m2ts:
            shorter = shorter[: m2ts.start()]
        elif _TS_EXTENSION.search(shorter) or _LOWER_TS.search(shorter):
            shorter = shorter[:-3]
        if shorter == text or not shorter:
            break
        if tag:
            tags.insert(0, tag.group(0))
        if m2ts:
            tags.insert(0, "M2TS")
        text = shorter
    return text, tags


def looks_obfuscated(text: str) -> bool:
    """A single long token that is hex, or letters and digits shuffled, or has no vowels."""
    core = text.strip(" .-_[]()")
    if len(core) < 12 or SPLIT.search(core) or not core.isalnum():
        return False
    if len(core) >= 16 and _HEX.fullmatch(core) and not core.isdigit() and not core.isalpha():
        return True
    switches = sum(1 for a, b in pairwise(core) if a.isdigit() != b.isdigit())
    if len(core) >= 16 and switches >= 3:
        return True
    letters = [c for c in core if c.isalpha()]
    return len(letters) >= 10 and not any(c in _VOWELS for c in letters)


def split_group(text: str) -> tuple[str, str | None]:
    """(the name before the group, the group) or (the name, None)."""
    dashed = _DASHED_GROUP.search(text)
    if dashed:
        return text[: dashed.start()], dashed.group(1)
    dash = text.rfind("-")
    if dash <= 0:
        return text, None
    words = text[dash + 1 :].split()
    if not words or not all(_is_tag_word(word) for word in words[1:]):
        return text, None
    candidate = _GROUP_DOT_TAIL.sub("", words[0])
    if not _GROUP.fullmatch(candidate) or is_strong_quality(candidate) or _is_tag_word(candidate):
        return text, None
    joined = re.search(r"[A-Za-z0-9]+$", text[:dash])
    if joined and is_strong_quality(joined.group(0) + candidate):  # Blu-Ray, WEB-DL, H-264
        return text, None
    return " ".join([text[:dash], *words[1:]]), candidate


def _is_tag_word(word: str) -> bool:
    low = word.lower()
    token = TOKENS.get(low)
    return (token is not None and token.kind in ("language", "subs")) or low.endswith("subs")
