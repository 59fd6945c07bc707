"""Multipart upload to R2 (moto): identical bytes, retried parts, nothing left open on failure."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from mypy_boto3_s3 import S3Client

from downloader.errors import UploadFailed
from downloader.uploader import MAX_PARTS, MIB, MIN_PART, Uploader, part_size_for
from tests.conftest import R2_BUCKET, objects_on


@pytest.fixture
def movie(tmp_path: Path) -> Path:
    path = tmp_path / "movie.mp4"
    path.write_bytes(bytes(range(256)) * (12 * MIB // 256) + b"tail")  # 12 MiB + 4 bytes
    return path


class FlakyParts:
    """Wraps an S3 client; ``upload_part`` fails ``failures[n]`` times for part n."""

    def __init__(self, client: S3Client, failures: dict[int, int]) -> None:
        self._client = client
        self.failures = dict(failures)

    def upload_part(self, **kwargs: Any) -> Any:
        number = kwargs["PartNumber"]
        if self.failures.get(number, 0) > 0:
            self.failures[number] -= 1
            raise ConnectionError("connection reset by peer")
        return self._client.upload_part(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


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


def test_a_flaky_part_is_retried(s3: S3Client, movie: Path) -> None:
    flaky = FlakyParts(s3, {2: 2})
    sleeps: list[float] = []

    Uploader(objects_on(flaky), part_size=MIN_PART, sleep=sleeps.append).upload(
        movie, "movies/job_1_b/movie.mp4", content_type="video/mp4"
    )

    assert sleeps == [0.5, 1.0]
    assert s3.head_object(Bucket=R2_BUCKET, Key="movies/job_1_b/movie.mp4")["ContentLength"] == (
        movie.stat().st_size
    )


def test_a_part_that_keeps_failing_aborts_the_upload(s3: S3Client, movie: Path) -> None:
    flaky = FlakyParts(s3, {3: 99})

    with pytest.raises(UploadFailed, match="part 3 failed 3 times"):
        Uploader(objects_on(flaky), part_size=MIN_PART, sleep=lambda s: None).upload(
            movie, "movies/job_1_c/movie.mp4", content_type="video/mp4"
        )

    assert open_uploads(s3) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=R2_BUCKET, Prefix="movies/job_1_c/")


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
