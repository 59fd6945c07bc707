"""Job and movie-metadata queries, each use case in one round trip (cleanup's sweep is in
``cleanup.py``, the watch history in ``watches.py``, both mixed in: ``JobStore`` is still the one
place the SQL is reached from).

Reads of single jobs are cached for a few seconds in the process: clients poll job status, and a warm
Lambda answering the same poll twice within the cache window spends no D1 request on it. Writes made by
this process invalidate what they touch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from chalicelib.adapters.store.cleanup import CleanupQueries
from chalicelib.adapters.store.executor import (
    Executor,
    Param,
    Statement,
    placeholders,
    status_values,
)
from chalicelib.adapters.store.records import (
    JOB_COLUMNS,
    SERVER_SUMS,
    UPDATABLE,
    Figures,
    MovieMetadata,
    float_or_none,
    job_from_row,
    param,
    server_sums,
)
from chalicelib.adapters.store.watches import WatchQueries, upsert_metadata
from chalicelib.cache import Clock, TTLCache
from chalicelib.domain.jobs import (
    ACTIVE_STATUSES,
    Job,
    JobStatus,
    new_write_token,
)
from chalicelib.errors import JobError


class JobStore(CleanupQueries, WatchQueries):
    def __init__(
        self, executor: Executor, *, cache_seconds: float = 3.0, clock: Clock = time.monotonic
    ) -> None:
        self.executor = executor
        self._cache_seconds = cache_seconds
        # Values are 1-tuples so that "no such job" is cached too (a movie page asks for every movie).
        self._cache: TTLCache[tuple[Job | None]] = TTLCache(max_entries=1024, clock=clock)
        self._latest: TTLCache[dict[int, Job]] = TTLCache(max_entries=1, clock=clock)

    # -- reads -----------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        return self._cached(("job", job_id), "SELECT * FROM jobs WHERE job_id = ?", (job_id,))

    def latest_job(self, movie_id: int) -> Job | None:
        """The movie's most recent job (the one a movie page shows).

        Answered from a snapshot of every movie's latest job, read in one query and kept as long as
        a single job read: browsing movie pages, most of them never fetched, then costs one D1
        request per cache window per process instead of one per page, and is no staler than before.
        """
        snapshot = self._latest.get("all")
        if snapshot is None:
            [rows] = self.executor.execute(
                [
                    Statement(
                        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY movie_id "
                        "ORDER BY created_at DESC, rowid DESC) AS latest FROM jobs) WHERE latest = 1"
                    )
                ]
            )
            snapshot = {job.movie_id: job for job in map(job_from_row, rows)}
            self._latest.set("all", snapshot, self._cache_seconds)
        return snapshot.get(movie_id)

    def list_jobs(
        self, statuses: Sequence[JobStatus], limit: int, offset: int
    ) -> tuple[list[Job], int]:
        wanted = status_values(statuses)
        where = f"status IN ({placeholders(len(wanted))})"
        page, count = self.executor.execute(
            [
                Statement(
                    f"SELECT * FROM jobs WHERE {where} ORDER BY updated_at DESC, job_id DESC "
                    "LIMIT ? OFFSET ?",
                    (*wanted, limit, offset),
                ),
                Statement(f"SELECT COUNT(*) AS total FROM jobs WHERE {where}", wanted),
            ]
        )
        return [job_from_row(row) for row in page], int(count[0]["total"])

    def job_with_metadata(
        self, *, job_id: str | None = None, movie_id: int | None = None
    ) -> tuple[Job | None, MovieMetadata | None, float | None]:
        """A job (by id, or the movie's latest) with the movie's stored metadata and where its
        viewer left off (the latest watch's position), in one query."""
        select = (
            "SELECT j.*, m.title AS meta_title, m.poster_path AS meta_poster_path, "
            "(SELECT w.position_seconds FROM watch_history w WHERE w.movie_id = j.movie_id "
            "ORDER BY w.last_watched_at DESC, w.id DESC LIMIT 1) AS resume_seconds "
            "FROM jobs j LEFT JOIN movie_metadata m ON m.movie_id = j.movie_id "
        )
        if job_id is not None:
            statement = Statement(select + "WHERE j.job_id = ?", (job_id,))
        else:
            statement = Statement(
                select + "WHERE j.movie_id = ? ORDER BY j.created_at DESC, j.rowid DESC LIMIT 1",
                (movie_id,),
            )
        [rows] = self.executor.execute([statement])
        if not rows:
            return None, None, None
        row = rows[0]
        job = job_from_row(row)
        position = float_or_none(row.get("resume_seconds"))
        if row.get("meta_title") is None and row.get("meta_poster_path") is None:
            return job, None, position
        return (
            job,
            MovieMetadata(job.movie_id, row["meta_title"], row["meta_poster_path"]),
            position,
        )

    def figures(self, *, ready_since: str, errors_since: str) -> Figures:
        """Service figures in one round trip; p95 is nearest-rank (integer arithmetic, no math
        functions, which SQLite builds may lack). Per-server figures are those of the jobs that
        ended since ``errors_since`` (ready, or failed, then), summed from their ``servers`` JSON."""
        statuses, stored, ready, errors, servers = self.executor.execute(
            [
                Statement("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status"),
                Statement(
                    "SELECT COUNT(*) AS n, COALESCE(SUM(size_bytes), 0) AS bytes "
                    "FROM jobs WHERE status = 'ready'"
                ),
                Statement(
                    "WITH d AS (SELECT (julianday(ready_at) - julianday(created_at)) * 86400.0 AS s "
                    "FROM jobs WHERE ready_at IS NOT NULL AND ready_at >= ?), "
                    "r AS (SELECT s, ROW_NUMBER() OVER (ORDER BY s) AS rn, COUNT(*) OVER () AS n "
                    "FROM d) "
                    "SELECT (SELECT COUNT(*) FROM d) AS n, (SELECT AVG(s) FROM d) AS average, "
                    "(SELECT s FROM r WHERE rn = (95 * n + 99) / 100) AS p95",
                    (ready_since,),
                ),
                Statement(
                    "SELECT COALESCE(error_class, 'unknown') AS class, COUNT(*) AS n FROM jobs "
                    "WHERE status = 'error' AND updated_at >= ? GROUP BY 1",
                    (errors_since,),
                ),
                Statement(
                    "SELECT json_extract(s.value, '$.server') AS server, COUNT(*) AS jobs, "
                    + ", ".join(
                        f"SUM(json_extract(s.value, '$.{name}')) AS {name}" for name in SERVER_SUMS
                    )
                    + " FROM jobs j, json_each(j.servers) s WHERE j.servers IS NOT NULL "
                    "AND COALESCE(j.ready_at, j.updated_at) >= ? GROUP BY 1 ORDER BY 1",
                    (errors_since,),
                ),
            ]
        )
        timing = ready[0]
        return Figures(
            by_status={str(row["status"]): int(row["n"]) for row in statuses},
            movies_ready=int(stored[0]["n"]),
            bytes_stored=int(stored[0]["bytes"]),
            ready_count=int(timing["n"]),
            ready_average_seconds=float_or_none(timing["average"]),
            ready_p95_seconds=float_or_none(timing["p95"]),
            errors_by_class={str(row["class"]): int(row["n"]) for row in errors},
            servers=[server_sums(row) for row in servers],
        )

    # -- writes ----------------------------------------------------------------------------------

    def create_job(self, job: Job, metadata: MovieMetadata | None = None) -> tuple[Job, bool]:
        """Insert ``job`` unless the movie already has an active job; returns (job, created).

        One statement decides (the partial unique index refuses a second active job), so concurrent
        requests cannot both create. Comparing ids, not "did the insert return a row", keeps a retried
        request whose first attempt did insert from mistaking its own job for someone else's.
        """
        columns = [name for name in JOB_COLUMNS if getattr(job, name) is not None]
        values: tuple[Param, ...] = tuple(param(getattr(job, name)) for name in columns)
        active = status_values(ACTIVE_STATUSES)
        statements = [
            Statement(
                f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({placeholders(len(columns))}) "
                "ON CONFLICT DO NOTHING",
                values,
            ),
            Statement(
                f"SELECT * FROM jobs WHERE movie_id = ? AND status IN ({placeholders(len(active))})",
                (job.movie_id, *active),
            ),
        ]
        if metadata is not None:
            statements.append(upsert_metadata(metadata, job.created_at))
        rows = self.executor.execute(statements)[1]
        if not rows:
            raise JobError(
                "the job could not be created (no active job and the insert was refused)"
            )
        stored = job_from_row(rows[0])
        self._forget(stored)
        return stored, stored.job_id == job.job_id

    def transition(
        self,
        job_id: str,
        *,
        from_statuses: Iterable[JobStatus],
        to: JobStatus,
        now: str,
        token: str | None = None,
        **changes: Any,
    ) -> Job | None:
        """Compare-and-set: move the job to ``to`` only if it is in one of ``from_statuses``.

        Returns the updated job, or None when the job was not in an expected state (someone else
        moved it first, e.g. a redelivered queue message or cleanup's stale-job rule).

        Safe to resend. The write sets ``write_token``, and also matches a row whose last write
        carried the same token: when the executor repeats the statement because D1's reply was
        lost after the commit, the repeat finds its own success instead of "not in an expected
        state". Every other write to a job sets a token of its own, so a token matches only while
        nobody has written since. Pass one ``token`` (``new_write_token()``) for every attempt of
        one logical write, e.g. an SQS message id for a claim, so a caller's own retries match too.
        """
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        token = token or new_write_token()
        allowed = status_values(from_statuses)
        assignments = [
            "status = ?",
            "updated_at = ?",
            "write_token = ?",
            *(f"{name} = ?" for name in changes),
        ]
        params: tuple[Param, ...] = (
            str(to),
            now,
            token,
            *(param(value) for value in changes.values()),
            job_id,
            *allowed,
            token,
        )
        [rows] = self.executor.execute(
            [
                Statement(
                    f"UPDATE jobs SET {', '.join(assignments)} WHERE job_id = ? "
                    f"AND (status IN ({placeholders(len(allowed))}) OR write_token = ?) "
                    "RETURNING *",
                    params,
                )
            ]
        )
        job = job_from_row(rows[0]) if rows else None
        if job is not None:
            self._forget(job)
        return job

    def take(self, job_id: str, *, worker: str, now: str) -> Job | None:
        """The downloader's first write: make ``worker`` the job's one task. None when the job is
        not ``downloading`` or another task took it first (a second RunTask for one claim: an
        ECS reply lost, a Lambda timing out after the launch). Safe to resend: the worker's own
        id matches."""
        [rows] = self.executor.execute(
            [
                Statement(
                    "UPDATE jobs SET worker = ?, updated_at = ?, write_token = ? WHERE job_id = ? "
                    "AND status = 'downloading' AND (worker IS NULL OR worker = ?) RETURNING *",
                    (worker, now, new_write_token(), job_id, worker),
                )
            ]
        )
        job = job_from_row(rows[0]) if rows else None
        if job is not None:
            self._forget(job)
        return job

    # -- cache -----------------------------------------------------------------------------------

    def _cached(self, key: tuple[str, object], sql: str, params: tuple[Param, ...]) -> Job | None:
        cached = self._cache.get(key)
        if cached is not None:
            return cached[0]
        [rows] = self.executor.execute([Statement(sql, params)])
        job = job_from_row(rows[0]) if rows else None
        self._cache.set(key, (job,), self._cache_seconds)
        return job

    def _forget(self, job: Job) -> None:
        self._cache.invalidate(("job", job.job_id))
        self._latest.invalidate("all")

    def _forget_all(self) -> None:
        self._cache.clear()
        self._latest.clear()
