"""A job that asked to be told (``notify_url``) is told when a Lambda fails it, not only the task.

The real wiring (settings, container, signed delivery over HTTP to a receiver on loopback): cleanup
failing a job whose task died, and the dispatcher failing one ECS cannot start, each send the
same signed ``failed`` event the downloader sends, once; a job without a URL sends nothing, and a
deployment without ``NOTIFY_SECRET`` says so in the log and still finishes its work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from mypy_boto3_ecs import ECSClient
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.domain.jobs import JobStatus, utcnow
from chalicelib.domain.notify import verify
from sandbox.httpd import Reply, Request, StandIn
from tests.conftest import LogCapture
from tests.test_dispatch import aws as aws
from tests.test_dispatch import message_for
from tests.test_jobs_api import seed

SECRET = "lambda-notify-secret-0042"


@pytest.fixture
def receiver(env: pytest.MonkeyPatch) -> Iterator[StandIn]:
    server = StandIn(lambda request: Reply(204), name="receiver").start()
    env.setenv("STAGE", "local")
    env.setenv("NOTIFY_SECRET", SECRET)
    env.setenv("NOTIFY_ALLOW_LOOPBACK", "true")
    bootstrap.reset()
    yield server
    server.stop()


def events(receiver: StandIn) -> list[Request]:
    return receiver.asked("/hook")


def failed_event(event: Request) -> dict[str, object]:
    assert verify(
        event.body, event.headers["x-signature-timestamp"], event.headers["x-signature"], SECRET
    )
    assert SECRET not in event.body.decode()
    body: dict[str, object] = json.loads(event.body)
    assert (body["event"], body["status"]) == ("job.failed", "failed")
    return body


def stale_jobs(receiver: StandIn) -> tuple[str, str]:
    """Two jobs whose tasks stopped answering an hour ago, one of them with a notify_url."""
    an_hour_ago = utcnow() - timedelta(hours=1)
    told = seed(
        JobStatus.DOWNLOADING,
        movie_id=1,
        at=an_hour_ago,
        notify_url=f"{receiver.url}/hook?job=1",
    )
    silent = seed(JobStatus.PREPARING, movie_id=2, at=an_hour_ago)
    return told.job_id, silent.job_id


def test_cleanup_tells_a_stale_job_s_notify_url_once(receiver: StandIn, s3: S3Client) -> None:
    told, silent = stale_jobs(receiver)

    report = bootstrap.container().cleanup.run()

    assert sorted(report.stale) == sorted([told, silent])
    [event] = events(receiver)  # the silent job sends nothing
    body = failed_event(event)
    assert (body["job_id"], body["movie_id"], body["error_class"]) == (told, 1, "stale")
    assert event.query == {"job": "1"}
    assert bootstrap.container().cleanup.run().stale == []  # the next run fails nothing again
    assert len(events(receiver)) == 1


@pytest.mark.parametrize("stored", [True, False], ids=["url-in-the-job", "url-in-the-message-only"])
def test_the_dispatcher_tells_a_job_ecs_could_not_start(
    receiver: StandIn, aws: ECSClient, env: pytest.MonkeyPatch, stored: bool
) -> None:
    """Also for a job queued before the store kept the URL: the message carries it too."""
    env.setenv("ECS_CLUSTER", "no-such-cluster")
    bootstrap.reset()
    url = f"{receiver.url}/hook?job=550"
    job = seed(JobStatus.QUEUED, notify_url=url if stored else None)
    message = message_for(job.job_id).model_copy(update={"notify_url": url})

    outcome = bootstrap.container().dispatcher.handle_batch([("sqs-1", message.model_dump_json())])

    assert outcome.failed == [job.job_id]
    [event] = events(receiver)
    body = failed_event(event)
    assert (body["job_id"], body["error_class"]) == (job.job_id, "dispatch")


def test_without_a_notify_secret_cleanup_logs_it_and_still_fails_the_job(
    receiver: StandIn, s3: S3Client, env: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    env.delenv("NOTIFY_SECRET")
    bootstrap.reset()
    told, silent = stale_jobs(receiver)

    report = bootstrap.container().cleanup.run()

    assert sorted(report.stale) == sorted([told, silent])
    assert events(receiver) == []
    [record] = logs.lines("the job asked for a notification that cannot be sent")
    assert record["job_id"] == told
    assert "NOTIFY_SECRET is not set" in str(record["error"])
