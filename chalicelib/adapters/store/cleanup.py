"""Cleanup's queries, mixed into ``JobStore``: the hourly sweep and the end of a movie's removal.

Kept apart from ``jobs.py`` because they are one use case with its own rules (claim expired jobs as
``deleted`` before their files go; retry what could not be deleted); the store's cache and executor
are the ones ``JobStore`` sets up.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.adapters.store.executor import Executor, Statement, placeholders, status_values
from chalicelib.adapters.store.records import Sweep, job_from_row
from chalicelib.domain.jobs import IN_PROGRESS_STATUSES, new_write_token


class CleanupQueries:
    executor: Executor

    def _forget_all(self) -> None:
        """Drop every cached read (``JobStore`` owns the caches)."""
        raise NotImplementedError

    def sweep(self, *, now: str, stale_before: str, purge_before: str, ready_before: str) -> Sweep:
        """Cleanup's one read-and-fix batch: fail silent in-progress jobs, purge old rows, claim
        ready jobs past their expiry (or, lacking one, ready since before ``ready_before``) as
        ``deleted``, and list the deleted jobs whose objects are still to be removed.

        Claiming first makes the delete conditional on the job still being expired at that moment:
        a stream request that pushed ``expires_at`` forward a moment earlier keeps its movie, and
        one a moment later finds the job deleted instead of a URL to a file about to vanish. A
        deleted job keeps its ``expires_at`` until ``objects_removed`` clears it, so objects a run
        could not delete are retried by the next one.
        """
        in_progress = status_values(IN_PROGRESS_STATUSES)
        stale, purged, _, to_remove = self.executor.execute(
            [
                Statement(
                    "UPDATE jobs SET status = 'error', updated_at = ?, write_token = ?, "
                    "error_message = 'worker stopped responding', error_class = 'stale', "
                    "playable_at = NULL "
                    f"WHERE status IN ({placeholders(len(in_progress))}) AND updated_at < ? "
                    "RETURNING *",
                    (now, new_write_token(), *in_progress, stale_before),
                ),
                Statement(
                    "DELETE FROM jobs WHERE (status = 'error' OR (status = 'deleted' AND "
                    "expires_at IS NULL)) AND updated_at < ? RETURNING job_id",
                    (purge_before,),
                ),
                Statement(
                    "UPDATE jobs SET status = 'deleted', updated_at = ?, write_token = ?, "
                    "expires_at = COALESCE(expires_at, ?) WHERE status = 'ready' AND "
                    "(expires_at <= ? OR (expires_at IS NULL AND ready_at <= ?)) RETURNING job_id",
                    (now, new_write_token(), now, now, ready_before),
                ),
                Statement(
                    "SELECT * FROM jobs WHERE status = 'deleted' AND expires_at IS NOT NULL "
                    "ORDER BY expires_at",
                ),
            ]
        )
        self._forget_all()
        return Sweep(
            stale=[job_from_row(row) for row in stale],
            to_remove=[job_from_row(row) for row in to_remove],
            purged=len(purged),
        )

    def objects_removed(self, job_ids: Sequence[str], *, now: str) -> list[str]:
        """Deleted jobs whose objects are gone now (nothing left to retry), in one round trip."""
        if not job_ids:
            return []
        results = self.executor.execute(
            [
                Statement(
                    "UPDATE jobs SET expires_at = NULL, updated_at = ?, write_token = ? "
                    "WHERE job_id = ? AND status = 'deleted' RETURNING job_id",
                    (now, new_write_token(), job_id),
                )
                for job_id in job_ids
            ]
        )
        self._forget_all()
        return [rows[0]["job_id"] for rows in results if rows]
