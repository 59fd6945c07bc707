"""SQS → dispatcher → ECS RunTask: claims are idempotent, failures end truthfully."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import chalice.test
import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws
from mypy_boto3_ecs import ECSClient

from chalicelib import bootstrap
from chalicelib.adapters.dispatch import EcsLauncher, ProcessLauncher
from chalicelib.domain.dispatch import Candidate, JobMessage
from chalicelib.domain.jobs import JobStatus
from chalicelib.services.dispatch import Dispatcher
from tests.conftest import ROOT, TEST_STAGE, LogCapture
from tests.test_jobs_api import seed

REGION = "eu-west-1"


@pytest.fixture
def aws(env: pytest.MonkeyPatch) -> Iterator[ECSClient]:
    """moto's ECS with a cluster and the downloader's Fargate task definition; settings point at it."""
    env.setenv("AWS_DEFAULT_REGION", REGION)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="movies")
        ecs.register_task_definition(
            family="downloader",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="2048",
            memory="8192",
            containerDefinitions=[
                {"name": "downloader", "image": "downloader:latest", "cpu": 2048, "memory": 8192}
            ],
        )
        env.setenv("DISPATCH", "sqs")
        env.setenv("ECS_CLUSTER", "movies")
        env.setenv("ECS_TASK_DEFINITION", "downloader")
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="downloader", Description="d", VpcId=vpc)
        env.setenv("ECS_SUBNETS", subnet)
        env.setenv("ECS_SECURITY_GROUPS", group["GroupId"])
        bootstrap.reset()
        yield ecs


@pytest.fixture
def lambda_30s(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chalice's test client gives every invocation a 3-second context; ours has 30 s
    in production (``lambda_timeout``, .chalice/config.json), and the dispatcher budgets by it."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    timeout_ms = 1000 * config["stages"]["prod"]["lambda_timeout"]
    monkeypatch.setattr(
        chalice.test, "LambdaContext", functools.partial(LambdaContext, max_runtime_ms=timeout_ms)
    )


def message_for(job_id: str, movie_id: int = 550) -> JobMessage:
    return JobMessage(
        job_id=job_id,
        movie_id=movie_id,
        release_id="guid-1",
        release_title="Fight.Club.1999.1080p.BluRay.x264-GROUP",
        candidates=[Candidate(release_id="guid-2", release_title="Fight.Club.1999.720p.WEB-DL")],
    )


def started_tasks(ecs: ECSClient) -> list[Any]:
    arns = ecs.list_tasks(cluster="movies")["taskArns"]
    return list(ecs.describe_tasks(cluster="movies", tasks=arns)["tasks"]) if arns else []


def test_a_queued_job_is_claimed_and_its_task_started(aws: ECSClient) -> None:
    job = seed(JobStatus.QUEUED)

    result = bootstrap.container().dispatcher.handle(message_for(job.job_id))

    assert result == "started"
    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert (stored.status, stored.progress) == (JobStatus.DOWNLOADING, 0.0)
    [task] = started_tasks(aws)
    assert task["startedBy"] == job.job_id
    [override] = task["overrides"]["containerOverrides"]
    environment = {item["name"]: item["value"] for item in override["environment"]}
    assert set(environment) == {"JOB_MESSAGE"}
    carried = JobMessage.model_validate_json(environment["JOB_MESSAGE"])
    assert carried == message_for(job.job_id)


def test_a_redelivered_message_starts_nothing_more(aws: ECSClient) -> None:
    job = seed(JobStatus.QUEUED)
    dispatcher = bootstrap.container().dispatcher

    assert dispatcher.handle(message_for(job.job_id)) == "started"
    assert dispatcher.handle(message_for(job.job_id)) == "skipped"

    assert len(started_tasks(aws)) == 1


def test_an_ecs_error_fails_the_job_with_the_reason(
    aws: ECSClient, env: pytest.MonkeyPatch
) -> None:
    env.setenv("ECS_CLUSTER", "no-such-cluster")
    bootstrap.reset()
    job = seed(JobStatus.QUEUED)

    assert bootstrap.container().dispatcher.handle(message_for(job.job_id)) == "failed"

    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.ERROR
    assert "could not start the download" in (stored.error_message or "")
    assert "ClusterNotFoundException" in (stored.error_message or "")


def test_a_job_that_cannot_start_is_counted_as_failed(
    aws: ECSClient, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("ECS_CLUSTER", "no-such-cluster")
    bootstrap.reset()
    job = seed(JobStatus.QUEUED)
    capsys.readouterr()

    bootstrap.container().dispatcher.handle(message_for(job.job_id))

    out = capsys.readouterr().out
    [failed] = [json.loads(x) for x in out.splitlines() if '"JobsFailed"' in x]
    assert failed["error_class"] == "dispatch"


class ScriptedEcs:
    """Answers RunTask with a reply that has ``failures`` and no tasks (no exception raised)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.calls = 0

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {"tasks": [], "failures": [{"arn": "arn:task", "reason": self.reason}]}


def dispatcher_with(ecs: ScriptedEcs) -> Dispatcher:
    launcher = EcsLauncher(
        cluster="movies",
        task_definition="downloader",
        subnets=["subnet-1"],
        security_groups=[],
        assign_public_ip=True,
        container_name="downloader",
        client=ecs,  # type: ignore[arg-type]
    )
    return Dispatcher(bootstrap.container().store, launcher)


def test_failures_in_the_reply_are_failures(env: pytest.MonkeyPatch) -> None:
    job = seed(JobStatus.QUEUED)

    result = dispatcher_with(ScriptedEcs("MISSING")).handle(message_for(job.job_id))

    assert result == "failed"
    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.ERROR
    assert (
        stored.error_message
        == "could not start the download: ECS could not start the task: MISSING"
    )


def test_no_capacity_puts_the_job_back_for_a_retry(env: pytest.MonkeyPatch) -> None:
    job = seed(JobStatus.QUEUED)
    ecs = ScriptedEcs("Capacity is unavailable at this time. Please try again later.")

    outcome = dispatcher_with(ecs).handle_batch(
        [("m-1", message_for(job.job_id).model_dump_json())]
    )

    assert outcome.retry == ["m-1"]
    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.QUEUED  # the redelivery can claim it again


def test_lambda_reports_only_the_records_to_retry(
    aws: ECSClient, logs: LogCapture, lambda_30s: None
) -> None:
    from app import app

    good = seed(JobStatus.QUEUED, movie_id=1)
    claimed = seed(JobStatus.DOWNLOADING, movie_id=2)

    with Client(app, stage_name=TEST_STAGE, project_dir=str(ROOT)) as client:
        event = client.events.generate_sqs_event(
            message_bodies=[
                message_for(good.job_id, 1).model_dump_json(),
                message_for(claimed.job_id, 2).model_dump_json(),
                '{"job_id": "../../etc/passwd"}',
            ],
            queue_name="movies-on-demand-jobs",
        )
        for index, record in enumerate(event["Records"]):
            record["messageId"] = f"m-{index}"  # chalice gives every record the same id
        result = client.lambda_.invoke("dispatch_jobs", event).payload

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert len(started_tasks(aws)) == 1
    assert logs.lines("unreadable job message")[0]["message_id"] == "m-2"


def test_the_message_never_carries_an_nzb_url_or_key() -> None:
    fields = set(JobMessage.model_fields)
    assert "nzb_url" not in fields
    with pytest.raises(ValueError, match="extra"):
        JobMessage.model_validate_json(
            json.dumps({**message_for("job_1_a").model_dump(), "nzb_url": "https://x/api?apikey=k"})
        )


@pytest.mark.usefixtures("env")  # the child's job store is the test's temporary one
def test_the_local_launcher_reaps_its_downloaders(tmp_path: Path) -> None:
    """``make run`` starts downloaders as children; a finished one must not linger as a zombie."""
    launched = ProcessLauncher(tmp_path / "logs").launch(message_for("job_1_abc"))
    pid = int(launched.removeprefix("local-pid-"))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)  # still in the process table (running, or a zombie nobody waited for)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"downloader {pid} was never reaped")
    assert (tmp_path / "logs" / "job_1_abc.log").exists()


def test_records_without_time_left_go_back_untouched(aws: ECSClient, logs: LogCapture) -> None:
    """The invocation's clock runs out mid-batch: the records not started are batch item failures
    and their jobs stay queued (never claimed without a task)."""
    jobs = [seed(JobStatus.QUEUED, movie_id=i) for i in (1, 2, 3)]
    left = iter([29.0, 20.0, 9.0, 8.0])
    records = [
        (f"m-{i}", message_for(job.job_id, job.movie_id).model_dump_json())
        for i, job in enumerate(jobs)
    ]

    outcome = bootstrap.container().dispatcher.handle_batch(records, lambda: next(left))

    assert outcome.started == [jobs[0].job_id, jobs[1].job_id]
    assert outcome.retry == ["m-2"]
    store = bootstrap.container().store
    assert store.get_job(jobs[2].job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert len(started_tasks(aws)) == 2
    assert logs.lines("dispatch time budget spent; records left for redelivery")[0]["records"] == 1


def test_the_lambda_gives_the_dispatcher_its_remaining_time(aws: ECSClient) -> None:
    """With the test client's 3-second context nothing can be started safely: the record goes
    back, the job stays queued. (``lambda_30s`` gives the others the real 30 s.)"""
    from app import app

    job = seed(JobStatus.QUEUED, movie_id=1)
    with Client(app, stage_name=TEST_STAGE, project_dir=str(ROOT)) as client:
        event = client.events.generate_sqs_event(
            message_bodies=[message_for(job.job_id, 1).model_dump_json()],
            queue_name="movies-on-demand-jobs",
        )
        result = client.lambda_.invoke("dispatch_jobs", event).payload

    assert result == {"batchItemFailures": [{"itemIdentifier": "message-id"}]}
    assert started_tasks(aws) == []
    assert bootstrap.container().store.get_job(job.job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
