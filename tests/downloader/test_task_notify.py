"""The task's notification: a job that asked for one sends exactly one signed event when it settles."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from chalicelib.domain.jobs import JobStatus
from chalicelib.domain.notify import verify
from downloader import notify
from downloader.task import main
from sandbox.httpd import Reply, Request, StandIn
from sandbox.posting import make_release
from tests.downloader.conftest import Task
from tests.downloader.test_task import rar_release_files as rar_release_files

SECRET = "task-notify-secret-0042"


@pytest.fixture
def receiver() -> Iterator[StandIn]:
    server = StandIn(lambda request: Reply(204), name="receiver").start()
    yield server
    server.stop()


def _ask_for_notification(task: Task, receiver: StandIn) -> str:
    message = task.claimed_job()
    wanted = message.model_copy(update={"notify_url": f"{receiver.url}/hook?job={message.job_id}"})
    task.env.setenv("JOB_MESSAGE", wanted.model_dump_json())
    task.env.setenv("NOTIFY_SECRET", SECRET)
    task.env.setenv("NOTIFY_ALLOW_LOOPBACK", "true")
    return message.job_id


def _events(receiver: StandIn) -> list[Request]:
    return receiver.asked("/hook")


def test_a_ready_job_sends_one_signed_event(
    task: Task, receiver: StandIn, rar_release_files: dict[str, bytes]
) -> None:
    task.serve(make_release(rar_release_files, segment_size=16_384))
    job_id = _ask_for_notification(task, receiver)

    assert main() == 0

    [event] = _events(receiver)
    assert verify(
        event.body, event.headers["x-signature-timestamp"], event.headers["x-signature"], SECRET
    )
    body = json.loads(event.body)
    assert (body["job_id"], body["status"], body["error_class"]) == (job_id, "ready", None)
    assert body["stream_route"] == f"/api/movies-on-demand/movies/{job_id}/stream"
    assert abs(body["timestamp"] - time.time()) < 120
    assert SECRET not in event.body.decode()


def test_a_failed_job_sends_one_event_with_its_class(task: Task, receiver: StandIn) -> None:
    task.env.setenv("NNTP_SERVERS", "")
    job_id = _ask_for_notification(task, receiver)

    assert main() == 1

    assert task.store.get_job(job_id).status is JobStatus.ERROR  # type: ignore[union-attr]
    [event] = _events(receiver)
    body = json.loads(event.body)
    assert (body["event"], body["status"], body["error_class"]) == (
        "job.failed",
        "failed",
        "config",
    )


def test_a_dead_receiver_never_fails_or_holds_up_the_job(
    task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "EXIT_WAIT_SECONDS", 0.5)
    task.env.setenv("NNTP_SERVERS", "")
    message = task.claimed_job()
    task.env.setenv(
        "JOB_MESSAGE",
        message.model_copy(update={"notify_url": "http://127.0.0.1:9/hook"}).model_dump_json(),
    )
    task.env.setenv("NOTIFY_SECRET", SECRET)
    task.env.setenv("NOTIFY_ALLOW_LOOPBACK", "true")
    started = time.monotonic()

    assert main() == 1

    assert task.store.get_job(message.job_id).error_class == "config"  # type: ignore[union-attr]
    assert time.monotonic() - started < 10  # the exit waits 0.5 s for the retries, no more


def test_without_a_secret_the_job_says_no_notification_will_come(
    task: Task, receiver: StandIn
) -> None:
    task.env.setenv("NNTP_SERVERS", "")
    job_id = _ask_for_notification(task, receiver)
    task.env.delenv("NOTIFY_SECRET")

    assert main() == 1

    job = task.store.get_job(job_id)
    assert job is not None
    assert "no notification will be sent" in (job.notes or "")
    assert _events(receiver) == []
