"""``GET /stats``: the service's health at a glance, from job rows in one job-store round trip."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import models
from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import IN_PROGRESS_STATUSES, Clock, JobStatus, to_iso, utcnow
from chalicelib.services.jobs import server_model

READY_WINDOW_DAYS = 7
ERROR_WINDOW = timedelta(hours=24)


class StatsService:
    def __init__(self, store: JobStore, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    def stats(self) -> models.Stats:
        now = self._clock()
        figures = self._store.figures(
            ready_since=to_iso(now - timedelta(days=READY_WINDOW_DAYS)),
            errors_since=to_iso(now - ERROR_WINDOW),
        )
        by_status = {status.value: figures.by_status.get(status.value, 0) for status in JobStatus}
        return models.Stats(
            generated_at=to_iso(now),
            jobs_by_status=by_status,
            active_jobs=sum(by_status[status.value] for status in IN_PROGRESS_STATUSES),
            movies_ready=figures.movies_ready,
            bytes_stored=figures.bytes_stored,
            time_to_ready=models.TimeToReady(
                window_days=READY_WINDOW_DAYS,
                count=figures.ready_count,
                average_seconds=figures.ready_average_seconds,
                p95_seconds=figures.ready_p95_seconds,
            ),
            errors_last_24h=figures.errors_by_class,
            servers_last_24h=[
                models.ServerTotals(**server_model(item).model_dump(), jobs=jobs)
                for item, jobs in figures.servers
            ],
        )
