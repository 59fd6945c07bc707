"""The hourly cleanup: delete unwatched movies, fail silent jobs, purge old rows.

Idempotent and failure-isolated: a job whose files cannot be deleted stays ``ready`` (expired) and is
retried next run, and never stops the others. Two job-store round trips per run whatever the backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.adapters.objects import ObjectStore
from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import Clock, to_iso, utcnow
from chalicelib.logs import logger
from chalicelib.metrics import emit
from chalicelib.services.stream import movie_object_prefix


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
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
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
                extra={"job_id": job.job_id, "movie_id": job.movie_id, "from": job.status.value},
            )
        removed: list[str] = []
        for job in sweep.expired:
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
        report.deleted = self._store.mark_deleted(removed, now=to_iso(now))
        emit(
            {},
            {
                "CleanupDeleted": (MetricUnit.Count, float(len(report.deleted))),
                "CleanupFailures": (MetricUnit.Count, float(len(report.failed))),
                "StaleJobs": (MetricUnit.Count, float(len(report.stale))),
                "BytesFreed": (MetricUnit.Bytes, float(report.bytes_freed)),
            },
        )
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
        return report
