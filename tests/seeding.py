"""Putting jobs into a store the way the service does: created ``queued``, then moved on.

Tests seed through the real store's ``create_job`` and ``transition`` (never raw SQL), so a seeded
job has been through the same rules as a production one and a schema change breaks one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import Job, JobStatus, new_job_id, to_iso, utcnow

RELEASE_ID = "r1"
RELEASE_TITLE = "Fight.Club.1999.1080p.BluRay.x264-GROUP"


def seed_job(
    store: JobStore,
    status: JobStatus = JobStatus.QUEUED,
    *,
    movie_id: int = 550,
    at: datetime | None = None,
    moved_at: str | None = None,
    **fields: Any,
) -> Job:
    """A job created at ``at`` (default now) and moved to ``status`` at ``moved_at`` (default ``at``)
    with ``fields`` (progress, ready_at, error_message…) set by that transition."""
    created = at or utcnow()
    job = Job(
        job_id=new_job_id(created),
        movie_id=movie_id,
        status=JobStatus.QUEUED,
        created_at=to_iso(created),
        updated_at=to_iso(created),
        release_id=RELEASE_ID,
        release_title=RELEASE_TITLE,
    )
    stored, _ = store.create_job(job)
    if status is JobStatus.QUEUED and not fields:
        return stored
    moved = store.transition(
        stored.job_id,
        from_statuses=[JobStatus.QUEUED],
        to=status,
        now=moved_at or to_iso(created),
        **fields,
    )
    assert moved is not None, f"could not move the seeded job to {status.value}"
    return moved
