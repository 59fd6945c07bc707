"""The tracks of a movie file, and which audio track a viewer should hear.

A release often carries several audio tracks: a dub first and flagged default (Italian releases put
Italian first), the original second, a director's commentary, an audio description for the visually
impaired. Browsers play the MP4's first audio track and offer no picker, so that track must be the
right one: the film's original language (TMDB's ``original_language``, carried in the job message),
else English, never a commentary or audio description while anything else exists. Among tracks of
the chosen language, one the browser plays as it is (no transcoding) wins, then the default-flagged
one, then the earlier. Without any language match the old rule stands: a playable track, the default
first.

Pure logic over ffprobe's JSON; ``remux`` turns the choice into ffmpeg's ``-map``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Audio browsers play inside MP4 as it is; anything else is transcoded to AAC.
COPYABLE_AUDIO = ("aac", "mp3", "opus")

#: ISO 639-1 (TMDB) → the ISO 639-2 codes Matroska tags carry (bibliographic and terminology).
ISO_639_2 = {
    "en": ("eng",),
    "it": ("ita",),
    "fr": ("fre", "fra"),
    "de": ("ger", "deu"),
    "es": ("spa",),
    "pt": ("por",),
    "nl": ("dut", "nld"),
    "sv": ("swe",),
    "da": ("dan",),
    "no": ("nor", "nob", "nno"),
    "fi": ("fin",),
    "pl": ("pol",),
    "cs": ("cze", "ces"),
    "hu": ("hun",),
    "ru": ("rus",),
    "uk": ("ukr",),
    "tr": ("tur",),
    "el": ("gre", "ell"),
    "he": ("heb",),
    "ar": ("ara",),
    "hi": ("hin",),
    "ja": ("jpn",),
    "ko": ("kor",),
    "zh": ("chi", "zho", "cmn", "yue"),
    "th": ("tha",),
}
_COMMENTARY = re.compile(r"\bcomment(ary|aire|o)\b", re.IGNORECASE)
_DESCRIPTION = re.compile(
    r"\b(audio[ -]?description|descriptive|described|(?-i:AD))\b", re.IGNORECASE
)


@dataclass(frozen=True)
class AudioTrack:
    index: int
    codec: str
    default: bool
    #: As tagged (ISO 639-2, lower case); None when untagged or ``und``.
    language: str | None = None
    title: str | None = None
    channels: int | None = None
    commentary: bool = False
    #: Audio description for the visually impaired.
    description: bool = False


def audio_tracks(streams: Sequence[dict[str, Any]]) -> tuple[AudioTrack, ...]:
    return tuple(
        AudioTrack(
            index=int(s["index"]),
            codec=str(s.get("codec_name", "")),
            default=_flag(s, "default"),
            language=language_of(s),
            title=title_of(s),
            channels=int(s["channels"]) if isinstance(s.get("channels"), int) else None,
            commentary=_flag(s, "comment") or bool(_COMMENTARY.search(title_of(s) or "")),
            description=_flag(s, "visual_impaired") or bool(_DESCRIPTION.search(title_of(s) or "")),
        )
        for s in streams
        if s.get("codec_type") == "audio"
    )


def language_of(stream: dict[str, Any]) -> str | None:
    tags = {str(k).lower(): v for k, v in (stream.get("tags") or {}).items()}
    language = str(tags.get("language") or "").strip().lower()
    return None if language in ("", "und", "unk", "zxx", "mis", "mul") else language


def title_of(stream: dict[str, Any]) -> str | None:
    tags = {str(k).lower(): v for k, v in (stream.get("tags") or {}).items()}
    title = str(tags.get("title") or "").strip()
    return title or None


def _flag(stream: dict[str, Any], name: str) -> bool:
    return bool((stream.get("disposition") or {}).get(name))


def speaks(track_language: str | None, wanted: str) -> bool:
    """Whether a track tagged ``track_language`` (ISO 639-2, or 639-1) is in ``wanted`` (639-1)."""
    if track_language is None:
        return False
    return track_language == wanted or track_language in ISO_639_2.get(wanted, ())


@dataclass(frozen=True)
class AudioChoice:
    track: AudioTrack
    #: Why, for the job: "original language (en)", "English", or "no track in …: the default".
    reason: str

    @property
    def transcode(self) -> bool:
        return self.track.codec not in COPYABLE_AUDIO


def choose_audio(tracks: Sequence[AudioTrack], original_language: str | None) -> AudioChoice | None:
    """The track to make the MP4's first (and only) audio; None when there is no audio."""
    if not tracks:
        return None
    main = [t for t in tracks if not (t.commentary or t.description)] or list(tracks)
    wanted = [(original_language, f"original language ({original_language})")]
    if original_language != "en":
        wanted.append(("en", "English"))
    for language, reason in wanted:
        if language is None:
            continue
        matching = [t for t in main if speaks(t.language, language)]
        if matching:
            return AudioChoice(_best(matching, main), reason)
    asked = " or ".join(dict.fromkeys(lang for lang, _ in wanted if lang)) or "a known language"
    return AudioChoice(_best(main, main), f"no track in {asked}: the default track")


def _best(candidates: Sequence[AudioTrack], order: Sequence[AudioTrack]) -> AudioTrack:
    """Playable as it is first, then the default-flagged one, then the earlier."""
    return min(
        candidates, key=lambda t: (t.codec not in COPYABLE_AUDIO, not t.default, order.index(t))
    )


def describe_audio(
    tracks: Sequence[AudioTrack], choice: AudioChoice | None, original_language: str | None
) -> dict[str, Any]:
    """The job's ``audio``: what was there, what was chosen and why (JSON-ready)."""
    return {
        "original_language": original_language,
        "chosen": _track_json(choice.track) if choice else None,
        "reason": choice.reason if choice else "the file has no audio",
        "transcoded": bool(choice and choice.transcode),
        "available": [_track_json(track) for track in tracks],
    }


def _track_json(track: AudioTrack) -> dict[str, Any]:
    return {
        "index": track.index,
        "language": track.language,
        "codec": track.codec,
        "title": track.title,
        "channels": track.channels,
        "default": track.default,
        "commentary": track.commentary,
        "audio_description": track.description,
    }
