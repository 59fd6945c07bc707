"""Both ways of making the MP4 (the streaming tail and the sequential remux) choose the same tracks.

One multilingual film (``sandbox/multilingual.py``: Italian audio first and default, English second,
English and forced English SubRip), posted as a stored RAR5 set with par2, fetched through the
pipeline twice: once streamed while downloading, once the sequential way.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import Job, JobStatus, decode_media
from chalicelib.services.jobs import job_model
from downloader.pipeline import run
from downloader.post.ffmpeg import ON_PATH
from downloader.post.par2 import par2_binary
from downloader.streaming.tail import StreamOptions
from downloader.uploader import MIN_PART
from sandbox.multilingual import CUES, make_multilingual_movie
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from sandbox.rar import pack_file
from tests.conftest import R2_BUCKET
from tests.test_pipeline import context_for, start_job
from tests.webvtt import cues

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)
SEGMENT = 64 * 1024


@pytest.fixture(scope="module")
def multilingual_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("multilingual")
    source = folder / "source" / "Film.2024.1080p.mkv"
    source.parent.mkdir()
    make_multilingual_movie(source, 4)
    volumes = pack_file(source, folder, volume_size=source.stat().st_size // 3 + 1)
    par2 = ["c", "-q", "-q", "-r15", "-n2", f"-s{SEGMENT}", "Film.2024.1080p.par2"]
    subprocess.run([par2_binary(), *par2, *(v.name for v in volumes)], cwd=folder, check=True)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@dataclass(frozen=True)
class Fetched:
    job: Job
    movie: Path
    outcomes: list[str]


@pytest.fixture(params=[True, False], ids=["streamed", "sequential"])
def fetched(
    request: pytest.FixtureRequest,
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    multilingual_set: dict[str, bytes],
) -> Fetched:
    """The film fetched through the pipeline for an English-language movie, by either path."""
    streaming: bool = request.param
    outcomes: list[str] = []
    context = context_for(
        make_release(multilingual_set, segment_size=SEGMENT), s3, tmp_path, servers
    )
    context.streaming = (
        StreamOptions(part_size=MIN_PART, on_outcome=outcomes.append) if streaming else None
    )
    message, reporter = start_job(store)
    run(message.model_copy(update={"original_language": "en"}), context, reporter)
    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.object_key is not None
    if streaming:
        assert outcomes[0].startswith("streamed")
    local = tmp_path / "movie.mp4"
    local.write_bytes(s3.get_object(Bucket=R2_BUCKET, Key=job.object_key)["Body"].read())
    return Fetched(job, local, outcomes)


def streams(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ON_PATH.probe(path)["streams"]
    return found


def test_english_is_the_first_audio_whichever_path_makes_the_mp4(fetched: Fetched) -> None:
    job = fetched.job
    audio = [s for s in streams(fetched.movie) if s["codec_type"] == "audio"]
    assert [(s["tags"]["language"], s["disposition"]["default"]) for s in audio] == [("eng", 1)]
    media = decode_media(job.media)["audio"]
    assert media["chosen"]["language"] == "eng"
    assert [track["language"] for track in media["available"]] == ["ita", "eng"]
    answer = job_model(job).audio  # what GET /jobs/{id} says
    assert answer is not None
    assert answer.chosen is not None
    assert (answer.chosen.language, answer.reason) == ("eng", "original language (en)")


def test_text_subtitles_become_webvtt_beside_the_movie_with_the_same_cue_times(
    fetched: Fetched, s3: S3Client
) -> None:
    job = fetched.job
    listed = decode_media(job.media)["subtitles"]
    assert [(s["language"], s["forced"], s["converted"]) for s in listed] == [
        ("en", False, True),
        ("en", True, True),
    ]
    for item, expected in zip(listed, (CUES["full"], CUES["forced"]), strict=True):
        assert item["key"].startswith(f"movies/{job.job_id}/subtitles/")
        stored = s3.get_object(Bucket=R2_BUCKET, Key=item["key"])
        assert stored["ContentType"].startswith("text/vtt")
        assert cues(stored["Body"].read().decode()) == expected
    answer = job_model(job).subtitles
    assert [(s.label, s.forced, s.reason) for s in answer] == [
        ("English", False, None),
        ("Forced", True, None),
    ]
