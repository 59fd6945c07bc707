"""Every job transition is safe to resend: the fault matrix against D1's stand-in behind a real socket.

D1 commits a write and the reply never arrives (a dropped connection after the SQL ran); the D1
executor sends the same statement again. Before write tokens, the repeat matched no row and the
caller concluded that someone else had moved the job: the dispatcher acknowledged the message and
started nothing, the downloader stopped at ``preparing`` as "taken away". Here each transition's
reply is lost once and twice, and the job still ends truthfully, with one task, one history row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.d1 import D1Executor
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import Job, JobStatus, new_job_id, to_iso, utcnow
from chalicelib.services.dispatch import Dispatcher
from downloader.reporter import JobReporter
from tests.fakes import d1
from tests.fault_servers import D1OverHttp
from tests.gateway import D1_BACKENDS, d1_backend

LOST = pytest.mark.parametrize("lost", [1, 2], ids=["reply lost once", "reply lost twice"])


@pytest.fixture(params=D1_BACKENDS)
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[D1OverHttp]:
    """D1 behind a socket that can lose replies: our stand-in, and the real engine (miniflare)."""
    running = D1OverHttp(d1_backend(request, tmp_path))
    yield running
    running.server.stop()


def store_on(server: D1OverHttp, attempts: int = 4) -> JobStore:
    executor = D1Executor(
        account_id=d1.ACCOUNT,
        database_id=d1.DATABASE,
        api_token=d1.TOKEN,
        base_url=server.base_url,
        timeout=5.0,
        max_attempts=attempts,
        sleep=lambda seconds: None,
    )
    return JobStore(executor, cache_seconds=0)


@pytest.fixture
def store(server: D1OverHttp) -> JobStore:
    return store_on(server)


def queued(store: JobStore) -> Job:
    now = utcnow()
    job, created = store.create_job(
        Job(
            job_id=new_job_id(now),
            movie_id=550,
            status=JobStatus.QUEUED,
            created_at=to_iso(now),
            updated_at=to_iso(now),
        )
    )
    assert created
    return job


def in_state(store: JobStore, status: JobStatus) -> Job:
    job = queued(store)
    if status is JobStatus.QUEUED:
        return job
    moved = store.transition(
        job.job_id, from_statuses=[JobStatus.QUEUED], to=status, now=to_iso(utcnow())
    )
    assert moved is not None
    return moved


class Launcher:
    def __init__(self) -> None:
        self.launched: list[str] = []

    def launch(self, message: JobMessage) -> str:
        self.launched.append(message.job_id)
        return f"task-{len(self.launched)}"


def record(job: Job, message_id: str = "sqs-1") -> list[tuple[str, str]]:
    message = JobMessage(
        job_id=job.job_id, movie_id=job.movie_id, release_id="r1", release_title="t"
    )
    return [(message_id, message.model_dump_json())]


@LOST
def test_a_claim_whose_reply_was_lost_still_starts_exactly_one_task(
    server: D1OverHttp, store: JobStore, lost: int
) -> None:
    job = queued(store)
    launcher = Launcher()
    server.lose_reply["UPDATE jobs"] = lost

    outcome = Dispatcher(store, launcher).handle_batch(record(job))

    assert (outcome.started, outcome.retry) == ([job.job_id], [])
    assert launcher.launched == [job.job_id]
    assert store.get_job(job.job_id).status is JobStatus.DOWNLOADING  # type: ignore[union-attr]


def test_a_claim_the_store_gave_up_on_is_recognised_when_sqs_redelivers_it(
    server: D1OverHttp,
) -> None:
    """The executor's attempts all lost their replies after the first committed: the record goes
    back to SQS, and the same message, delivered again, starts the task; a duplicate (another
    message for the same job) still starts nothing."""
    store = store_on(server, attempts=2)
    job = queued(store)
    launcher = Launcher()
    dispatcher = Dispatcher(store, launcher)
    server.lose_reply["UPDATE jobs"] = 2

    first = dispatcher.handle_batch(record(job, "sqs-1"))
    again = dispatcher.handle_batch(record(job, "sqs-1"))
    duplicate = dispatcher.handle_batch(record(job, "sqs-2"))

    assert first.retry == ["sqs-1"]
    assert again.started == [job.job_id]
    assert duplicate.skipped == [job.job_id]
    assert launcher.launched == [job.job_id]


@LOST
@pytest.mark.parametrize(
    ("start", "step", "end"),
    [
        (JobStatus.DOWNLOADING, "progress", JobStatus.DOWNLOADING),
        (JobStatus.DOWNLOADING, "preparing", JobStatus.PREPARING),
        (JobStatus.PREPARING, "ready", JobStatus.READY),
        (JobStatus.PREPARING, "failed", JobStatus.ERROR),
        (JobStatus.DOWNLOADING, "note", JobStatus.DOWNLOADING),
    ],
)
def test_the_downloaders_writes_survive_lost_replies(
    server: D1OverHttp, store: JobStore, lost: int, start: JobStatus, step: str, end: JobStatus
) -> None:
    job = in_state(store, start)
    reporter = JobReporter(store, job, interval=0.0, sleep=lambda seconds: None)
    server.lose_reply["UPDATE jobs"] = lost

    if step == "progress":
        assert reporter.progress(50, 100, 10.0, 5)
    elif step == "preparing":
        reporter.preparing()
    elif step == "ready":
        reporter.ready(
            object_key="movies/x/movie.mp4",
            content_type="video/mp4",
            size_bytes=9,
            retention_hours=168,
        )
    elif step == "failed":
        reporter.failed("the archive is broken", "unpack")
    else:
        reporter.note("a server could not be probed")

    stored = store.get_job(job.job_id)
    assert stored is not None
    assert stored.status is end
    assert reporter.job.status is end  # the reporter believes what the store holds
    if step == "failed":
        assert (stored.error_class, stored.error_message) == ("unpack", "the archive is broken")


@LOST
def test_a_resent_take_is_the_takers_own(server: D1OverHttp, store: JobStore, lost: int) -> None:
    job = in_state(store, JobStatus.DOWNLOADING)
    server.lose_reply["UPDATE jobs SET worker"] = lost

    taken = store.take(job.job_id, worker="task-1", now=to_iso(utcnow()))

    assert taken is not None
    assert taken.worker == "task-1"
    assert store.take(job.job_id, worker="task-2", now=to_iso(utcnow())) is None


@LOST
def test_a_resent_watch_records_one_watch(server: D1OverHttp, store: JobStore, lost: int) -> None:
    job = in_state(store, JobStatus.READY)
    now = utcnow()
    server.lose_reply["UPDATE jobs"] = lost

    watched = store.record_watch(
        job, now=to_iso(now), expires_at=to_iso(now + timedelta(days=7)), metadata=None
    )

    assert watched is not None
    assert store.history(10, 0)[1] == 1


@LOST
def test_a_resent_create_finds_the_job_it_made(
    server: D1OverHttp, store: JobStore, lost: int
) -> None:
    server.lose_reply["INSERT INTO jobs"] = lost

    job = queued(store)  # asserts created

    assert server.fake.query("SELECT COUNT(*) AS n FROM jobs") == [{"n": 1}]
    assert store.get_job(job.job_id) is not None


def test_someone_elses_write_in_between_is_still_seen_as_theirs(store: JobStore) -> None:
    """The token matches only while nobody else has written: a job cleanup failed after our
    write stays failed when our write is resent."""
    job = in_state(store, JobStatus.DOWNLOADING)
    ours = store.transition(
        job.job_id,
        from_statuses=[JobStatus.DOWNLOADING],
        to=JobStatus.PREPARING,
        now=to_iso(utcnow()),
        token="ours",
    )
    assert ours is not None
    later = utcnow() + timedelta(hours=2)
    swept = store.sweep(
        now=to_iso(later),
        stale_before=to_iso(later),
        purge_before=to_iso(later - timedelta(days=30)),
        ready_before=to_iso(later - timedelta(days=7)),
    )
    assert [stale.job_id for stale in swept.stale] == [job.job_id]

    resent = store.transition(
        job.job_id,
        from_statuses=[JobStatus.DOWNLOADING],
        to=JobStatus.PREPARING,
        now=to_iso(utcnow()),
        token="ours",
    )

    assert resent is None
    assert store.get_job(job.job_id).status is JobStatus.ERROR  # type: ignore[union-attr]
