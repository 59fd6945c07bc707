"""Job queries for the API: one job, the job list, and the job summary embedded in movie details."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib import models
from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import (
    ErrorClass,
    Job,
    JobStatus,
    decode_media,
    decode_notes,
    decode_skipped,
    known_error_class,
)
from chalicelib.domain.server_figures import ServerFigures, decode_servers
from chalicelib.errors import NotFound


def job_model(job: Job) -> models.Job:
    media = decode_media(job.media)
    return models.Job(
        job_id=job.job_id,
        movie_id=job.movie_id,
        status=job.status.value,
        progress=job.progress,
        release_id=job.release_id,
        release_title=job.release_title,
        error_message=job.error_message,
        error_class=error_class(job),
        created_at=job.created_at,
        updated_at=job.updated_at,
        ready_at=job.ready_at,
        playable_at=job.playable_at,
        expires_at=job.expires_at,
        last_watched_at=job.last_watched_at,
        downloaded_bytes=job.downloaded_bytes,
        total_bytes=job.total_bytes,
        speed_bps=job.speed_bps,
        eta_seconds=job.eta_seconds,
        poll_after_seconds=job.poll_after_seconds,
        skipped_releases=[
            models.SkippedRelease(
                release_id=item.release_id, release_title=item.release_title, reason=item.reason
            )
            for item in decode_skipped(job.skipped_releases)
        ],
        notes=decode_notes(job.notes),
        servers=[server_model(item) for item in decode_servers(job.servers)],
        audio=_audio(media),
        subtitles=_subtitles(media),
    )


def server_model(figures: ServerFigures) -> models.ServerFigures:
    return models.ServerFigures(
        server=figures.server,
        articles_fetched=figures.articles_fetched,
        articles_missing=figures.articles_missing,
        articles_corrupt=figures.articles_corrupt,
        bytes=figures.bytes,
        seconds=figures.seconds,
        throughput_bps=figures.throughput_bps,
    )


def error_class(job: Job) -> ErrorClass | None:
    """Why the job failed, for clients to act on (e.g. "password-protected, try another release");
    null unless it failed."""
    return known_error_class(job.error_class) if job.status is JobStatus.ERROR else None


def _subtitles(media: dict[str, Any]) -> list[models.JobSubtitle]:
    from pydantic import ValidationError

    found = []
    for item in media.get("subtitles") or []:
        try:
            found.append(models.JobSubtitle.model_validate(item))
        except ValidationError:
            continue
    return found


def _audio(media: dict[str, Any]) -> models.Audio | None:
    """The ``audio`` the downloader wrote; a shape this code does not know is no answer, not a 500."""
    from pydantic import ValidationError

    try:
        return models.Audio.model_validate(media["audio"]) if media.get("audio") else None
    except ValidationError:
        return None


class JobsService:
    def __init__(self, store: JobStore) -> None:
        self._store = store

    def get(self, job_id: str) -> models.Job:
        job = self._store.get_job(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job_model(job)

    def list(self, statuses: Sequence[JobStatus], limit: int, offset: int) -> models.JobList:
        jobs, total = self._store.list_jobs(statuses, limit, offset)
        return models.JobList(
            jobs=[job_model(job) for job in jobs], total=total, limit=limit, offset=offset
        )

    def latest_job_status(self, movie_id: int) -> models.JobStatusSummary | None:
        job = self._store.latest_job(movie_id)
        if job is None:
            return None
        return models.JobStatusSummary(
            job_id=job.job_id,
            status=job.status.value,
            progress=job.progress,
            error_message=job.error_message,
            error_class=error_class(job),
        )
