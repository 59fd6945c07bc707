"""Which audio track a viewer hears: the film's original language, else English, never commentary."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from downloader.post.ffmpeg import ON_PATH
from downloader.post.remux import prepare
from downloader.post.tracks import AudioTrack, audio_tracks, choose_audio
from sandbox.multilingual import make_multilingual_movie


def track(
    index: int,
    language: str | None,
    codec: str = "aac",
    *,
    default: bool = False,
    commentary: bool = False,
    description: bool = False,
) -> AudioTrack:
    return AudioTrack(
        index=index,
        codec=codec,
        default=default,
        language=language,
        commentary=commentary,
        description=description,
    )


ITALIAN_FIRST = [track(1, "ita", default=True), track(2, "eng")]


@pytest.mark.parametrize(
    ("original", "index", "reason"),
    [
        ("en", 2, "original language (en)"),
        ("it", 1, "original language (it)"),
        ("fr", 2, "English"),  # no French: English beats the Italian default
        (None, 2, "English"),
    ],
)
def test_the_original_language_then_english_beats_the_default_flag(
    original: str | None, index: int, reason: str
) -> None:
    choice = choose_audio(ITALIAN_FIRST, original)

    assert choice is not None
    assert (choice.track.index, choice.reason) == (index, reason)


def test_commentary_and_audio_description_are_never_chosen_while_anything_else_exists() -> None:
    tracks = [
        track(1, "eng", commentary=True, default=True),
        track(2, "eng", description=True),
        track(3, "ita"),
    ]

    choice = choose_audio(tracks, "en")

    assert choice is not None
    assert choice.track.index == 3
    assert "no track in en" in choice.reason
    only_commentary = choose_audio([track(1, "eng", commentary=True)], "en")
    assert only_commentary is not None
    assert only_commentary.track.index == 1


def test_within_the_language_a_playable_track_avoids_transcoding() -> None:
    tracks = [track(1, "eng", "dts", default=True), track(2, "eng", "aac"), track(3, "ita", "aac")]

    choice = choose_audio(tracks, "en")

    assert choice is not None
    assert (choice.track.index, choice.transcode) == (2, False)


def test_a_german_film_gets_its_german_track_whatever_the_tag_style() -> None:
    for tag in ("ger", "deu", "de"):
        choice = choose_audio([track(1, "eng", default=True), track(2, tag, "ac3")], "de")
        assert choice is not None
        assert (choice.track.index, choice.transcode) == (2, True)


def test_untagged_tracks_keep_the_old_rule_a_playable_default() -> None:
    choice = choose_audio([track(1, None, "ac3", default=True), track(2, None, "opus")], "en")

    assert choice is not None
    assert choice.track.index == 2
    assert choose_audio([], "en") is None


def test_ffprobe_flags_and_titles_are_read() -> None:
    streams = [
        {"index": 0, "codec_type": "video", "codec_name": "h264"},
        {
            "index": 1,
            "codec_type": "audio",
            "codec_name": "ac3",
            "channels": 6,
            "tags": {"language": "eng", "title": "Director's Commentary"},
        },
        {"index": 2, "codec_type": "audio", "codec_name": "aac", "tags": {"LANGUAGE": "und"}},
        {
            "index": 3,
            "codec_type": "audio",
            "codec_name": "aac",
            "disposition": {"visual_impaired": 1},
        },
        {"index": 4, "codec_type": "audio", "codec_name": "aac", "tags": {"title": "English AD"}},
    ]

    tracks = audio_tracks(streams)

    assert [(t.index, t.language, t.commentary, t.description) for t in tracks] == [
        (1, "eng", True, False),
        (2, None, False, False),
        (3, None, False, True),
        (4, None, False, True),
    ]
    assert tracks[0].channels == 6


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_the_mp4_plays_the_english_track_first_and_default(tmp_path: Path) -> None:
    source = tmp_path / "Film.mkv"
    make_multilingual_movie(source, 2)

    prepared = prepare(source, tmp_path, original_language="en")

    audio = audio_streams(prepared.path)
    assert [(s["tags"].get("language"), s["disposition"]["default"]) for s in audio] == [("eng", 1)]
    media = prepared.media["audio"]
    assert (media["chosen"]["index"], media["chosen"]["language"]) == (2, "eng")
    assert [t["language"] for t in media["available"]] == ["ita", "eng"]
    assert media["reason"] == "original language (en)"


def audio_streams(path: Path) -> list[dict[str, Any]]:
    return [s for s in ON_PATH.probe(path)["streams"] if s["codec_type"] == "audio"]
