"""Subtitles: text tracks and files become WebVTT, image ones say why not, the stream lists them."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import responses
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.domain.jobs import JobStatus, encode_media, to_iso, utcnow
from downloader.post import subtitles
from downloader.post.ffmpeg import FFmpeg, MediaError
from downloader.post.remux import prepare
from sandbox.multilingual import CUES, make_multilingual_movie, srt
from tests.conftest import TMDB, ApiClient
from tests.seeding import seed_job
from tests.webvtt import cues

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
API = "/api/movies-on-demand"


@pytest.mark.parametrize(
    ("name", "language", "forced"),
    [
        ("Film.2024.1080p.en.srt", "en", False),
        ("Film.2024.1080p.eng.forced.srt", "en", True),
        ("Film.2024.1080p.Italian.ass", "it", False),
        ("ger.srt", "de", False),
        ("Film.2024.1080p-GRP.srt", None, False),
    ],
)
def test_a_subtitle_files_language_comes_from_its_name(
    name: str, language: str | None, forced: bool
) -> None:
    assert subtitles.guess_from_name(name) == (language, forced)


def test_image_subtitles_are_listed_as_not_converted_with_the_reason() -> None:
    found = subtitles.embedded(
        [
            {
                "index": 3,
                "codec_type": "subtitle",
                "codec_name": "hdmv_pgs_subtitle",
                "tags": {"language": "fre"},
            },
            {
                "index": 4,
                "codec_type": "subtitle",
                "codec_name": "subrip",
                "disposition": {"forced": 1},
            },
        ]
    )

    pgs, text = found
    assert (pgs.language, pgs.label, pgs.is_text) == ("fr", "French", False)
    assert pgs.reason is not None
    assert "image subtitle" in pgs.reason
    assert (text.reason, text.forced, text.label) == (None, True, "Unknown language (forced)")
    described = subtitles.describe(found, {1: "movies/job_1_a/subtitles/1.und.vtt"})
    assert [(d["converted"], d["reason"] is None) for d in described] == [
        (False, False),
        (True, True),
    ]


@needs_ffmpeg
def test_subtitle_files_in_the_release_are_converted_and_broken_ones_say_why(
    tmp_path: Path,
) -> None:
    good = tmp_path / "Film.2024.en.srt"
    good.write_text(srt(CUES["full"]), encoding="utf-8")
    broken = tmp_path / "Film.2024.it.srt"
    broken.write_bytes(b"\x00\x01 this is no SubRip \xff")
    other = tmp_path / "Film.2024.nfo"
    other.write_text("not a subtitle")

    found = subtitles.from_files([good, broken, other], tmp_path / "out")

    by_language = {s.language: s for s in found}
    assert set(by_language) == {"en", "it"}
    english = by_language["en"].output
    assert english is not None
    assert cues(english.read_text()) == CUES["full"]
    assert by_language["it"].output is None
    assert by_language["it"].reason


@dataclass(frozen=True)
class NoWebVtt(FFmpeg):
    """An ffmpeg that cannot write WebVTT: what a subtitle ffmpeg chokes on looks like to us."""

    def run(self, arguments: list[str], failure: str) -> None:
        if "webvtt" in arguments:
            raise MediaError(f"{failure}: Subtitle encoding failed")
        super().run(arguments, failure)


@needs_ffmpeg
def test_a_subtitle_that_cannot_be_converted_never_costs_the_movie(tmp_path: Path) -> None:
    source = tmp_path / "Film.mkv"
    make_multilingual_movie(source, 2)

    prepared = prepare(source, tmp_path / "out", original_language="en", tools=NoWebVtt())

    assert prepared.remuxed
    assert prepared.path.stat().st_size > 0
    assert [s.output for s in prepared.subtitles] == [None, None]
    assert all("Subtitle encoding failed" in (s.reason or "") for s in prepared.subtitles)


def test_the_stream_answer_lists_the_subtitles_signed_like_the_movie(
    api: ApiClient, s3: S3Client, s3_server: str, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/550", status=404)
    upstream.add_passthru(s3_server)
    store = bootstrap.container().store
    objects = bootstrap.container().objects
    job = seed_job(store, JobStatus.READY, ready_at=to_iso(utcnow()))
    prefix = f"movies/{job.job_id}/"
    vtt = b"WEBVTT\n\n00:00.500 --> 00:01.500\nWhere were you?\n"
    for key, body, kind in (
        (f"{prefix}movie.mp4", b"mp4", "video/mp4"),
        (f"{prefix}subtitles/0.en.vtt", vtt, "text/vtt"),
    ):
        objects.client.put_object(Bucket=objects.bucket, Key=key, Body=body, ContentType=kind)
    listed = [
        {
            "language": "en",
            "label": "English",
            "forced": False,
            "key": f"{prefix}subtitles/0.en.vtt",
        },
        {"language": "fr", "label": "French", "forced": False, "key": None, "reason": "image"},
        {"language": "xx", "label": "Elsewhere", "forced": False, "key": "movies/other/x.vtt"},
    ]
    store.transition(
        job.job_id,
        from_statuses=[JobStatus.READY],
        to=JobStatus.READY,
        now=to_iso(utcnow()),
        media=encode_media({"subtitles": listed}),
    )

    answer = api.get(f"{API}/movies/550/stream").json

    [subtitle] = answer["subtitles"]  # not the unconverted one, never a key outside the job
    assert (subtitle["language"], subtitle["label"], subtitle["forced"]) == ("en", "English", False)
    assert "X-Amz-Signature=" in subtitle["url"]
    fetched = requests.get(subtitle["url"], timeout=5)
    assert fetched.status_code == 200
    assert cues(fetched.text) == [(0.5, 1.5, "Where were you?")]
    assert json.dumps(answer).count("X-Amz-Expires=14400") == 2
