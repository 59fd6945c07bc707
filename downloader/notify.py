"""The job's ``notify_url``: one signed event when the job is ready or failed, sent off the job's path.

The reporter calls ``JobNotifications.settled`` after it wrote the terminal state, so the event never
says more than the job store does, and delivery (with its retries) runs on a background thread; the
task only gives pending deliveries a bounded wait before its process exits (``finish``).
"""

from __future__ import annotations

import time

from chalicelib.adapters.notify import Notifier
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import Job, JobStatus
from chalicelib.domain.notify import settled_event
from chalicelib.errors import SettingsFailure
from chalicelib.logs import logger
from chalicelib.settings import Settings

#: What the task waits for deliveries at exit: within Fargate's 30 s between SIGTERM and SIGKILL.
EXIT_WAIT_SECONDS = 20.0


class JobNotifications:
    def __init__(self, url: str, notifier: Notifier) -> None:
        self._url = url
        self._notifier = notifier
        self._sent: set[str] = set()

    def settled(self, job: Job) -> None:
        """The job is ready or failed (written): send its event, once per status."""
        if job.status not in (JobStatus.READY, JobStatus.ERROR) or job.status in self._sent:
            return
        self._sent.add(job.status)
        status = "ready" if job.status is JobStatus.READY else "failed"
        timestamp = int(time.time())
        body = settled_event(
            job_id=job.job_id,
            movie_id=job.movie_id,
            failed=job.status is JobStatus.ERROR,
            error_class=job.error_class,
            timestamp=timestamp,
        )
        keys: dict[str, object] = {"job_id": job.job_id, "movie_id": job.movie_id, "event": status}
        self._notifier.send_later(self._url, body, timestamp, keys)

    def finish(self) -> None:
        """Give pending deliveries up to ``EXIT_WAIT_SECONDS``; the job's state is written already."""
        if not self._notifier.wait(EXIT_WAIT_SECONDS):
            logger.warning("notification still being retried at exit; given up")


def for_job(settings: Settings, message: JobMessage) -> JobNotifications | None:
    """The job's notifications, or None when it asked for none (or they cannot be signed)."""
    if message.notify_url is None:
        return None
    try:
        secret = settings.notify_secret()
    except SettingsFailure as error:
        logger.error(
            "the job asked for a notification that cannot be sent",
            extra={"job_id": message.job_id, "error": error.message},
        )
        return None
    return JobNotifications(message.notify_url, Notifier(secret, settings.notify_policy()))
