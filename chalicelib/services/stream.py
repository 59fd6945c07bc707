"""Handing out stream URLs: find the ready job, sign its object, count it as watched.

While a streamable release is still downloading, a job that has published HLS segments
(``playable_at``) is answered too: ``hls_url`` (the signed playlist route, ``services/hls.py``) and
``url`` null until the MP4 is ready. That answer records no watch (the job is not ready to count).

Two job-store round trips at most: one read (job + stored movie metadata, joined) and one write
(watched time, new expiry, history row — batched). The object HEAD goes to R2, not the job store;
it is the answer's only R2 request (``hls_url`` is decided from the job, ``services/hls.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from chalicelib import models
from chalicelib.adapters.objects import ObjectStore
from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.records import MovieMetadata
from chalicelib.domain.jobs import (
    Clock,
    Job,
    JobStatus,
    decode_media,
    expiry_after,
    movie_object_prefix,
    to_iso,
    utcnow,
)
from chalicelib.errors import InvalidInput, NotFound, StorageError
from chalicelib.services.hls import HlsLinks

MetadataLookup = Callable[[int], MovieMetadata | None]


class StreamService:
    def __init__(
        self,
        store: JobStore,
        objects: ObjectStore,
        *,
        metadata: MetadataLookup,
        retention_hours: int,
        url_seconds: int,
        poster_url: Callable[[str | None], str | None] = lambda path: None,
        clock: Clock = utcnow,
        hls: HlsLinks | None = None,
    ) -> None:
        self._hls = hls
        self._store = store
        self._objects = objects
        self._metadata = metadata
        self._retention_hours = retention_hours
        self._url_seconds = url_seconds
        self._poster_url = poster_url
        self._clock = clock

    def stream(self, ref: int | str, *, api_root: str) -> models.Stream:
        """``api_root``: the API's root URL as the request came in (``hls_url`` links under it)."""
        if isinstance(ref, str):
            job, stored, position = self._store.job_with_metadata(job_id=ref)
            missing = f"job {ref} not found"
        else:
            job, stored, position = self._store.job_with_metadata(movie_id=ref)
            missing = f"movie {ref} has not been fetched"
        if job is None:
            raise NotFound(missing)
        hls_url = self._hls.url(job, api_root) if self._hls is not None else None
        if job.status is not JobStatus.READY:
            if hls_url is None:
                raise InvalidInput(_not_ready_message(job.status, job.progress))
            return models.Stream(
                job_id=job.job_id,
                movie_id=job.movie_id,
                url=None,
                hls_url=hls_url,
                expires_at=to_iso(self._clock() + timedelta(seconds=self._url_seconds)),
                content_type=None,
                size_bytes=None,
                position_seconds=position,
                subtitles=[],
            )
        # "movie": the prefix also holds the HLS segments (hls/), which must not be taken for it
        key = job.object_key or self._objects.first_key(f"{movie_object_prefix(job.job_id)}movie")
        info = self._objects.head(key) if key else None
        if info is None:
            self._gone(job)
            raise StorageError("the movie file is missing from storage; fetch it again")
        url = self._objects.presign_get(info.key, self._url_seconds)

        metadata = stored or self._metadata(job.movie_id)
        now = self._clock()
        watched = self._store.record_watch(
            job,
            now=to_iso(now),
            expires_at=to_iso(expiry_after(now, self._retention_hours)),
            metadata=metadata,
            remember_metadata=stored is None and metadata is not None,
        )
        if watched is None:
            raise InvalidInput("the movie is no longer available to stream")
        return models.Stream(
            job_id=job.job_id,
            movie_id=job.movie_id,
            url=url,
            hls_url=hls_url,
            expires_at=to_iso(now + timedelta(seconds=self._url_seconds)),
            content_type=info.content_type,
            size_bytes=info.size_bytes,
            position_seconds=position,
            subtitles=self._subtitles(job),
        )

    def _subtitles(self, job: Job) -> list[models.StreamSubtitle]:
        """The converted subtitles, each signed like the movie (signing is local: no request)."""
        prefix = movie_object_prefix(job.job_id)
        return [
            models.StreamSubtitle(
                language=item.get("language"),
                label=str(item.get("label") or item.get("language") or "Subtitles"),
                forced=bool(item.get("forced")),
                url=self._objects.presign_get(item["key"], self._url_seconds),
            )
            for item in decode_media(job.media).get("subtitles") or []
            if isinstance(item, dict)
            and isinstance(item.get("key"), str)
            and item["key"].startswith(prefix)
        ]

    def save_position(self, movie_id: int, position_seconds: float) -> models.Position:
        """Where the viewer left off, on the movie's latest watch (one job-store request)."""
        entry = self._store.save_position(movie_id, position_seconds)
        if entry is None or entry.position_seconds is None:
            raise NotFound(f"movie {movie_id} has not been watched; stream it first")
        return models.Position(
            movie_id=entry.movie_id,
            job_id=entry.job_id,
            watched_at=entry.watched_at,
            position_seconds=entry.position_seconds,
        )

    def _gone(self, job: Job) -> None:
        """A ready job whose object is gone (the bucket's lifecycle backstop, a manual deletion)
        fails, so the next fetch starts a new job instead of returning this dead one for a week."""
        self._store.transition(
            job.job_id,
            from_statuses=[JobStatus.READY],
            to=JobStatus.ERROR,
            now=to_iso(self._clock()),
            error_message="the movie file is gone from storage; fetch it again",
            error_class="storage",
        )

    def history(self, limit: int, offset: int) -> models.History:
        """What was watched, newest first (one row per stream request)."""
        entries, total = self._store.history(limit, offset)
        return models.History(
            items=[
                models.HistoryEntry(
                    movie_id=entry.movie_id,
                    title=entry.title,
                    poster_path=entry.poster_path,
                    poster_url=self._poster_url(entry.poster_path),
                    watched_at=entry.watched_at,
                    job_id=entry.job_id,
                    position_seconds=entry.position_seconds,
                )
                for entry in entries
            ],
            total=total,
            limit=limit,
            offset=offset,
        )


def _not_ready_message(status: JobStatus, progress: float | None) -> str:
    if status is JobStatus.DOWNLOADING and progress is not None:
        return f"the movie is not ready to stream yet (downloading, {progress:.0f} %)"
    if status in (JobStatus.QUEUED, JobStatus.PREPARING, JobStatus.DOWNLOADING):
        return f"the movie is not ready to stream yet ({status.value})"
    if status is JobStatus.ERROR:
        return "the movie's fetch failed; fetch it again"
    return "the movie was deleted after its retention period; fetch it again"
