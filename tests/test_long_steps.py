"""Long steps keep their job alive, and a job taken away stops its long step at once.

par2, unar/bsdtar and ffmpeg are blocking calls that can outlast the stale limit on a real film.
Here a real ffmpeg is made artificially slow (a wrapper earlier on PATH), the heartbeat and the stale
limit are shrunk to fractions of a second, and cleanup's sweep runs beside the pipeline all along.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import JobStatus, to_iso, utcnow
from downloader.children import children
from downloader.pipeline import TaskContext, run
from downloader.reporter import JobReporter, JobTakenAway
from downloader.uploader import MIN_PART, Uploader
from downloader.usenet.nzb import parse_nzb
from downloader.usenet.servers import parse_server
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from tests.conftest import R2_BUCKET, objects_on
from tests.downloader.releases import make_movie
from tests.seeding import seed_job

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")

STALE = timedelta(seconds=0.6)


def slow_ffmpeg(folder: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """``ffmpeg`` on PATH becomes ``script`` (ffprobe stays the real one)."""
    folder.mkdir()
    wrapper = folder / "ffmpeg"
    wrapper.write_text(f"#!/bin/sh\n{script}\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def job_setup(
    store: JobStore, s3: S3Client, tmp_path: Path
) -> Iterator[tuple[JobMessage, JobReporter, TaskContext]]:
    movie = make_movie(tmp_path / "Movie.2024.1080p.mkv")
    release = make_release({movie.name: movie.read_bytes()}, segment_size=65_536)
    server = NntpTestServer(release.articles).start()
    claimed = seed_job(store, JobStatus.DOWNLOADING)
    message = JobMessage(
        job_id=claimed.job_id, movie_id=550, release_id="r1", release_title="Movie.2024.1080p-GRP"
    )
    context = TaskContext(
        uploader=Uploader(objects_on(s3), part_size=MIN_PART),
        servers=[parse_server(server.url())],
        get_nzb=lambda release_id: parse_nzb(release.nzb),
        work_root=tmp_path / "work",
        retention_hours=168,
        max_release_bytes=10**9,
        streaming=None,  # the sequential path: remux, then upload
    )
    reporter = JobReporter(store, claimed, interval=0.05, heartbeat=STALE.total_seconds() / 3)
    try:
        yield message, reporter, context
    finally:
        server.stop()


class Sweeper:
    """Cleanup's stale rule, run every 0.1 s beside the pipeline with a 0.6 s limit."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.stale: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sweeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            now = utcnow()
            swept = self.store.sweep(
                now=to_iso(now),
                stale_before=to_iso(now - STALE),
                purge_before=to_iso(now - timedelta(days=30)),
                ready_before=to_iso(now - timedelta(days=7)),
            )
            self.stale += [job.job_id for job in swept.stale]


def test_an_ffmpeg_step_longer_than_the_stale_limit_keeps_its_job_alive(
    job_setup: tuple[JobMessage, JobReporter, TaskContext],
    store: JobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message, reporter, context = job_setup
    real = shutil.which("ffmpeg")
    slow_ffmpeg(tmp_path / "bin", monkeypatch, f'sleep 2\nexec "{real}" "$@"')

    with Sweeper(store) as sweeper:
        run(message, context, reporter)

    assert sweeper.stale == []
    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY


def test_a_job_taken_away_mid_step_stops_the_step_at_once(
    job_setup: tuple[JobMessage, JobReporter, TaskContext],
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cleanup fails the job while ffmpeg runs (here: would run for 30 s). The next heartbeat
    finds it gone, ends ffmpeg, and the task stops with JobTakenAway, not a media error; its work
    folder is removed and nothing is uploaded."""
    message, reporter, context = job_setup
    slow_ffmpeg(tmp_path / "bin", monkeypatch, "exec sleep 30")

    def fail_it_once_preparing() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = store.get_job(message.job_id)
            if job is not None and job.status is JobStatus.PREPARING:
                time.sleep(0.2)
                store.transition(
                    message.job_id,
                    from_statuses=[JobStatus.PREPARING],
                    to=JobStatus.ERROR,
                    now=to_iso(utcnow()),
                    error_message="worker stopped responding",
                    error_class="stale",
                )
                return
            time.sleep(0.05)

    cleanup = threading.Thread(target=fail_it_once_preparing, daemon=True)
    cleanup.start()
    started = time.monotonic()
    with pytest.raises(JobTakenAway):
        run(message, context, reporter)
    took = time.monotonic() - started
    cleanup.join()

    assert took < 15, f"the 30-second step was not stopped ({took:.1f} s)"
    assert children() == []  # ffmpeg (the sleep) is gone
    job = store.get_job(message.job_id)
    assert job is not None
    assert (job.status, job.error_class) == (JobStatus.ERROR, "stale")  # cleanup's verdict kept
    assert list((tmp_path / "work").iterdir()) == []
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []
