"""The downloader's job reports: throttled progress, honest transitions, SIGTERM, taken-away jobs."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import Job, JobStatus, from_iso, to_iso
from chalicelib.errors import StorageError
from downloader.reporter import JobReporter, JobTakenAway
from downloader.task import stop_on_sigterm
from tests.conftest import FakeClock, LogCapture
from tests.seeding import seed_job

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


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


class FlakyStore(JobStore):
    """The real store behind a job store that fails the next ``outage`` writes, optionally after
    applying them (a reply lost on the way back)."""

    def __init__(self, inner: JobStore) -> None:
        self.__dict__.update(inner.__dict__)
        self.outage = 0
        self.apply_then_fail = False

    def transition(self, *args: Any, **kwargs: Any) -> Job | None:
        if self.outage:
            self.outage -= 1
            if self.apply_then_fail:
                super().transition(*args, **kwargs)
            raise StorageError("D1 unavailable: HTTP 503")
        return super().transition(*args, **kwargs)


def flaky_reporter(
    store: JobStore, ticks: FakeClock
) -> tuple[JobReporter, FlakyStore, list[float]]:
    flaky = FlakyStore(store)
    waits: list[float] = []
    reporter = JobReporter(
        flaky,
        downloading_job(store),
        clock=lambda: T0 + timedelta(seconds=ticks()),
        monotonic=ticks,
        sleep=waits.append,
    )
    return reporter, flaky, waits


def test_a_store_outage_skips_progress_writes_instead_of_failing_the_download(
    store: JobStore,
) -> None:
    ticks = FakeClock()
    reporter, flaky, _ = flaky_reporter(store, ticks)
    flaky.outage = 2

    assert reporter.progress(100, 600, 10.0, 50) is False  # outage: skipped, no exception
    ticks.advance(10)
    assert reporter.progress(200, 600, 10.0, 40) is False
    ticks.advance(10)
    assert reporter.progress(300, 600, 10.0, 30) is True  # back: written

    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert job.downloaded_bytes == 300


def test_a_state_change_is_retried_through_a_short_outage(store: JobStore) -> None:
    reporter, flaky, waits = flaky_reporter(store, FakeClock())
    flaky.outage = 3

    reporter.preparing()

    assert waits == [1.0, 2.0, 4.0]
    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert job.status is JobStatus.PREPARING


def test_a_state_change_whose_reply_was_lost_is_not_taken_for_a_stolen_job(
    store: JobStore,
) -> None:
    reporter, flaky, _ = flaky_reporter(store, FakeClock())
    flaky.outage, flaky.apply_then_fail = 1, True

    reporter.preparing()  # applied, reply lost, retried: finds the job already preparing

    assert reporter.job.status is JobStatus.PREPARING


def test_a_failure_that_cannot_be_recorded_is_logged_not_raised(
    store: JobStore, logs: LogCapture
) -> None:
    reporter, flaky, waits = flaky_reporter(store, FakeClock())
    flaky.outage = 100

    reporter.failed("download failed: connection reset", "usenet")

    assert len(waits) == 10  # every retry used, then given up
    (line,) = logs.lines("could not record the failure")
    assert line["job_id"] == reporter.job.job_id
    job = store.get_job(reporter.job.job_id)
    assert job is not None
    assert job.status is JobStatus.DOWNLOADING  # left for the stale rule


def test_a_failure_is_logged_from_the_state_the_job_was_in(
    store: JobStore, logs: LogCapture
) -> None:
    reporter = reporter_for(store, FakeClock())

    reporter.failed("download failed: connection reset", "usenet")

    (line,) = [entry for entry in logs.lines("job state changed") if entry["to"] == "error"]
    assert (line["from"], line["reason"]) == ("downloading", "download failed: connection reset")
