"""Hourly cleanup against moto's S3 with a controlled clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.adapters.objects import Deleted, ObjectStore
from chalicelib.domain.jobs import Job, JobStatus, to_iso
from chalicelib.errors import StorageError
from chalicelib.services.cleanup import CleanupService
from tests.conftest import R2_BUCKET, ROOT, TEST_STAGE, LogCapture
from tests.seeding import seed_job

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def seed(status: JobStatus, *, movie_id: int, at: datetime, **fields: Any) -> Job:
    return seed_job(bootstrap.container().store, status, movie_id=movie_id, at=at, **fields)


def seed_ready(s3: S3Client, *, movie_id: int, ready: datetime, watched: datetime | None) -> Job:
    """A ready movie with two objects, its expiry set as the downloader and stream endpoint do."""
    touched = watched or ready
    job = seed(
        JobStatus.READY,
        movie_id=movie_id,
        at=touched,
        ready_at=to_iso(ready),
        last_watched_at=to_iso(watched) if watched else None,
        expires_at=to_iso(touched + 168 * HOUR),
    )
    for name in ("movie.mp4", "subtitles/0.en.vtt"):  # the movie and its WebVTT beside it
        s3.put_object(Bucket=R2_BUCKET, Key=f"movies/{job.job_id}/{name}", Body=b"x" * 1000)
    return job


def objects_of(s3: S3Client, job: Job) -> list[str]:
    reply = s3.list_objects_v2(Bucket=R2_BUCKET, Prefix=f"movies/{job.job_id}/")
    return [item["Key"] for item in reply.get("Contents", [])]


def cleanup_at(now: datetime, objects: ObjectStore | None = None) -> CleanupService:
    services = bootstrap.container()
    return CleanupService(
        services.store,
        objects or services.objects,
        retention_hours=168,
        stale_minutes=30,
        purge_after_days=30,
        clock=lambda: now,
    )


@pytest.fixture
def store_env(env: pytest.MonkeyPatch) -> None:
    """The container built from the test environment (temporary SQLite, R2 at moto)."""


def test_unwatched_past_retention_is_deleted(store_env: None, s3: S3Client) -> None:
    never_watched = seed_ready(s3, movie_id=1, ready=NOW - 169 * HOUR, watched=None)
    watched_long_ago = seed_ready(s3, movie_id=2, ready=NOW - 400 * HOUR, watched=NOW - 170 * HOUR)

    report = cleanup_at(NOW).run()

    assert sorted(report.deleted) == sorted([never_watched.job_id, watched_long_ago.job_id])
    assert report.bytes_freed == 4000
    for job in (never_watched, watched_long_ago):
        assert objects_of(s3, job) == []
        stored = bootstrap.container().store.get_job(job.job_id)
        assert stored is not None
        assert stored.status is JobStatus.DELETED


def test_recently_watched_or_recently_ready_is_kept(store_env: None, s3: S3Client) -> None:
    watched = seed_ready(s3, movie_id=1, ready=NOW - 400 * HOUR, watched=NOW - 2 * HOUR)
    fresh = seed_ready(s3, movie_id=2, ready=NOW - 167 * HOUR, watched=None)

    report = cleanup_at(NOW).run()

    assert report.deleted == []
    assert len(objects_of(s3, watched)) == 2
    assert len(objects_of(s3, fresh)) == 2


def test_a_ready_job_without_expiry_counts_from_ready_at(store_env: None, s3: S3Client) -> None:
    job = seed(JobStatus.READY, movie_id=1, at=NOW - 200 * HOUR, ready_at=to_iso(NOW - 200 * HOUR))

    assert cleanup_at(NOW).run().deleted == [job.job_id]


def test_silent_workers_fail_their_jobs(store_env: None, s3: S3Client) -> None:
    stale = seed(JobStatus.DOWNLOADING, movie_id=1, at=NOW - 31 * timedelta(minutes=1))
    stuck_in_queue = seed(JobStatus.QUEUED, movie_id=2, at=NOW - 2 * HOUR)
    alive = seed(JobStatus.PREPARING, movie_id=3, at=NOW - 5 * timedelta(minutes=1))

    report = cleanup_at(NOW).run()

    assert sorted(report.stale) == sorted([stale.job_id, stuck_in_queue.job_id])
    store = bootstrap.container().store
    for job in (stale, stuck_in_queue):
        failed = store.get_job(job.job_id)
        assert failed is not None
        assert failed.status is JobStatus.ERROR
        assert failed.error_message == "worker stopped responding"
    still = store.get_job(alive.job_id)
    assert still is not None
    assert still.status is JobStatus.PREPARING


def test_old_finished_rows_are_purged(store_env: None, s3: S3Client) -> None:
    old = seed(JobStatus.ERROR, movie_id=1, at=NOW - 31 * 24 * HOUR)
    recent = seed(JobStatus.ERROR, movie_id=2, at=NOW - 29 * 24 * HOUR)

    report = cleanup_at(NOW).run()

    assert report.purged == 1
    store = bootstrap.container().store
    assert store.get_job(old.job_id) is None
    assert store.get_job(recent.job_id) is not None


def test_one_failing_delete_does_not_stop_the_others(
    store_env: None, s3: S3Client, logs: LogCapture
) -> None:
    jobs = [seed_ready(s3, movie_id=i, ready=NOW - 200 * HOUR, watched=None) for i in (1, 2, 3)]
    broken = jobs[1]
    real = bootstrap.container().objects

    class FlakyStore(ObjectStore):
        def delete_prefix(self, prefix: str) -> Deleted:
            if broken.job_id in prefix:
                raise StorageError("object storage could not delete the object (InternalError)")
            return real.delete_prefix(prefix)

    flaky = FlakyStore(
        bucket=real.bucket, endpoint_url="unused", access_key_id="x", secret_access_key="y"
    )

    report = cleanup_at(NOW, flaky).run()

    assert sorted(report.deleted) == sorted([jobs[0].job_id, jobs[2].job_id])
    assert report.failed == [broken.job_id]
    kept = bootstrap.container().store.get_job(broken.job_id)
    assert kept is not None
    assert kept.status is JobStatus.DELETED  # claimed: no new stream URL for files half-deleted
    assert len(objects_of(s3, broken)) == 2
    errors = logs.lines("cleanup could not delete a movie")
    assert errors[0]["job_id"] == broken.job_id

    assert cleanup_at(NOW).run().deleted == [broken.job_id]  # the next run finishes it
    assert objects_of(s3, broken) == []


def test_cleanup_is_idempotent(store_env: None, s3: S3Client) -> None:
    seed_ready(s3, movie_id=1, ready=NOW - 200 * HOUR, watched=None)
    cleanup_at(NOW).run()

    second = cleanup_at(NOW).run()

    assert (second.deleted, second.failed, second.stale) == ([], [], [])


def test_cleanup_costs_two_job_store_round_trips(store_env: None, s3: S3Client) -> None:
    for i in range(5):
        seed_ready(s3, movie_id=i + 1, ready=NOW - 200 * HOUR, watched=None)
    executor = bootstrap.container().store.executor
    before = executor.round_trips

    assert len(cleanup_at(NOW).run().deleted) == 5
    assert executor.round_trips - before == 2


def test_the_schedule_runs_cleanup(store_env: None, s3: S3Client) -> None:
    from app import app

    job = seed_ready(s3, movie_id=1, ready=datetime.now(UTC) - 200 * HOUR, watched=None)

    with Client(app, stage_name=TEST_STAGE, project_dir=str(ROOT)) as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        result = client.lambda_.invoke("cleanup", event).payload

    assert result["deleted"] == [job.job_id]
    assert objects_of(s3, job) == []


def test_cleanup_counts_stale_jobs_as_failures_and_reports_hourly_gauges(
    store_env: None, s3: S3Client, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(JobStatus.DOWNLOADING, movie_id=1, at=NOW - 2 * HOUR)
    seed_ready(s3, movie_id=2, ready=NOW - HOUR, watched=None)
    seed(JobStatus.QUEUED, movie_id=3, at=NOW)
    services = bootstrap.container()
    capsys.readouterr()

    CleanupService(
        services.store,
        services.objects,
        retention_hours=168,
        stale_minutes=30,
        purge_after_days=30,
        stats=services.stats,
        clock=lambda: NOW,
    ).run()

    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    [failed] = [line for line in lines if "JobsFailed" in line]
    assert failed["error_class"] == "stale"
    [gauges] = [line for line in lines if "ActiveJobs" in line]
    assert gauges["ActiveJobs"] == [1.0]  # the queued one; the stale one is now an error
    assert gauges["MoviesReady"] == [1.0]


def test_a_watch_just_before_the_delete_keeps_its_movie(store_env: None, s3: S3Client) -> None:
    """The race: cleanup has decided a movie expired, a viewer presses play (``expires_at`` moves
    a week on), then cleanup deletes. The delete is conditional on the job still being expired
    at that moment, so the viewer's movie stays and the URL they were given works."""
    job = seed_ready(s3, movie_id=1, ready=NOW - 200 * HOUR, watched=None)
    store = bootstrap.container().store
    services = bootstrap.container()

    class WatchedMeanwhile(ObjectStore):
        """Objects as cleanup sees them, with the viewer's stream request landing in between."""

        def delete_prefix(self, prefix: str) -> Deleted:
            return services.objects.delete_prefix(prefix)

    current = store.get_job(job.job_id)
    assert current is not None
    watched = store.record_watch(
        current, now=to_iso(NOW), expires_at=to_iso(NOW + 168 * HOUR), metadata=None
    )
    assert watched is not None  # the viewer got their URL

    report = cleanup_at(NOW).run()

    assert report.deleted == []
    assert len(objects_of(s3, job)) == 2
    kept = store.get_job(job.job_id)
    assert kept is not None
    assert kept.status is JobStatus.READY


def test_a_stream_request_after_the_claim_finds_the_movie_gone(
    store_env: None, s3: S3Client
) -> None:
    """The other order: once cleanup has claimed the job, a stream request cannot record a watch
    (and so gets no URL to files that are about to vanish)."""
    job = seed_ready(s3, movie_id=1, ready=NOW - 200 * HOUR, watched=None)
    store = bootstrap.container().store
    before = store.get_job(job.job_id)
    assert before is not None

    cleanup_at(NOW).run()

    late = store.record_watch(
        before, now=to_iso(NOW), expires_at=to_iso(NOW + 168 * HOUR), metadata=None
    )
    assert late is None
    assert objects_of(s3, job) == []


def test_a_stale_job_loses_what_its_dead_task_left_in_the_bucket(
    store_env: None, s3: S3Client
) -> None:
    """SIGKILL leaves no chance to abort: cleanup aborts the open upload and removes an object
    the task completed but never reported and the HLS it was publishing (the job no longer says
    it is playable), and leaves other jobs' uploads alone."""
    dead = seed(
        JobStatus.PREPARING, movie_id=1, at=NOW - 2 * HOUR, playable_at=to_iso(NOW - 3 * HOUR)
    )
    alive = seed(JobStatus.PREPARING, movie_id=2, at=NOW - 5 * timedelta(minutes=1))
    for job in (dead, alive):
        s3.create_multipart_upload(Bucket=R2_BUCKET, Key=f"movies/{job.job_id}/movie.mp4")
    s3.put_object(Bucket=R2_BUCKET, Key=f"movies/{dead.job_id}/movie.mkv", Body=b"x")
    s3.put_object(Bucket=R2_BUCKET, Key=f"movies/{dead.job_id}/hls/seg-0.m4s", Body=b"x")

    assert cleanup_at(NOW).run().stale == [dead.job_id]
    failed = bootstrap.container().store.get_job(dead.job_id)
    assert failed is not None
    assert (failed.status, failed.error_class, failed.playable_at) == (
        JobStatus.ERROR,
        "stale",
        None,
    )

    uploads = s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", [])
    assert [upload["Key"] for upload in uploads] == [f"movies/{alive.job_id}/movie.mp4"]
    assert objects_of(s3, dead) == []
