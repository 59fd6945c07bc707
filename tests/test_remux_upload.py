"""The sequential path uploads the movie while ffmpeg remuxes it (``UploadWhileRemuxing``).

Real ffmpeg on a clip made here, moto's S3 as R2. What a user would notice: the stored MP4 is the
file the remux wrote and plays as the plain ``+faststart`` remux does (same packets, index first);
its first parts went up before ffmpeg had finished; and when the reserved index turns out too small
the movie still arrives whole, remuxed again, with no multipart upload left open.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from downloader.post.ffmpeg import FFmpeg, MediaStopped
from downloader.post.remux import prepare
from downloader.streaming.growing_upload import UploadWhileRemuxing, check_layout
from downloader.uploader import MIN_PART, Uploader
from tests.conftest import R2_BUCKET, objects_on
from tests.test_streaming import noisy_movie, packets

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)"
)

KEY = "movies/job_1/movie.mp4"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten seconds of noisy 640x360 H.264 + AAC in Matroska: about 21 MB, five 5 MiB parts."""
    path = tmp_path_factory.mktemp("remux-upload") / "Movie.2024.mkv"
    noisy_movie(path, seconds=10)
    return path


class PacedFFmpeg(FFmpeg):
    """ffmpeg reading its input at eight times the movie's pace, as a remux of a film on a slow
    disk takes its time; records when each run ended."""

    ended: list[float]

    def run(self, arguments: list[str], failure: str) -> None:
        at = arguments.index("-i")
        super().run([*arguments[:at], "-readrate", "8", *arguments[at:]], failure)
        self.ended.append(time.monotonic())


def paced() -> PacedFFmpeg:
    tools = PacedFFmpeg()
    object.__setattr__(tools, "ended", [])
    return tools


def recording(uploader: Uploader) -> list[float]:
    """When each part was sent."""
    sent: list[float] = []
    put_part = uploader.put_part

    def timed(key: str, upload_id: str, number: int, body: bytes) -> str:
        sent.append(time.monotonic())
        return put_part(key, upload_id, number, body)

    uploader.put_part = timed  # type: ignore[method-assign]
    return sent


def open_uploads(s3: S3Client) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", [])]


def test_the_movie_goes_up_while_ffmpeg_writes_it(
    s3: S3Client, source: Path, tmp_path: Path
) -> None:
    uploader = Uploader(objects_on(s3), part_size=MIN_PART, workers=2)
    sent = recording(uploader)
    follower = UploadWhileRemuxing(uploader, KEY, {"movie-id": "550"})
    tools = paced()

    prepared = prepare(source, tmp_path / "out", tools=tools, follower=follower)

    assert follower.uploaded is not None
    assert (follower.uploaded.key, follower.uploaded.size_bytes) == (
        KEY,
        prepared.path.stat().st_size,
    )
    stored = s3.get_object(Bucket=R2_BUCKET, Key=KEY)
    assert stored["Body"].read() == prepared.path.read_bytes()
    assert stored["ContentType"] == "video/mp4"
    assert stored["Metadata"] == {"movie-id": "550", "original-container": "matroska,webm"}
    assert follower.uploaded.parts == -(-prepared.path.stat().st_size // MIN_PART)
    assert min(sent) < tools.ended[-1]  # parts went up before the remux was done
    check_layout(prepared.path)  # the index in front of the media: it plays as it arrives
    plain = prepare(source, tmp_path / "plain")  # the +faststart remux, uploaded afterwards
    assert packets(prepared.path) == packets(plain.path)
    assert open_uploads(s3) == []


def test_an_index_reserve_too_small_remuxes_again_and_leaves_no_upload_open(
    s3: S3Client, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("downloader.streaming.plan.MOOV_BASE", 64)
    monkeypatch.setattr("downloader.streaming.plan.MOOV_PER_SAMPLE", 0)
    uploader = Uploader(objects_on(s3), part_size=MIN_PART, workers=2)
    follower = UploadWhileRemuxing(uploader, KEY, {"movie-id": "550"})

    prepared = prepare(source, tmp_path / "out", follower=follower)

    assert follower.uploaded is None  # the caller uploads the file as before
    assert open_uploads(s3) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=R2_BUCKET, Prefix=KEY)
    check_layout(prepared.path)
    plain = prepare(source, tmp_path / "plain")
    assert packets(prepared.path) == packets(plain.path)


def test_a_movie_of_unknown_length_gets_its_index_after_writing(
    s3: S3Client, tmp_path: Path
) -> None:
    follower = UploadWhileRemuxing(Uploader(objects_on(s3)), KEY, {})

    with follower.writing(tmp_path / "movie.mp4", {"format": {}}, "matroska,webm") as index:
        assert index == ["-movflags", "+faststart"]

    assert follower.uploaded is None
    assert open_uploads(s3) == []


def test_a_remux_ended_by_a_signal_is_not_run_again(
    s3: S3Client, source: Path, tmp_path: Path
) -> None:
    """The heartbeat ends ffmpeg when the job is taken away: that is no reason to remux again."""
    runs = tmp_path / "runs"
    stopped = tmp_path / "ffmpeg"
    stopped.write_text(f'#!/bin/sh\necho run >> "{runs}"\nkill -TERM $$\n')
    stopped.chmod(0o755)
    follower = UploadWhileRemuxing(Uploader(objects_on(s3), part_size=MIN_PART), KEY, {})

    with pytest.raises(MediaStopped, match="was stopped"):
        prepare(source, tmp_path / "out", tools=FFmpeg(ffmpeg=str(stopped)), follower=follower)

    assert runs.read_text().count("run") == 1
    assert open_uploads(s3) == []
