"""Subtitles: the release's text tracks become WebVTT files a browser shows (``<track>``).

Text tracks inside the movie (SubRip, ASS/SSA, WebVTT, mov_text) are converted by the same ffmpeg
run that makes the MP4, as extra outputs, so the streaming tail converts them while it remuxes and
the sequential path reads the file once. Subtitle files posted with the release (``.srt``, ``.ass``,
``.ssa``, ``.vtt``) are converted one by one. Image subtitles (PGS, VobSub, DVB) would need OCR: they
are listed as not converted, with that reason, and so is anything ffmpeg could not convert. A
subtitle never fails a job: the movie matters more.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from downloader.post.ffmpeg import ON_PATH, FFmpeg, MediaError
from downloader.post.tracks import ISO_639_2, language_of, title_of

TEXT_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})
IMAGE_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"})
FILE_SUFFIXES = frozenset({".srt", ".ass", ".ssa", ".vtt"})
#: A subtitle file larger than this is no subtitle file.
MAX_FILE_BYTES = 20 * 1024 * 1024
_LANGUAGE_NAMES = {
    "english": "en",
    "italian": "it",
    "italiano": "it",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "portuguese": "pt",
    "dutch": "nl",
    "swedish": "sv",
    "danish": "da",
    "norwegian": "no",
    "finnish": "fi",
    "polish": "pl",
    "russian": "ru",
    "japanese": "ja",
    "korean": "ko",
    "chinese": "zh",
}
_TO_639_1 = {code: short for short, codes in ISO_639_2.items() for code in codes}


@dataclass(frozen=True)
class Subtitle:
    """One subtitle track of the release, and what became of it."""

    #: The stream's index in the movie, or None for a file posted with the release.
    index: int | None
    codec: str
    #: ISO 639-1 where known (what ``<track srclang>`` wants), else as tagged; None if unknown.
    language: str | None
    label: str
    forced: bool
    hearing_impaired: bool = False
    source: Path | None = None
    #: The WebVTT file made from it, once converted.
    output: Path | None = None
    #: Why it was not converted (None: converted, or not yet tried).
    reason: str | None = None

    @property
    def is_text(self) -> bool:
        return self.codec in TEXT_CODECS


def embedded(streams: Sequence[dict[str, Any]]) -> tuple[Subtitle, ...]:
    """The movie's subtitle streams; image ones already carry their reason."""
    found = []
    for stream in streams:
        if stream.get("codec_type") != "subtitle":
            continue
        codec = str(stream.get("codec_name", ""))
        disposition = stream.get("disposition") or {}
        language = _short(language_of(stream))
        forced = bool(disposition.get("forced"))
        subtitle = Subtitle(
            index=int(stream["index"]),
            codec=codec,
            language=language,
            label=title_of(stream) or _label(language, forced),
            forced=forced,
            hearing_impaired=bool(disposition.get("hearing_impaired")),
        )
        if not subtitle.is_text:
            kind = (
                "an image subtitle" if codec in IMAGE_CODECS else f"a {codec or 'unknown'} subtitle"
            )
            subtitle = replace(subtitle, reason=f"{kind}: only text subtitles become WebVTT")
        found.append(subtitle)
    return tuple(found)


def output_arguments(
    subtitles: Sequence[Subtitle], folder: Path
) -> tuple[list[str], tuple[Subtitle, ...]]:
    """Extra ffmpeg outputs converting the text tracks to WebVTT in ``folder`` (after the MP4's),
    and the subtitles with the file each will be written to."""
    arguments: list[str] = []
    planned = []
    for number, subtitle in enumerate(subtitles):
        if subtitle.index is None or not subtitle.is_text or subtitle.reason:
            planned.append(subtitle)
            continue
        output = folder / f"{number}.vtt"
        arguments += ["-map", f"0:{subtitle.index}", "-c:s", "webvtt", "-f", "webvtt", str(output)]
        planned.append(replace(subtitle, output=output))
    return arguments, tuple(planned)


def failed(subtitles: Sequence[Subtitle], reason: str) -> tuple[Subtitle, ...]:
    """The planned conversions did not happen: each says so (the movie is made without them)."""
    return tuple(
        replace(s, output=None, reason=reason) if s.output is not None else s for s in subtitles
    )


def converted(subtitles: Sequence[Subtitle]) -> tuple[Subtitle, ...]:
    """After ffmpeg ran: a planned file that is missing or empty counts as not converted."""
    return tuple(
        replace(s, output=None, reason="ffmpeg wrote no cues for it")
        if s.output is not None and (not s.output.exists() or s.output.stat().st_size == 0)
        else s
        for s in subtitles
    )


def from_files(
    files: Sequence[Path], folder: Path, *, tools: FFmpeg = ON_PATH
) -> tuple[Subtitle, ...]:
    """Subtitle files posted with the release, each converted to WebVTT in ``folder``."""
    found = []
    candidates = [f for f in files if f.suffix.lower() in FILE_SUFFIXES and f.is_file()]
    for number, path in enumerate(sorted(candidates)):
        language, forced = guess_from_name(path.name)
        codec = {".srt": "subrip", ".vtt": "webvtt"}.get(path.suffix.lower(), "ass")
        subtitle = Subtitle(None, codec, language, _label(language, forced), forced, source=path)
        if path.stat().st_size > MAX_FILE_BYTES:
            found.append(replace(subtitle, reason="the file is too large to be a subtitle"))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        output = folder / f"file-{number}.vtt"
        try:
            tools.run(
                ["-i", str(path), "-c:s", "webvtt", "-f", "webvtt", str(output)], "not converted"
            )
        except MediaError as error:
            found.append(replace(subtitle, reason=str(error)))
            continue
        found.append(replace(subtitle, output=output))
    return tuple(converted(found))


def guess_from_name(name: str) -> tuple[str | None, bool]:
    """``Film.2024.en.forced.srt`` → ("en", True); the language from the name's last words."""
    words = [w.lower() for w in re.split(r"[._\- \[\]()]+", Path(name).stem) if w]
    forced = "forced" in words or "foreign" in words
    for word in reversed(words[-4:]):
        if word in _LANGUAGE_NAMES:
            return _LANGUAGE_NAMES[word], forced
        if word in ISO_639_2 or word in _TO_639_1:
            return _short(word), forced
    return None, forced


def describe(subtitles: Sequence[Subtitle], keys: dict[int, str]) -> list[dict[str, Any]]:
    """The job's ``subtitles`` (JSON-ready); ``keys``: object key of each uploaded one, by position."""
    return [
        {
            "language": s.language,
            "label": s.label,
            "forced": s.forced,
            "codec": s.codec,
            "source": "file" if s.index is None else "embedded",
            "converted": number in keys,
            "reason": None if number in keys else (s.reason or "not converted"),
            "key": keys.get(number),
        }
        for number, s in enumerate(subtitles)
    ]


def _short(language: str | None) -> str | None:
    if language is None:
        return None
    return _TO_639_1.get(language, language)


def _label(language: str | None, forced: bool) -> str:
    names = {short: name.title() for name, short in _LANGUAGE_NAMES.items() if name != "italiano"}
    base = names.get(language or "", language or "Unknown language")
    return f"{base} (forced)" if forced else base
