"""The downloader's job reports: throttled progress, honest transitions, SIGTERM, taken-away jobs."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.jobs import Job, JobStatus, from_iso, to_iso
from downloader.lifecycle import JobReporter, JobTakenAway, stop_on_sigterm
from tests.conftest import FakeClock
from tests.seeding import seed_job

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(SqliteExecutor(tmp_path / "jobs.sqlite3"), cache_seconds=0)


def downloading_job(store: JobStore) -> Job:
    return seed_job(store, JobStatus.DOWNLOADING, at=T0)


def reporter_for(store: JobStore, ticks: FakeClock) -> JobReporter:
    return JobReporter(
        store,
        downloading_job(store),
        clock=lambda: T0 + timedelta(seconds=ticks()),
        monotonic=ticks,
    )


def test_progress_is_written_at_most_every_ten_seconds(store: JobStore) -> None:
    ticks = FakeClock()
    reporter = reporter_for(store, ticks)

    written = []
    for second in range(60):  # the engine reports every second
        written.append(reporter.progress(second * 10, 600, 10.0, 60 - second))
        ticks.advance(1)

    assert sum(written) == 6
    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert (job.downloaded_bytes, job.total_bytes, job.eta_seconds) == (500, 600, 10)
    assert job.progress == 83.3


def test_the_whole_lifecycle_reaches_ready_with_an_expiry(store: JobStore) -> None:
    ticks = FakeClock()
    reporter = reporter_for(store, ticks)

    reporter.progress(600, 600, 0.0, 0, force=True)
    reporter.preparing()
    reporter.ready(
        object_key="movies/x/movie.mp4",
        content_type="video/mp4",
        size_bytes=600,
        retention_hours=168,
    )

    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert (job.object_key, job.content_type, job.size_bytes) == (
        "movies/x/movie.mp4",
        "video/mp4",
        600,
    )
    assert job.ready_at is not None
    assert job.expires_at is not None
    assert from_iso(job.expires_at) - from_iso(job.ready_at) == timedelta(hours=168)


def test_heartbeat_keeps_a_silent_phase_alive(store: JobStore) -> None:
    ticks = FakeClock()
    reporter = reporter_for(store, ticks)
    reporter.preparing()
    before = store.get_job(reporter.job.job_id)

    ticks.advance(30)
    assert not reporter.beat()
    ticks.advance(31)
    assert reporter.beat()

    after = store.get_job(reporter.job.job_id)
    assert before is not None
    assert after is not None
    assert after.updated_at > before.updated_at
    assert after.status is JobStatus.PREPARING


def test_a_job_failed_by_cleanup_stops_the_worker(store: JobStore) -> None:
    ticks = FakeClock()
    reporter = reporter_for(store, ticks)
    store.transition(
        reporter.job.job_id,
        from_statuses=[JobStatus.DOWNLOADING],
        to=JobStatus.ERROR,
        now=to_iso(T0),
        error_message="worker stopped responding",
    )

    with pytest.raises(JobTakenAway):
        reporter.progress(1, 2, 1.0, 1, force=True)
    reporter.failed("anything")  # must not overwrite cleanup's verdict

    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert job.error_message == "worker stopped responding"


def test_sigterm_marks_the_job_stopped_and_exits_143(store: JobStore) -> None:
    reporter = reporter_for(store, FakeClock())
    codes: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop_on_sigterm(reporter, exit=codes.append)
        os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert codes == [143]
    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert job.status is JobStatus.ERROR
    assert job.error_message == "stopped: the download task was shut down"
