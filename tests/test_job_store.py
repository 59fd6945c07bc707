"""One suite, three backends: the embedded SQLite file, D1 over HTTP against our stand-in, and D1 over
HTTP through the gateway Worker on miniflare's real workerd and D1 (``tests/gateway.py``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.d1 import D1Executor
from chalicelib.adapters.store.records import MovieMetadata
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.jobs import ACTIVE_STATUSES, Job, JobStatus, new_job_id, to_iso
from tests.conftest import FakeClock
from tests.fakes import d1
from tests.gateway import gateway_executor

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "d1", "gateway"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(
    backend: str, tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> Iterator[JobStore]:
    if backend == "sqlite":
        yield JobStore(SqliteExecutor(tmp_path / "jobs.sqlite3"), clock=clock)
        return
    if backend == "gateway":
        gateway = request.getfixturevalue("gateway")
        yield JobStore(gateway_executor(gateway, sleep=lambda seconds: None), clock=clock)
        return
    with responses.RequestsMock() as mock:
        fake = d1.FakeD1(tmp_path / "d1.sqlite3")
        fake.install(mock)
        executor = D1Executor(
            account_id=d1.ACCOUNT,
            database_id=d1.DATABASE,
            api_token=d1.TOKEN,
            base_url=d1.BASE,
            sleep=lambda seconds: None,
        )
        yield JobStore(executor, clock=clock)


def make_job(movie_id: int = 550, at: datetime = T0, **fields: object) -> Job:
    values: dict[str, object] = {
        "job_id": new_job_id(at),
        "movie_id": movie_id,
        "status": JobStatus.QUEUED,
        "created_at": to_iso(at),
        "updated_at": to_iso(at),
        "release_id": "abc123",
        "release_title": "Fight.Club.1999.1080p.BluRay.x264-GROUP",
        **fields,
    }
    return Job(**values)  # type: ignore[arg-type]


def test_created_job_reads_back_identically(store: JobStore) -> None:
    job = make_job()

    stored, created = store.create_job(job)

    assert created
    assert stored == job
    assert store.get_job(job.job_id) == job
    assert store.latest_job(550) == job


def test_second_active_job_for_a_movie_returns_the_first(store: JobStore) -> None:
    first, _ = store.create_job(make_job())

    existing, created = store.create_job(make_job(at=T0 + timedelta(seconds=1)))

    assert not created
    assert existing == first


def test_a_finished_job_does_not_block_a_new_one(store: JobStore) -> None:
    first, _ = store.create_job(make_job())
    store.transition(
        first.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.ERROR,
        now=to_iso(T0),
        error_message="boom",
    )

    second, created = store.create_job(make_job(at=T0 + timedelta(minutes=1)))

    assert created
    assert second.job_id != first.job_id
    assert store.latest_job(550) == second


def test_retried_create_recognises_its_own_job(store: JobStore) -> None:
    """A create whose first attempt inserted (but whose reply was lost) must still count as created."""
    job = make_job()
    store.create_job(job)

    again, created = store.create_job(job)

    assert created
    assert again == job


def test_fifty_concurrent_creates_make_exactly_one_job(store: JobStore) -> None:
    barrier = threading.Barrier(50)

    def create(i: int) -> tuple[str, bool]:
        barrier.wait()
        job, created = store.create_job(make_job(at=T0 + timedelta(milliseconds=i)))
        return job.job_id, created

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(create, range(50)))

    assert sum(created for _, created in outcomes) == 1
    assert len({job_id for job_id, _ in outcomes}) == 1
    jobs, total = store.list_jobs(ACTIVE_STATUSES, 100, 0)
    assert total == 1
    assert jobs[0].job_id == outcomes[0][0]


def test_transition_is_compare_and_set(store: JobStore) -> None:
    job, _ = store.create_job(make_job())

    claimed = store.transition(
        job.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.DOWNLOADING,
        now=to_iso(T0),
        progress=0.0,
    )
    again = store.transition(
        job.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.DOWNLOADING,
        now=to_iso(T0),
        progress=0.0,
    )

    assert claimed is not None
    assert claimed.status is JobStatus.DOWNLOADING
    assert claimed.progress == 0.0
    assert again is None  # a redelivered message cannot start a second download


def test_transition_refuses_unknown_columns(store: JobStore) -> None:
    job, _ = store.create_job(make_job())
    with pytest.raises(ValueError, match="not updatable"):
        store.transition(
            job.job_id, from_statuses=[JobStatus.QUEUED], to=JobStatus.ERROR, now="x", movie_id=1
        )


def test_listing_filters_orders_and_counts(store: JobStore) -> None:
    ids = []
    for i, status in enumerate([JobStatus.QUEUED, JobStatus.READY, JobStatus.ERROR]):
        job, _ = store.create_job(make_job(movie_id=100 + i, at=T0 + timedelta(minutes=i)))
        if status is not JobStatus.QUEUED:
            store.transition(
                job.job_id,
                from_statuses=[JobStatus.QUEUED],
                to=status,
                now=to_iso(T0 + timedelta(minutes=10 + i)),
            )
        ids.append(job.job_id)
    deleted, _ = store.create_job(make_job(movie_id=200))
    store.transition(
        deleted.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.DELETED,
        now=to_iso(T0 + timedelta(hours=1)),
    )

    active, total = store.list_jobs(ACTIVE_STATUSES, 10, 0)
    assert [job.job_id for job in active] == [ids[1], ids[0]]  # most recently updated first
    assert total == 2
    errors, error_total = store.list_jobs([JobStatus.ERROR], 10, 0)
    assert [job.job_id for job in errors] == [ids[2]]
    assert error_total == 1
    page, total = store.list_jobs(ACTIVE_STATUSES, 1, 1)
    assert [job.job_id for job in page] == [ids[0]]
    assert total == 2


def test_watch_pushes_expiry_and_appends_history(store: JobStore) -> None:
    job, _ = store.create_job(make_job())
    ready = store.transition(
        job.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.READY,
        now=to_iso(T0),
        ready_at=to_iso(T0),
        expires_at=to_iso(T0 + timedelta(days=7)),
    )
    assert ready is not None
    metadata = MovieMetadata(550, "Fight Club", "/poster.jpg")

    watched = store.record_watch(
        ready,
        now=to_iso(T0 + timedelta(days=1)),
        expires_at=to_iso(T0 + timedelta(days=8)),
        metadata=metadata,
        remember_metadata=True,
    )

    assert watched is not None
    assert watched.last_watched_at == to_iso(T0 + timedelta(days=1))
    assert watched.expires_at == to_iso(T0 + timedelta(days=8))
    entries, total = store.history(10, 0)
    assert total == 1
    assert (entries[0].title, entries[0].poster_path, entries[0].job_id) == (
        "Fight Club",
        "/poster.jpg",
        job.job_id,
    )
    found, stored, _ = store.job_with_metadata(movie_id=550)
    assert found == watched
    assert stored == MovieMetadata(550, "Fight Club", "/poster.jpg")


def test_a_resent_watch_appends_no_second_history_row(store: JobStore) -> None:
    """What the D1 executor does when a reply is lost after the commit: the same batch again."""
    job, _ = store.create_job(make_job())
    ready = store.transition(
        job.job_id, from_statuses=[JobStatus.QUEUED], to=JobStatus.READY, now=to_iso(T0)
    )
    assert ready is not None
    now, expires = to_iso(T0 + timedelta(hours=1)), to_iso(T0 + timedelta(days=7))

    first = store.record_watch(ready, now=now, expires_at=expires, metadata=None)
    again = store.record_watch(ready, now=now, expires_at=expires, metadata=None)

    assert first is not None
    assert again is not None
    assert replace(again, write_token=None) == replace(first, write_token=None)
    assert store.history(10, 0)[1] == 1


def test_watching_a_job_that_stopped_being_ready_records_nothing(store: JobStore) -> None:
    job, _ = store.create_job(make_job())

    assert store.record_watch(job, now=to_iso(T0), expires_at=to_iso(T0), metadata=None) is None
    assert store.history(10, 0) == ([], 0)


def test_sweep_finds_stale_expired_and_purges_old(store: JobStore) -> None:
    now = T0 + timedelta(days=40)
    stale, _ = store.create_job(make_job(movie_id=1, at=now - timedelta(hours=2)))
    fresh, _ = store.create_job(make_job(movie_id=2, at=now - timedelta(minutes=5)))
    expired, _ = store.create_job(make_job(movie_id=3))
    store.transition(
        expired.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.READY,
        now=to_iso(now - timedelta(days=8)),
        expires_at=to_iso(now - timedelta(minutes=1)),
    )
    old_error, _ = store.create_job(make_job(movie_id=4))
    store.transition(
        old_error.job_id, from_statuses=[JobStatus.QUEUED], to=JobStatus.ERROR, now=to_iso(T0)
    )

    sweep = store.sweep(
        now=to_iso(now),
        stale_before=to_iso(now - timedelta(minutes=30)),
        purge_before=to_iso(now - timedelta(days=30)),
        ready_before=to_iso(now - timedelta(days=7)),
    )

    assert [job.job_id for job in sweep.stale] == [stale.job_id]
    assert sweep.stale[0].error_message == "worker stopped responding"
    assert [job.job_id for job in sweep.to_remove] == [expired.job_id]
    assert sweep.to_remove[0].status is JobStatus.DELETED  # claimed before its files go
    assert sweep.purged == 1
    assert store.get_job(old_error.job_id) is None
    assert store.get_job(fresh.job_id) == fresh
    assert store.objects_removed([expired.job_id], now=to_iso(now)) == [expired.job_id]
    assert store.objects_removed([expired.job_id], now=to_iso(now)) == [expired.job_id]  # resent
    again = store.sweep(
        now=to_iso(now),
        stale_before=to_iso(now - timedelta(minutes=30)),
        purge_before=to_iso(now - timedelta(days=30)),
        ready_before=to_iso(now - timedelta(days=7)),
    )
    assert again.to_remove == []  # nothing left to retry


def test_job_reads_are_cached_for_a_few_seconds(store: JobStore, clock: FakeClock) -> None:
    job, _ = store.create_job(make_job())
    store.get_job(job.job_id)
    before = store.executor.round_trips

    store.get_job(job.job_id)
    store.latest_job(550)
    store.latest_job(550)
    store.get_job("job_1_missing")
    store.get_job("job_1_missing")
    assert store.executor.round_trips == before + 2  # latest + the miss, each once

    clock.advance(3)
    store.get_job(job.job_id)
    assert store.executor.round_trips == before + 3


def test_movie_pages_share_one_read_per_cache_window(store: JobStore, clock: FakeClock) -> None:
    """Browsing twenty movie pages, most never fetched, costs one D1 request, not twenty."""
    job, _ = store.create_job(make_job())
    before = store.executor.round_trips

    assert [store.latest_job(movie) for movie in range(600, 620)] == [None] * 20
    assert store.latest_job(550) == job
    assert store.executor.round_trips == before + 1

    clock.advance(3)
    assert store.latest_job(601) is None
    assert store.executor.round_trips == before + 2


def test_a_new_job_shows_on_its_movie_page_at_once(store: JobStore) -> None:
    assert store.latest_job(550) is None

    first, _ = store.create_job(make_job())
    assert store.latest_job(550) == first
    store.transition(first.job_id, from_statuses=[JobStatus.QUEUED], to=JobStatus.ERROR, now="z")
    second, _ = store.create_job(make_job(at=T0 + timedelta(minutes=1)))

    assert store.latest_job(550) == second


def test_writes_invalidate_cached_reads(store: JobStore) -> None:
    job, _ = store.create_job(make_job())
    assert store.get_job(job.job_id) == job

    store.transition(
        job.job_id, from_statuses=[JobStatus.QUEUED], to=JobStatus.DOWNLOADING, now=to_iso(T0)
    )

    current = store.get_job(job.job_id)
    assert current is not None
    assert current.status is JobStatus.DOWNLOADING


def test_each_operation_is_one_round_trip(store: JobStore) -> None:
    calls = store.executor.round_trips
    job, _ = store.create_job(make_job(), MovieMetadata(550, "Fight Club", None))
    store.list_jobs(ACTIVE_STATUSES, 10, 0)
    store.job_with_metadata(job_id=job.job_id)
    store.history(10, 0)
    store.sweep(now="z", stale_before="a", purge_before="a", ready_before="a")
    store.objects_removed(["a", "b", "c"], now="z")
    assert store.executor.round_trips == calls + 6


def test_a_local_database_from_before_a_new_column_is_upgraded(tmp_path: Path) -> None:
    """``make run`` keeps its SQLite file between versions; CREATE TABLE IF NOT EXISTS alone would
    leave an old jobs table without the columns added since."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, movie_id INTEGER NOT NULL, "
            "status TEXT NOT NULL, progress REAL, release_title TEXT, release_id TEXT, "
            "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, ready_at TEXT, expires_at TEXT, "
            "last_watched_at TEXT, error_message TEXT, error_class TEXT, downloaded_bytes INTEGER, "
            "total_bytes INTEGER, speed_bps REAL, eta_seconds INTEGER, object_key TEXT, "
            "content_type TEXT, size_bytes INTEGER)"
        )

    store = JobStore(SqliteExecutor(path), cache_seconds=0)
    job = make_job()
    store.create_job(job)
    moved = store.transition(
        job.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=JobStatus.DOWNLOADING,
        now=job.created_at,
        skipped_releases="[]",
    )

    assert moved is not None
    assert moved.skipped_releases == "[]"
