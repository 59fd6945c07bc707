"""The hourly cleanup: delete unwatched movies, fail silent jobs, purge old rows.

A job failed as stale also loses what its dead task left in the bucket (open multipart uploads, an
object it completed but never reported), and its ``notify_url`` is told (``services/notices.py``).
Idempotent and failure-isolated: an expired job is claimed as ``deleted`` before its files go (so a
watch a moment earlier keeps its movie); files that cannot be deleted are retried next run, and one
failure never stops the others. Two job-store round trips per run whatever the backlog, plus one
for the hourly gauges when a ``StatsService`` is given (as in production).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.adapters.objects import ObjectStore
from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import Clock, Job, movie_object_prefix, to_iso, utcnow
from chalicelib.errors import ApiError
from chalicelib.logs import logger
from chalicelib.metrics import emit, record_job_event
from chalicelib.services.notices import FailureNotices
from chalicelib.services.stats import StatsService


@dataclass
class CleanupReport:
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    purged: int = 0
    bytes_freed: int = 0


class CleanupService:
    def __init__(
        self,
        store: JobStore,
        objects: ObjectStore,
        *,
        retention_hours: int,
        stale_minutes: int,
        purge_after_days: int,
        stats: StatsService | None = None,
        notices: FailureNotices | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._notices = notices
        #: Hourly gauges (active jobs, movies ready, bytes stored) for the dashboard, from /stats.
        self._stats = stats
        self._objects = objects
        self._retention = timedelta(hours=retention_hours)
        self._stale = timedelta(minutes=stale_minutes)
        self._purge = timedelta(days=purge_after_days)
        self._clock = clock

    def run(self) -> CleanupReport:
        now = self._clock()
        sweep = self._store.sweep(
            now=to_iso(now),
            stale_before=to_iso(now - self._stale),
            purge_before=to_iso(now - self._purge),
            ready_before=to_iso(now - self._retention),
        )
        report = CleanupReport(stale=[job.job_id for job in sweep.stale], purged=sweep.purged)
        for job in sweep.stale:
            logger.warning(
                "job failed: worker stopped responding",
                extra={
                    "job_id": job.job_id,
                    "movie_id": job.movie_id,
                    # The sweep returns rows as updated, so the earlier in-progress state is gone.
                    "from": "in progress",
                    "to": job.status.value,
                    "reason": "worker stopped responding",
                },
            )
            record_job_event("JobsFailed", error_class="stale")
            self._clear_leftovers(job)
            if self._notices is not None:
                self._notices.failed(job)
        removed: list[str] = []
        for job in sweep.to_remove:
            try:
                deleted = self._objects.delete_prefix(movie_object_prefix(job.job_id))
            except Exception as exc:
                report.failed.append(job.job_id)
                logger.error(
                    "cleanup could not delete a movie",
                    extra={"job_id": job.job_id, "movie_id": job.movie_id, "error": str(exc)},
                )
                continue
            removed.append(job.job_id)
            report.bytes_freed += deleted.bytes
        report.deleted = self._store.objects_removed(removed, now=to_iso(now))
        emit(
            {},
            {
                "CleanupDeleted": (MetricUnit.Count, float(len(report.deleted))),
                "CleanupFailures": (MetricUnit.Count, float(len(report.failed))),
                "StaleJobs": (MetricUnit.Count, float(len(report.stale))),
                "BytesFreed": (MetricUnit.Bytes, float(report.bytes_freed)),
            },
        )
        self._emit_gauges()
        logger.info(
            "cleanup finished",
            extra={
                "deleted": len(report.deleted),
                "failed": len(report.failed),
                "stale": len(report.stale),
                "purged": report.purged,
                "bytes_freed": report.bytes_freed,
            },
        )
        if self._notices is not None:
            self._notices.wait()
        return report

    def _clear_leftovers(self, job: Job) -> None:
        """A task that died (SIGKILL, a lost host) could not abort its multipart upload, and may
        have completed an object it never reported: both go with its stale job. Best effort; the
        bucket's rule aborting day-old uploads is the backstop."""
        prefix = movie_object_prefix(job.job_id)
        try:
            for upload in self._objects.open_uploads(prefix):
                self._objects.abort_upload(upload.key, upload.upload_id)
            self._objects.delete_prefix(prefix)
        except ApiError as error:
            logger.warning(
                "could not clear a stale job's uploads",
                extra={"job_id": job.job_id, "movie_id": job.movie_id, "error": error.message},
            )

    def _emit_gauges(self) -> None:
        """The service's size once an hour, so the dashboard can draw trends without a bucket listing
        or a stats call per graph refresh; a failure here never fails the cleanup itself."""
        if self._stats is None:
            return
        try:
            stats = self._stats.stats()
        except ApiError as error:
            logger.warning("no hourly gauges this time", extra={"error": error.message})
            return
        emit(
            {},
            {
                "ActiveJobs": (MetricUnit.Count, float(stats.active_jobs)),
                "MoviesReady": (MetricUnit.Count, float(stats.movies_ready)),
                "BytesStored": (MetricUnit.Bytes, float(stats.bytes_stored)),
            },
        )
