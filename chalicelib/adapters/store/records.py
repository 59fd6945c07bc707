"""The rows the job store reads and writes, as Python values: jobs, watch history, metadata, figures.

``jobs.py`` holds every SQL statement; this module only turns rows into records and values into
parameters, the same for SQLite and D1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from chalicelib.adapters.store.executor import Param, Row
from chalicelib.domain.jobs import Job, JobStatus
from chalicelib.domain.server_figures import ServerFigures

JOB_COLUMNS = tuple(f.name for f in fields(Job))
#: Columns a transition may set besides status and updated_at.
UPDATABLE = frozenset(JOB_COLUMNS) - {
    "job_id",
    "movie_id",
    "created_at",
    "status",
    "updated_at",
    "write_token",  # set by every write itself, never as a change
}


@dataclass(frozen=True)
class MovieMetadata:
    movie_id: int
    title: str | None
    poster_path: str | None
    backdrop_path: str | None = None
    overview: str | None = None
    #: TMDB's ISO 639-1 code; carried to the downloader (audio choice), not stored.
    original_language: str | None = None


@dataclass(frozen=True)
class WatchEntry:
    movie_id: int
    title: str | None
    poster_path: str | None
    watched_at: str
    job_id: str | None
    status: str | None
    #: Where the viewer left off, seconds into the film (``PUT /movies/{id}/position``).
    position_seconds: float | None = None


@dataclass(frozen=True)
class Figures:
    """What ``/stats`` reports, straight from job rows (no bucket listing)."""

    by_status: dict[str, int]
    movies_ready: int
    bytes_stored: int
    ready_count: int
    ready_average_seconds: float | None
    ready_p95_seconds: float | None
    errors_by_class: dict[str, int]
    #: Per-server figures of the jobs that ended since ``servers_since``, summed by server.
    servers: list[tuple[ServerFigures, int]]


@dataclass(frozen=True)
class Sweep:
    """What one cleanup query found."""

    stale: list[Job]
    #: Deleted jobs whose objects are still to be removed: those this sweep claimed (ready past
    #: their expiry) and any an earlier run could not finish.
    to_remove: list[Job]
    purged: int


def job_from_row(row: Row) -> Job:
    values: dict[str, Any] = {name: row.get(name) for name in JOB_COLUMNS}
    values["status"] = JobStatus(values["status"])
    values["movie_id"] = int(values["movie_id"])
    return Job(**values)


#: The per-server figures ``JobStore.figures`` sums over jobs.
SERVER_SUMS = ("articles_fetched", "articles_missing", "articles_corrupt", "bytes", "seconds")


def server_sums(row: Row) -> tuple[ServerFigures, int]:
    """One server's summed figures and how many jobs they come from."""
    return (
        ServerFigures(
            server=str(row["server"]),
            articles_fetched=int(row["articles_fetched"] or 0),
            articles_missing=int(row["articles_missing"] or 0),
            articles_corrupt=int(row["articles_corrupt"] or 0),
            bytes=int(row["bytes"] or 0),
            seconds=round(float(row["seconds"] or 0.0), 3),
        ),
        int(row["jobs"]),
    )


def watch_from_row(row: Row) -> WatchEntry:
    return WatchEntry(
        movie_id=int(row["movie_id"]),
        title=row["title"],
        poster_path=row["poster_path"],
        watched_at=row["last_watched_at"],
        job_id=row["job_id"],
        status=row["status"],
        position_seconds=float_or_none(row.get("position_seconds")),
    )


def float_or_none(value: object) -> float | None:
    return round(float(value), 1) if isinstance(value, int | float) else None


def param(value: object) -> Param:
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)
