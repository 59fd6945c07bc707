"""Multipart upload to R2 (moto, and moto's server behind a failing proxy): identical bytes, one
retry layer, the rest cancelled and nothing left open on failure."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.objects import ObjectStore
from downloader.errors import UploadFailed
from downloader.streaming.growing_upload import GrowingUpload
from downloader.uploader import MAX_PARTS, MIB, MIN_PART, Uploader, part_size_for
from tests.conftest import R2_BUCKET, objects_on
from tests.fault_servers import S3Proxy


@pytest.fixture
def movie(tmp_path: Path) -> Path:
    path = tmp_path / "movie.mp4"
    path.write_bytes(bytes(range(256)) * (12 * MIB // 256) + b"tail")  # 12 MiB + 4 bytes
    return path


def open_uploads(s3: S3Client) -> list[Any]:
    return list(s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []))


def test_upload_is_byte_identical_in_equal_parts(s3: S3Client, movie: Path) -> None:
    seen: list[int] = []

    result = Uploader(objects_on(s3), part_size=MIN_PART, workers=3).upload(
        movie,
        "movies/job_1_a/movie.mp4",
        content_type="video/mp4",
        metadata={"original-container": "matroska"},
        progress=seen.append,
    )

    assert result.parts == 3  # 5 + 5 + 2 MiB
    body = s3.get_object(Bucket=R2_BUCKET, Key="movies/job_1_a/movie.mp4")
    data = body["Body"].read()
    assert hashlib.sha256(data).digest() == hashlib.sha256(movie.read_bytes()).digest()
    assert body["ContentType"] == "video/mp4"
    assert body["Metadata"] == {"original-container": "matroska"}
    assert max(seen) == movie.stat().st_size
    assert open_uploads(s3) == []


@pytest.fixture
def proxied(s3_server: str) -> Iterator[tuple[ObjectStore, S3Proxy]]:
    """The production ``ObjectStore`` (its own botocore client and retry settings) talking to
    moto's S3 server through a proxy that fails part uploads on cue."""
    proxy = S3Proxy(s3_server)
    store = ObjectStore(
        bucket=R2_BUCKET,
        endpoint_url=proxy.server.url,
        access_key_id="r2-access-key-id-test",
        secret_access_key="r2-secret-test",
        create_bucket=True,
    )
    try:
        yield store, proxy
    finally:
        proxy.server.stop()


def uploads_open(store: ObjectStore, prefix: str) -> list[Any]:
    reply = store.client.list_multipart_uploads(Bucket=R2_BUCKET, Prefix=prefix)
    return list(reply.get("Uploads", []))


def test_a_flaky_part_is_retried_by_botocore(
    proxied: tuple[ObjectStore, S3Proxy], movie: Path
) -> None:
    store, proxy = proxied
    proxy.fail_parts = 2  # R2 answers 500 twice, then recovers

    Uploader(store, part_size=MIN_PART, workers=1).upload(
        movie, "movies/job_1_b/movie.mp4", content_type="video/mp4"
    )

    assert proxy.failed_parts == 2
    stored = store.client.head_object(Bucket=R2_BUCKET, Key="movies/job_1_b/movie.mp4")
    assert stored["ContentLength"] == movie.stat().st_size


def test_a_part_that_keeps_failing_is_tried_three_times_and_cancels_the_rest(
    proxied: tuple[ObjectStore, S3Proxy], movie: Path
) -> None:
    """One retry layer (botocore's 3 attempts, not 3 of ours around 3 of its: 9), and the parts
    not yet sent are never sent once one has failed for good."""
    store, proxy = proxied
    proxy.fail_parts = -1
    uploader = Uploader(store, part_size=MIN_PART, workers=1)

    with pytest.raises(UploadFailed, match="part 1 failed"):
        uploader.upload(movie, "movies/job_1_c/movie.mp4", content_type="video/mp4")

    assert proxy.failed_parts == 3
    assert uploader.parts_sent == 1  # of 3
    assert uploads_open(store, "movies/job_1_c/") == []
    listed = store.client.list_objects_v2(Bucket=R2_BUCKET, Prefix="movies/job_1_c/")
    assert listed["KeyCount"] == 0


class Stop(Exception):
    """What the progress callback raises when the job was taken away (``JobTakenAway``)."""


def test_the_progress_callbacks_exception_stops_the_upload_unchanged(
    s3: S3Client, movie: Path
) -> None:
    """The job was taken away while uploading: the upload is aborted, no more parts go, and the
    caller gets that exception, not an "upload failed" of class storage."""
    uploader = Uploader(objects_on(s3), part_size=MIN_PART, workers=1)

    def taken_away(done: int) -> None:
        raise Stop("job is no longer preparing")

    with pytest.raises(Stop):
        uploader.upload(
            movie, "movies/job_1_d/movie.mp4", content_type="video/mp4", progress=taken_away
        )

    assert uploader.parts_sent == 1
    assert open_uploads(s3) == []


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, 32 * MIB),
        (100 * 1024 * MIB, 32 * MIB),  # 100 GiB fits in 3,200 parts
        (400 * 1024 * MIB, 64 * MIB),  # 400 GiB would need 12,800: doubled
    ],
)
def test_part_size_stays_under_the_part_limit(size: int, expected: int) -> None:
    part = part_size_for(size, 32 * MIB)
    assert part == expected
    assert -(-size // part) <= MAX_PARTS


def test_sigterm_mid_upload_aborts_it_before_the_task_exits(s3: S3Client, movie: Path) -> None:
    """Fargate's SIGTERM lands in the main thread (the task's handler exits with 143) while parts
    are in flight: the parts not yet sent are not sent and the multipart upload is aborted."""
    uploader = Uploader(objects_on(s3), part_size=MIN_PART, workers=1)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    try:
        with pytest.raises(SystemExit) as stopped:
            uploader.upload(
                movie,
                "movies/job_1_e/movie.mp4",
                content_type="video/mp4",
                progress=lambda done: os.kill(os.getpid(), signal.SIGTERM),
            )
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert stopped.value.code == 143
    assert uploader.parts_sent < 3
    assert open_uploads(s3) == []


def test_a_part_rewritten_after_it_went_early_is_sent_again(s3: S3Client, tmp_path: Path) -> None:
    """The streaming tail sends parts of a file ffmpeg is still writing. Should anything rewrite a
    part after it went (ffmpeg only rewrites the reserved index zone, but this is the guard), the
    finished object is still the finished file, byte for byte."""
    path = tmp_path / "growing.mp4"
    path.write_bytes(os.urandom(4 * MIN_PART + 1000))
    uploader = Uploader(objects_on(s3), part_size=MIN_PART)
    key = "movies/job_1_f/movie.mp4"
    upload_id = uploader.begin(key, content_type="video/mp4")
    growing = GrowingUpload(
        uploader, key, upload_id, path, part_size=MIN_PART, reserved=0, workers=2
    )
    growing.start()
    deadline = time.monotonic() + 30
    while uploader.parts_sent < 3 and time.monotonic() < deadline:  # parts 2, 3 and 4 go early
        time.sleep(0.05)
    with path.open("r+b") as file:  # part 3 changes after it was sent
        file.seek(2 * MIN_PART + 10)
        file.write(b"rewritten")
    parts = growing.finish(path.stat().st_size)
    uploader.complete(key, upload_id, parts, path.stat().st_size)
    growing.close()

    assert growing.early == 3
    assert uploader.parts_sent == 6  # 5 parts, part 3 twice
    assert s3.get_object(Bucket=R2_BUCKET, Key=key)["Body"].read() == path.read_bytes()
