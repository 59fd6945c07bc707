"""Getting a job to a downloader: the SQS queue, ECS RunTask, and their local stand-ins.

Production: ``POST /fetch`` sends a ``JobMessage`` to SQS; the dispatcher Lambda claims the job and
starts one Fargate task with the message in its environment. ``make run``: the same dispatcher runs on
an in-process queue and starts ``python -m downloader run`` as a subprocess. boto3 is imported on
first use only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.adapters.aws_calls import error_code, log_calls
from chalicelib.domain.dispatch import JobMessage
from chalicelib.errors import JobError
from chalicelib.logs import logger

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_sqs import SQSClient

#: Error codes and RunTask failure reasons worth another try (AWS says so, or capacity comes back).
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServerException",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
    }
)
TRANSIENT_REASONS = ("capacity", "resource:", "throttl", "timeout", "agent")


class JobQueue(Protocol):
    def send(self, message: JobMessage) -> None: ...


class TaskLauncher(Protocol):
    def launch(self, message: JobMessage) -> str:
        """Start a downloader for the job; returns its task id, or raises ``LaunchFailed``."""
        ...


class LaunchFailed(Exception):
    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def task_environment(message: JobMessage) -> dict[str, str]:
    """What the downloader reads (``python -m downloader run``); credentials come from its own
    task definition secrets, never from here."""
    return {"JOB_MESSAGE": message.model_dump_json()}


class SqsQueue:
    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self._queue_url = queue_url
        self._client = client
        self._lock = threading.Lock()

    def send(self, message: JobMessage) -> None:
        try:
            self._sqs().send_message(
                QueueUrl=self._queue_url, MessageBody=message.model_dump_json()
            )
        except Exception as exc:
            code = error_code(exc) or type(exc).__name__
            raise JobError(f"the job could not be queued ({code})") from None

    def _sqs(self) -> SQSClient:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = log_calls(boto3.client("sqs"), "sqs")
            return self._client


class EcsLauncher:
    def __init__(
        self,
        *,
        cluster: str,
        task_definition: str,
        subnets: list[str],
        security_groups: list[str],
        assign_public_ip: bool,
        container_name: str,
        client: ECSClient | None = None,
    ) -> None:
        self._cluster = cluster
        self._task_definition = task_definition
        self._network: Any = {
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": security_groups,
                "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
            }
        }
        self._container_name = container_name
        self._client = client
        self._lock = threading.Lock()

    def launch(self, message: JobMessage) -> str:
        environment = [{"name": k, "value": v} for k, v in task_environment(message).items()]
        overrides: Any = {
            "containerOverrides": [{"name": self._container_name, "environment": environment}]
        }
        try:
            reply = self._ecs().run_task(
                cluster=self._cluster,
                taskDefinition=self._task_definition,
                launchType="FARGATE",
                count=1,
                startedBy=message.job_id[:36],
                networkConfiguration=self._network,
                overrides=overrides,
            )
        except Exception as exc:
            code = error_code(exc) or type(exc).__name__
            raise LaunchFailed(
                f"ECS refused to start the task ({code})", transient=code in TRANSIENT_CODES
            ) from None
        tasks = reply.get("tasks") or []
        if tasks:
            return str(tasks[0].get("taskArn", ""))
        failures = reply.get("failures") or []
        reason = "; ".join(str(f.get("reason", "unknown")) for f in failures) or "no task started"
        transient = any(word in reason.lower() for word in TRANSIENT_REASONS)
        raise LaunchFailed(f"ECS could not start the task: {reason}", transient=transient)

    def _ecs(self) -> ECSClient:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # Bounded, so one record fits the dispatcher's per-record time budget.
                limits = Config(
                    connect_timeout=3,
                    read_timeout=5,
                    retries={"total_max_attempts": 2, "mode": "standard"},
                )
                self._client = log_calls(boto3.client("ecs", config=limits), "ecs")
            return self._client


class ProcessLauncher:
    """``make run``'s stand-in for Fargate: the downloader as a local subprocess."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir

    def launch(self, message: JobMessage) -> str:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log = (self._log_dir / f"{message.job_id}.log").open("ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "downloader", "run"],
                env={**os.environ, **task_environment(message)},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        except OSError as exc:
            raise LaunchFailed(f"could not start the downloader ({exc})", transient=False) from None
        finally:
            log.close()
        # Reap the child when it exits, as ECS would; an unwaited child stays a zombie process.
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
        return f"local-pid-{process.pid}"


class LocalQueue:
    """An in-process queue: each message is dispatched on a worker thread, like SQS → Lambda."""

    def __init__(self, dispatch: Callable[[JobMessage], object], workers: int = 2) -> None:
        self._dispatch = dispatch
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="local-queue")

    def send(self, message: JobMessage) -> None:
        self._pool.submit(self._run, message)

    def _run(self, message: JobMessage) -> None:
        try:
            self._dispatch(message)
        except Exception:
            logger.exception("local dispatch failed", extra={"job_id": message.job_id})

    def drain(self) -> None:
        """Wait for everything sent so far (tests)."""
        self._pool.shutdown(wait=True)
