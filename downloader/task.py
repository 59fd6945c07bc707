"""``python -m downloader run``: the Fargate task for the job the dispatcher put in the environment.

Reads ``JOB_MESSAGE`` (set per task by the dispatcher), the shared settings (job store, R2, indexer)
and ``NNTP_SERVERS`` (from the task definition's secrets). Its first write takes the job as its
own (``JobStore.take``): a second task started for the same claim finds it taken and exits without
touching the job, so one claim never downloads twice. Exit status: 0 ready, 1 failed (the job
says why), 2 misconfigured before the job could be touched.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import JobStatus, to_iso, utcnow
from chalicelib.errors import SettingsFailure, StorageFailure
from chalicelib.logs import logger
from chalicelib.settings import Settings
from downloader import notify, wiring
from downloader.errors import JobFailed, ServerConfigError
from downloader.pipeline import run
from downloader.reporter import JobReporter, JobStoreUnavailable, JobTakenAway


def main() -> int:
    try:
        message = JobMessage.model_validate_json(os.environ.get("JOB_MESSAGE", ""))
    except ValidationError:
        sys.stderr.write("error: JOB_MESSAGE is missing or malformed\n")
        return 2
    keys = {"job_id": message.job_id, "movie_id": message.movie_id}
    worker = f"{socket.gethostname()[:40]}-{secrets.token_hex(4)}"
    try:
        settings, store = wiring.open_store()
        job = store.take(message.job_id, worker=worker, now=to_iso(utcnow()))
        current = job or store.get_job(message.job_id)
    except (SettingsFailure, StorageFailure) as error:
        logger.error("downloader cannot start", extra={**keys, "error": error.message})
        return 2
    if job is None:  # not claimed for a downloader, or another task took it first
        taken = current is not None and current.status is JobStatus.DOWNLOADING
        logger.error(
            "another downloader has this job" if taken else "job is not waiting for a downloader",
            extra={**keys, "status": getattr(current, "status", None)},
        )
        return 1
    notifications = notify.for_job(settings, message)
    reporter = JobReporter(store, job, settled=notifications.settled if notifications else None)
    stop_on_sigterm(reporter)
    if message.notify_url is not None and notifications is None:
        reporter.note(
            "no notification will be sent: the downloader has no NOTIFY_SECRET to sign it"
        )
    logger.info("downloader started", extra={**keys, "release": message.release_title})
    try:
        return _run(message, settings, reporter, keys)
    finally:
        if notifications is not None:
            notifications.finish()


def _run(
    message: JobMessage, settings: Settings, reporter: JobReporter, keys: dict[str, object]
) -> int:
    try:
        run(message, wiring.task_context(settings), reporter)
    except JobTakenAway:
        logger.warning("job was taken away (e.g. declared stale); stopping", extra=keys)
        return 1
    except JobStoreUnavailable as error:
        logger.error(
            "job store unavailable through every retry; the stale rule will fail the job",
            extra={**keys, "error": str(error)},
        )
        return 1
    except JobFailed as failure:
        reporter.failed(failure.message, failure.error_class)
        return 1
    except (ServerConfigError, SettingsFailure) as error:
        text = error.message if isinstance(error, SettingsFailure) else str(error)
        reporter.failed(f"the downloader is misconfigured: {text}", "config")
        return 1
    except Exception:
        logger.exception("downloader crashed", extra=keys)
        reporter.failed("internal error in the downloader", "internal")
        return 1
    logger.info("downloader finished", extra=keys)
    return 0


def stop_on_sigterm(reporter: JobReporter, exit: Callable[[int], Any] = sys.exit) -> None:
    """Fargate sends SIGTERM before stopping a task: say so in the job, then exit (128 + 15)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        reporter.failed("stopped: the download task was shut down", "stopped")
        exit(143)

    signal.signal(signal.SIGTERM, handle)
