"""Watch-history queries, mixed into ``JobStore``: a stream request's watch and where the viewer
left off. Kept apart from ``jobs.py`` as one use case (what was watched, and from where to resume);
the store's cache and executor are the ones ``JobStore`` sets up.
"""

from __future__ import annotations

from chalicelib.adapters.store.executor import Executor, Statement
from chalicelib.adapters.store.records import (
    MovieMetadata,
    WatchEntry,
    job_from_row,
    watch_from_row,
)
from chalicelib.domain.jobs import Job, new_write_token


class WatchQueries:
    executor: Executor

    def _forget(self, job: Job) -> None:
        """Drop the cached reads of ``job`` (``JobStore`` owns the caches)."""
        raise NotImplementedError

    def record_watch(
        self,
        job: Job,
        *,
        now: str,
        expires_at: str,
        metadata: MovieMetadata | None,
        remember_metadata: bool = False,
    ) -> Job | None:
        """Mark a ready job watched (pushing its expiry) and append to the watch history, atomically.

        ``remember_metadata`` also stores ``metadata`` for later reads (when it came from TMDB).
        Returns None when the job stopped being ready in the meantime (nothing is recorded then).
        Safe to resend: the executor repeats a batch whose reply was lost, and the repeat finds its
        own history row (same job, same moment) and appends no second one.
        """
        title = metadata.title if metadata else None
        poster = metadata.poster_path if metadata else None
        statements = [
            Statement(
                "UPDATE jobs SET last_watched_at = ?, expires_at = ?, updated_at = ?, "
                "write_token = ? WHERE job_id = ? AND status = 'ready' RETURNING *",
                (now, expires_at, now, new_write_token(), job.job_id),
            ),
            Statement(
                "INSERT INTO watch_history (movie_id, title, poster_path, last_watched_at, job_id, "
                "status, position_seconds) SELECT ?, ?, ?, ?, ?, 'ready', "
                "(SELECT w.position_seconds FROM watch_history w WHERE w.movie_id = ? "
                "ORDER BY w.last_watched_at DESC, w.id DESC LIMIT 1) WHERE EXISTS "
                "(SELECT 1 FROM jobs WHERE job_id = ? AND status = 'ready' AND last_watched_at = ?) "
                "AND NOT EXISTS (SELECT 1 FROM watch_history WHERE job_id = ? AND last_watched_at = ?)",
                (
                    job.movie_id,
                    title,
                    poster,
                    now,
                    job.job_id,
                    job.movie_id,
                    job.job_id,
                    now,
                    job.job_id,
                    now,
                ),
            ),
        ]
        if metadata is not None and remember_metadata:
            statements.append(upsert_metadata(metadata, now))
        rows = self.executor.execute(statements)[0]
        updated = job_from_row(rows[0]) if rows else None
        self._forget(updated or job)
        return updated

    def save_position(self, movie_id: int, position_seconds: float) -> WatchEntry | None:
        """Store where the viewer left off on the movie's latest watch; None when it was never
        watched. One statement, and the same value written twice is the same row: safe to resend."""
        [rows] = self.executor.execute(
            [
                Statement(
                    "UPDATE watch_history SET position_seconds = ? WHERE id = (SELECT id FROM "
                    "watch_history WHERE movie_id = ? ORDER BY last_watched_at DESC, id DESC "
                    "LIMIT 1) RETURNING movie_id, title, poster_path, last_watched_at, job_id, "
                    "status, position_seconds",
                    (position_seconds, movie_id),
                )
            ]
        )
        return watch_from_row(rows[0]) if rows else None

    def history(self, limit: int, offset: int) -> tuple[list[WatchEntry], int]:
        page, count = self.executor.execute(
            [
                Statement(
                    "SELECT movie_id, title, poster_path, last_watched_at, job_id, status, "
                    "position_seconds FROM watch_history "
                    "ORDER BY last_watched_at DESC, id DESC LIMIT ? OFFSET ?",
                    (limit, offset),
                ),
                Statement("SELECT COUNT(*) AS total FROM watch_history"),
            ]
        )
        return [watch_from_row(row) for row in page], int(count[0]["total"])


def upsert_metadata(metadata: MovieMetadata, now: str) -> Statement:
    return Statement(
        "INSERT INTO movie_metadata (movie_id, title, poster_path, backdrop_path, overview, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (movie_id) DO UPDATE SET "
        "title = excluded.title, poster_path = excluded.poster_path, "
        "backdrop_path = excluded.backdrop_path, overview = excluded.overview, "
        "updated_at = excluded.updated_at",
        (
            metadata.movie_id,
            metadata.title,
            metadata.poster_path,
            metadata.backdrop_path,
            metadata.overview,
            now,
        ),
    )
