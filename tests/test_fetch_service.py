"""Fetch: choose a release, create the job once, queue it; failures never leave an orphaned job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from mypy_boto3_sqs import SQSClient

from chalicelib import models
from chalicelib.adapters.dispatch import SqsQueue
from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.records import MovieMetadata
from chalicelib.domain.jobs import JobStatus, SkippedRelease, encode_skipped, to_iso, utcnow
from chalicelib.errors import ActiveJobConflict, JobError, NotFound, NzbgeekError
from chalicelib.services.fetch import FetchService
from downloader.reporter import JobReporter, JobTakenAway
from tests.seeding import seed_job

REGION = "eu-west-1"


def release(release_id: str, *, rejected: bool = False, score: float = 1.0) -> models.Release:
    return models.Release(
        release_id=release_id,
        title=f"Fight.Club.1999.1080p.BluRay.x264-{release_id.upper()}",
        size_bytes=8_000_000_000,
        published_at=None,
        grabs=10,
        resolution="1080p",
        source="bluray",
        modifier=None,
        remux=False,
        codec="h264",
        hdr=None,
        proper=False,
        repack=False,
        group=release_id.upper(),
        year=1999,
        score=score,
        score_reasons=[],
        rejected=rejected,
    )


RANKED = [
    release("cam", rejected=True, score=-100),
    release("best", score=90),
    release("second", score=80),
    release("third", score=70),
]


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SQSClient, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("sqs", region_name=REGION)
        url = client.create_queue(QueueName="movies-on-demand-jobs")["QueueUrl"]
        yield client, url


def service(store: JobStore, queue_url: str, releases: list[models.Release]) -> FetchService:
    return FetchService(
        store,
        SqsQueue(queue_url),
        find_releases=lambda movie_id, quality: models.ReleaseList(
            movie_id=movie_id, imdb_id="tt0137523", releases=releases
        ),
        metadata=lambda movie_id: MovieMetadata(movie_id, "Fight Club", "/poster.jpg"),
    )


def queued_messages(client: SQSClient, url: str) -> list[dict[str, Any]]:
    reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in reply.get("Messages", [])]


def test_auto_mode_queues_the_best_release_with_fallbacks(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    client, url = sqs

    job, created = service(store, url, RANKED).fetch(550, models.FetchRequest(mode="auto"))

    assert created
    assert (job.status, job.release_id) == ("queued", "best")
    [message] = queued_messages(client, url)
    assert message["job_id"] == job.job_id
    assert message["release_id"] == "best"
    assert [c["release_id"] for c in message["candidates"]] == ["second", "third"]
    assert "nzb_url" not in message
    assert "apikey" not in json.dumps(message)


def test_an_active_job_is_returned_instead_of_a_second_one(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    client, url = sqs
    fetch = service(store, url, RANKED)
    first, _ = fetch.fetch(550, models.FetchRequest(mode="auto"))

    again, created = fetch.fetch(550, models.FetchRequest(mode="auto", quality_preference="720p"))

    assert not created
    assert again.job_id == first.job_id
    with pytest.raises(ActiveJobConflict) as conflict:  # another release: said, not silently 200
        fetch.fetch(550, models.FetchRequest(mode="manual", release_id="second"))
    assert conflict.value.active_job["job_id"] == first.job_id
    assert len(queued_messages(client, url)) == 1


def test_manual_mode_takes_the_named_release_even_if_ranked_low(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs

    job, _ = service(store, url, RANKED).fetch(
        550, models.FetchRequest(mode="manual", release_id="third")
    )

    assert job.release_id == "third"


def test_manual_release_must_be_one_of_the_movies(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs

    with pytest.raises(NotFound, match="not one of this movie's releases"):
        service(store, url, RANKED).fetch(550, models.FetchRequest(mode="manual", release_id="x"))


def test_auto_mode_without_usable_releases_is_not_found(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs

    with pytest.raises(NotFound, match="no releases available"):
        service(store, url, RANKED[:1]).fetch(550, models.FetchRequest(mode="auto"))
    assert store.latest_job(550) is None


def test_a_queue_failure_fails_the_job_instead_of_orphaning_it(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    bogus = "https://sqs.eu-west-1.amazonaws.com/123456789012/no-such-queue"

    with pytest.raises(JobError, match="could not be queued"):
        service(store, bogus, RANKED).fetch(550, models.FetchRequest(mode="auto"))

    job = store.latest_job(550)
    assert job is not None
    assert job.status is JobStatus.ERROR
    assert job.error_class == "queue"
    assert "could not queue the download" in (job.error_message or "")


def test_an_indexer_outage_still_returns_an_existing_active_job(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs
    first, _ = service(store, url, RANKED).fetch(550, models.FetchRequest(mode="auto"))

    def down(movie_id: int, quality: str) -> models.ReleaseList:
        raise NzbgeekError("indexer unavailable")

    outage = FetchService(store, SqsQueue(url), find_releases=down, metadata=lambda m: None)
    job, created = outage.fetch(550, models.FetchRequest(mode="auto"))

    assert (job.job_id, created) == (first.job_id, False)
    with pytest.raises(NzbgeekError):
        outage.fetch(551, models.FetchRequest(mode="auto"))


def failed_job(store: JobStore, release_id: str, error_class: str, **fields: Any) -> None:
    """The movie's last job, failed with ``error_class`` while fetching ``release_id``."""
    job = seed_job(store, JobStatus.DOWNLOADING, movie_id=550)
    store.transition(
        job.job_id,
        from_statuses=[JobStatus.DOWNLOADING],
        to=JobStatus.ERROR,
        now=job.updated_at,
        release_id=release_id,
        error_message="password-protected archive",
        error_class=error_class,
        **fields,
    )


def test_fetching_again_after_a_release_failed_tries_the_next_one(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    client, url = sqs
    passed_over = [SkippedRelease("second", "Fight.Club…-SECOND", "its NZB is gone")]
    failed_job(store, "best", "password", skipped_releases=encode_skipped(passed_over))

    job, created = service(store, url, RANKED).fetch(550, models.FetchRequest(mode="auto"))

    assert created
    assert job.release_id == "third"  # best failed, second was passed over by that job
    [message] = queued_messages(client, url)
    assert message["candidates"] == []


def test_a_failure_that_was_not_the_releases_fault_tries_the_same_release_again(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs
    failed_job(store, "best", "stopped")

    job, _ = service(store, url, RANKED).fetch(550, models.FetchRequest(mode="auto"))

    assert job.release_id == "best"


def test_when_every_release_was_tried_auto_mode_says_so_and_manual_mode_still_works(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs
    failed_job(store, "best", "missing_articles")
    fetch = service(store, url, RANKED[:2])

    with pytest.raises(NotFound, match="no other release to try"):
        fetch.fetch(550, models.FetchRequest(mode="auto"))
    job, created = fetch.fetch(550, models.FetchRequest(mode="manual", release_id="best"))
    assert created
    assert job.release_id == "best"


def test_an_active_job_is_returned_without_asking_the_indexer(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    _, url = sqs
    first, _ = service(store, url, RANKED).fetch(550, models.FetchRequest(mode="auto"))
    asked: list[int] = []

    def counting(movie_id: int, quality: str) -> models.ReleaseList:
        asked.append(movie_id)
        return models.ReleaseList(movie_id=movie_id, imdb_id=None, releases=RANKED)

    again = FetchService(store, SqsQueue(url), find_releases=counting, metadata=lambda m: None)
    job, created = again.fetch(550, models.FetchRequest(mode="auto"))

    assert (job.job_id, created, asked) == (first.job_id, False, [])


@pytest.mark.parametrize("status", [JobStatus.DOWNLOADING, JobStatus.READY])
def test_a_replaced_job_stops_its_downloader_and_leaves_its_files_to_cleanup(
    store: JobStore, sqs: tuple[SQSClient, str], status: JobStatus
) -> None:
    old = seed_job(store, status, progress=40.0, release_id="best")
    reporter = JobReporter(store, old)

    new, created = service(store, sqs[1], RANKED).fetch(
        550, models.FetchRequest(mode="manual", release_id="third", replace=True)
    )

    assert created
    assert new.release_id == "third"
    if status is JobStatus.DOWNLOADING:  # the task's next write finds the job taken away
        with pytest.raises(JobTakenAway):
            reporter.progress(50, 100, 1.0, 5, force=True)
    now, long_ago = to_iso(utcnow()), "2000-01-01T00:00:00.000Z"
    sweep = store.sweep(
        now=now, stale_before=long_ago, purge_before=long_ago, ready_before=long_ago
    )
    assert [job.job_id for job in sweep.to_remove] == [old.job_id]  # its objects go next


def test_the_films_original_language_travels_to_the_downloader(
    store: JobStore, sqs: tuple[SQSClient, str]
) -> None:
    client, url = sqs
    fetch = FetchService(
        store,
        SqsQueue(url),
        find_releases=lambda movie_id, quality: models.ReleaseList(
            movie_id=movie_id, imdb_id="tt0137523", releases=RANKED
        ),
        metadata=lambda movie_id: MovieMetadata(
            movie_id, "Il Sorpasso", None, original_language="it"
        ),
    )

    fetch.fetch(550, models.FetchRequest(mode="auto"))

    [message] = queued_messages(client, url)
    assert message["original_language"] == "it"
