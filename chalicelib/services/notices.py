"""The failure events a Lambda owes: jobs it failed that asked to be told (``notify_url``).

The downloader sends the event of every job it settles (``downloader/notify.py``). Two failures
are written elsewhere, and they are the ones a waiting client is least likely to learn of any other
way: a launch that failed for good (the dispatcher) and a task that stopped answering (cleanup's
stale rule: an out-of-memory kill, a lost host). The job keeps the URL the fetch checked, so the
Lambda that writes such a failure sends the same signed event, after the write, and waits a bounded
time for delivery before its invocation ends (a frozen Lambda delivers nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.adapters.notify import Notifier
from chalicelib.domain.jobs import Job
from chalicelib.domain.notify import settled_event
from chalicelib.errors import SettingsFailure
from chalicelib.logs import logger

#: At most what an invocation waits, at its end, for the events it sent (its Lambda has 30 s).
WAIT_SECONDS = 10.0


class FailureNotices:
    def __init__(self, notifier: Callable[[], Notifier]) -> None:
        """``notifier`` builds the sender on first use (it reads ``NOTIFY_SECRET``)."""
        self._build = notifier
        self._notifier: Notifier | None = None

    @property
    def sending(self) -> bool:
        """Whether any event was handed to the sender (the sender is built by the first)."""
        return self._notifier is not None

    def failed(self, job: Job) -> None:
        """``job`` as its failure was written: send its event if it asked for one (in the
        background; ``wait`` before the invocation ends)."""
        if job.notify_url is None:
            return
        keys: dict[str, object] = {
            "job_id": job.job_id,
            "movie_id": job.movie_id,
            "event": "failed",
        }
        try:
            notifier = self._notifier = self._notifier or self._build()
        except SettingsFailure as error:
            logger.error(
                "the job asked for a notification that cannot be sent",
                extra={**keys, "error": error.message},
            )
            return
        timestamp = int(time.time())
        body = settled_event(
            job_id=job.job_id,
            movie_id=job.movie_id,
            failed=True,
            error_class=job.error_class,
            timestamp=timestamp,
        )
        notifier.send_later(job.notify_url, body, timestamp, keys)

    def wait(self, seconds: float = WAIT_SECONDS) -> None:
        """Give the events sent so far up to ``seconds`` to be delivered (their retries included)."""
        if self._notifier is not None and not self._notifier.wait(max(0.0, seconds)):
            logger.warning("notification still being retried as the invocation ends; given up")
