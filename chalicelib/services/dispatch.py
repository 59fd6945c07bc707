"""The queue consumer: claim a queued job, then start its downloader.

SQS delivers at least once, so the claim is a compare-and-set (``queued`` → ``downloading``): a
duplicate message finds the job already claimed and starts nothing. The claim's write token is the
SQS message id, so the same message delivered again after a claim whose reply was lost (the store
gave up, the record was retried) recognises its own claim and starts the task it never started.
A launch that fails for good marks the job ``error`` with the reason (telling its ``notify_url``,
``services/notices.py``) and is acknowledged; a transient failure (throttling, no capacity) puts the
job back to ``queued`` and asks SQS to redeliver that message only. Messages that keep failing end
in the dead-letter queue, and cleanup's stale-job rule fails their jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from chalicelib.adapters.dispatch import LaunchFailed, TaskLauncher
from chalicelib.adapters.store import JobStore
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import Clock, JobStatus, to_iso, utcnow
from chalicelib.logs import logger
from chalicelib.metrics import record_job_event
from chalicelib.services.notices import WAIT_SECONDS, FailureNotices

#: Time one record must have left to be started. A claim and RunTask take well under a second;
#: this covers a slow D1 request with a retry and a retried RunTask (ECS client: 3 s connect, 5 s
#: read, 2 attempts). The dispatcher Lambda has 30 s for its batch of 10.
RECORD_BUDGET_SECONDS = 12.0


@dataclass
class Outcome:
    started: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: SQS message ids to redeliver (partial batch failure).
    retry: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        store: JobStore,
        launcher: TaskLauncher,
        clock: Clock = utcnow,
        notices: FailureNotices | None = None,
    ) -> None:
        self._store = store
        self._launcher = launcher
        self._clock = clock
        self._notices = notices

    def handle_batch(
        self, records: list[tuple[str, str]], remaining_seconds: Callable[[], float] | None = None
    ) -> Outcome:
        """``records`` are (SQS message id, body) pairs; each is handled on its own.

        ``remaining_seconds`` is the invocation's time left (the Lambda context's). A record is
        only started with ``RECORD_BUDGET_SECONDS`` to spare, the worst a claim plus RunTask can
        take; the rest go back untouched as batch item failures, so a timeout never cuts one in
        half (claimed, no task)."""
        outcome = Outcome()
        for index, (message_id, body) in enumerate(records):
            if remaining_seconds is not None and remaining_seconds() < RECORD_BUDGET_SECONDS:
                later = [mid for mid, _ in records[index:]]
                logger.warning(
                    "dispatch time budget spent; records left for redelivery",
                    extra={"records": len(later), "remaining_s": round(remaining_seconds(), 1)},
                )
                outcome.retry += later
                break
            try:
                message = JobMessage.model_validate_json(body)
            except ValidationError as exc:
                logger.error(
                    "unreadable job message",
                    extra={"message_id": message_id, "errors": exc.error_count()},
                )
                outcome.retry.append(message_id)  # repeated failures land it in the DLQ for a look
                continue
            try:
                result = self.handle(message, claim_token=f"sqs:{message_id}")
            except Exception:  # e.g. the job store is down: only this record is retried
                logger.exception("dispatch failed", extra={"job_id": message.job_id})
                result = "retry"
            if result == "retry":
                outcome.retry.append(message_id)
            else:
                getattr(outcome, result).append(message.job_id)
        if self._notices is not None and self._notices.sending:  # delivered before the freeze
            left = remaining_seconds() - 2.0 if remaining_seconds is not None else WAIT_SECONDS
            self._notices.wait(min(WAIT_SECONDS, left))
        return outcome

    def handle(self, message: JobMessage, claim_token: str | None = None) -> str:
        """Dispatch one job: ``started``, ``skipped`` (not queued any more), ``failed`` or ``retry``.
        ``claim_token`` names this delivery's claim (see the module docstring)."""
        keys = {"job_id": message.job_id, "movie_id": message.movie_id}
        claimed = self._store.transition(
            message.job_id,
            from_statuses=[JobStatus.QUEUED],
            to=JobStatus.DOWNLOADING,
            now=to_iso(self._clock()),
            token=claim_token,
            progress=0.0,
        )
        if claimed is None:
            logger.info("job already claimed or finished; message ignored", extra=keys)
            return "skipped"
        logger.info("job state changed", extra={**keys, "from": "queued", "to": "downloading"})
        try:
            task = self._launcher.launch(message)
        except LaunchFailed as failure:
            return self._launch_failed(message, failure)
        logger.info("downloader started", extra={**keys, "task": task})
        return "started"

    def _launch_failed(self, message: JobMessage, failure: LaunchFailed) -> str:
        keys = {"job_id": message.job_id, "movie_id": message.movie_id, "reason": failure.reason}
        now = to_iso(self._clock())
        if failure.transient:
            self._store.transition(
                message.job_id,
                from_statuses=[JobStatus.DOWNLOADING],
                to=JobStatus.QUEUED,
                now=now,
                progress=None,
                worker=None,
            )
            logger.warning("downloader start failed; will retry", extra=keys)
            return "retry"
        failed = self._store.transition(
            message.job_id,
            from_statuses=[JobStatus.DOWNLOADING],
            to=JobStatus.ERROR,
            now=now,
            error_message=f"could not start the download: {failure.reason}",
            error_class="dispatch",
        )
        logger.error("job state changed", extra={**keys, "from": "downloading", "to": "error"})
        if failed is not None and self._notices is not None:
            # A job queued before the store kept its URL has it in the message only.
            self._notices.failed(
                replace(failed, notify_url=failed.notify_url or message.notify_url)
            )
        record_job_event("JobsFailed", error_class="dispatch")
        return "failed"
