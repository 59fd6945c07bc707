"""A strict little WebVTT reader for the tests: the header, then cues with their times and text."""

from __future__ import annotations

import re

_TIME = re.compile(r"(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})")
_TIMING = re.compile(rf"^({_TIME.pattern}) --> ({_TIME.pattern})(?: .*)?$")


def _seconds(text: str) -> float:
    match = _TIME.fullmatch(text)
    assert match, f"not a WebVTT time: {text!r}"
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def cues(document: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue; fails on anything that is not WebVTT."""
    blocks = re.split(r"\n{2,}", document.replace("\r\n", "\n").strip())
    assert blocks[0].split("\n")[0].startswith("WEBVTT"), "no WEBVTT header"
    found = []
    for block in blocks[1:]:
        lines = block.split("\n")
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        if "-->" not in lines[0]:
            lines = lines[1:]  # a cue identifier
        timing = _TIMING.match(lines[0])
        assert timing, f"not a cue timing line: {lines[0]!r}"
        start, end = lines[0].split(" --> ")
        found.append(
            (_seconds(start.strip()), _seconds(end.split(" ")[0].strip()), "\n".join(lines[1:]))
        )
    return found
