"""Release shapes as posters make them, and what a finished job must look like, for the tests that
run the real entry point (``downloader.task.main``) against our stand-in and against INN."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from mypy_boto3_s3 import S3Client

from chalicelib.domain.jobs import Job, JobStatus
from downloader.post.par2 import par2_binary
from downloader.post.remux import probe
from downloader.task import main
from sandbox.rar import pack_file
from tests.conftest import R2_BUCKET
from tests.downloader.conftest import Task, open_uploads


def make_movie(path: Path) -> Path:
    """A 2-second H.264/AAC Matroska movie at ``path``."""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i"),
            "testsrc=size=320x240:rate=24:duration=2",
            *("-f", "lavfi", "-i", "sine=duration=2"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-c:a", "aac", str(path)),
        ],
        check=True,
    )
    return path


def rar_set(movie: Path, folder: Path, volumes: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = pack_file(movie, folder, volume_size=movie.stat().st_size // volumes + 1)
    assert len(paths) >= volumes
    return paths


def add_par2(folder: Path, files: list[Path], redundancy: int = 10) -> list[Path]:
    """A par2 set over ``files`` as they are named now; returns its files."""
    base = "release.par2"
    names = [path.name for path in files]
    command = [par2_binary(), "c", "-q", "-q", f"-r{redundancy}", "-n2", base, *names]
    subprocess.run(command, cwd=folder, check=True)
    return sorted(folder.glob("release*.par2"))


def obfuscated(paths: list[Path]) -> dict[str, bytes]:
    """The files under random names without extensions (subjects and yEnc headers alike)."""
    return {uuid.uuid4().hex: path.read_bytes() for path in paths}


def assert_ready_and_playable(task: Task, s3: S3Client, tmp_path: Path) -> Job:
    message = task.claimed_job()
    assert main() == 0, task.job(message).error_message
    job = task.job(message)
    assert job.status is JobStatus.READY
    assert job.object_key is not None
    local = tmp_path / "streamed.mp4"
    local.write_bytes(s3.get_object(Bucket=R2_BUCKET, Key=job.object_key)["Body"].read())
    found = probe(local)
    assert (found.video_codec, [t.codec for t in found.audio]) == ("h264", ["aac"])
    assert task.leftovers() == []
    assert open_uploads(s3) == []
    return job


def failed_job(task: Task) -> tuple[str, str]:
    message = task.claimed_job()
    assert main() == 1
    job = task.job(message)
    assert job.status is JobStatus.ERROR
    assert task.leftovers() == []
    return job.error_message or "", job.error_class or ""
