"""``POST /movies/{id}/fetch``: choose a release, create the job atomically, queue it.

The job row is created before the message is sent, so a queue failure leaves a job to correct, never
a message about a job that does not exist: the job is marked ``error`` and the client gets JOB_ERROR.
An existing active job for the movie is returned as is (one job per movie) before the indexer is
asked, so repeated fetches cost no indexer call and work while it is down. A manual fetch of another
release than that job's is refused with 409 and the job (never a silent 200 for a request not
honoured); with ``replace`` the job is stopped and deleted and the named release fetched instead.

Fetching again after a job failed because of its release (password, missing articles, no video…)
must not pick the same release again: auto mode passes over the releases the last job tried.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import models
from chalicelib.adapters.dispatch import JobQueue
from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.records import MovieMetadata
from chalicelib.domain.dispatch import MAX_CANDIDATES, Candidate, JobMessage
from chalicelib.domain.jobs import (
    ACTIVE_STATUSES,
    RELEASE_FAULTS,
    Clock,
    Job,
    JobStatus,
    decode_skipped,
    new_job_id,
    to_iso,
    utcnow,
)
from chalicelib.domain.notify import NotifyPolicy, RefusedUrl, check_url
from chalicelib.errors import ActiveJobConflict, ApiError, InvalidInput, JobError, NotFound
from chalicelib.logs import logger
from chalicelib.metrics import record_job_event
from chalicelib.services.jobs import job_model

FindReleases = Callable[[int, str], models.ReleaseList]
Metadata = Callable[[int], MovieMetadata | None]


class FetchService:
    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        *,
        find_releases: FindReleases,
        metadata: Metadata,
        notify_policy: NotifyPolicy | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._queue = queue
        self._find_releases = find_releases
        self._metadata = metadata
        self._clock = clock
        self._notify_policy = notify_policy or NotifyPolicy(frozenset())

    def fetch(self, movie_id: int, request: models.FetchRequest) -> tuple[models.Job, bool]:
        """The movie's job and whether it was created now (False: an active job already existed,
        and keeps the ``notify_url`` it was created with, if any)."""
        if request.notify_url is not None:
            try:
                check_url(request.notify_url, self._notify_policy)
            except RefusedUrl as refused:
                raise InvalidInput(str(refused)) from None
        previous = self._store.latest_job(movie_id)
        active = previous if previous is not None and previous.is_active else None
        if active is not None and not _other_release(active, request):
            logger.info(
                "fetch found an active job", extra={"job_id": active.job_id, "movie_id": movie_id}
            )
            return job_model(active), False
        if active is not None and not request.replace:
            raise _conflict(active, request)
        chosen, fallbacks = self._choose(movie_id, request, previous)
        if active is not None:
            self._replace(active, chosen)

        now = self._clock()
        job = Job(
            job_id=new_job_id(now),
            movie_id=movie_id,
            status=JobStatus.QUEUED,
            created_at=to_iso(now),
            updated_at=to_iso(now),
            progress=0.0,
            release_id=chosen.release_id,
            release_title=chosen.title,
            notify_url=request.notify_url,
        )
        metadata = self._metadata(movie_id)
        stored, created = self._store.create_job(job, metadata)
        keys = {"job_id": stored.job_id, "movie_id": movie_id}
        if not created:
            logger.info("fetch found an active job", extra=keys)
            if _other_release(stored, request):  # another request created it a moment earlier
                raise _conflict(stored, request)
            return job_model(stored), False
        logger.info(
            "job state changed",
            extra={**keys, "from": None, "to": "queued", "release": chosen.title},
        )
        record_job_event("JobsCreated")
        message = JobMessage(
            job_id=stored.job_id,
            movie_id=movie_id,
            release_id=chosen.release_id,
            release_title=chosen.title,
            candidates=[
                Candidate(release_id=r.release_id, release_title=r.title) for r in fallbacks
            ],
            notify_url=request.notify_url,
            original_language=_language(metadata),
        )
        try:
            self._queue.send(message)
        except ApiError as error:
            self._store.transition(
                stored.job_id,
                from_statuses=[JobStatus.QUEUED],
                to=JobStatus.ERROR,
                now=to_iso(self._clock()),
                error_message=f"could not queue the download: {error.message}",
                error_class="queue",
            )
            logger.error("job state changed", extra={**keys, "from": "queued", "to": "error"})
            record_job_event("JobsFailed", error_class="queue")
            raise JobError(error.message) from None
        return job_model(stored), True

    def _replace(self, active: Job, chosen: models.Release) -> None:
        """Stop ``active`` for a manual fetch of another release (``replace``: true), once that
        release is known to exist. The job is deleted as cleanup deletes an expired one
        (``expires_at`` now, so the next sweep removes whatever it stored); a downloader still
        working on it finds the job taken away at its next write and stops, aborting its upload."""
        now = to_iso(self._clock())
        replaced = self._store.transition(
            active.job_id,
            from_statuses=ACTIVE_STATUSES,
            to=JobStatus.DELETED,
            now=now,
            expires_at=now,
            speed_bps=None,
            eta_seconds=None,
        )
        logger.info(
            "job state changed",
            extra={
                "job_id": active.job_id,
                "movie_id": active.movie_id,
                "from": active.status.value,
                "to": "deleted" if replaced else "(moved meanwhile)",
                "reason": f"replaced by a manual fetch of {chosen.title}",
            },
        )

    def _choose(
        self, movie_id: int, request: models.FetchRequest, previous: Job | None
    ) -> tuple[models.Release, list[models.Release]]:
        releases = self._find_releases(movie_id, request.quality_preference).releases
        if request.mode == "manual":
            for release in releases:
                if release.release_id == request.release_id:
                    return release, []
            raise NotFound(f"release {request.release_id} is not one of this movie's releases")
        usable = [release for release in releases if not release.rejected]
        if not usable:
            raise NotFound("no releases available for this movie")
        tried = _tried_in_vain(previous)
        untried = [release for release in usable if release.release_id not in tried]
        if not untried:
            failure = previous.error_message if previous is not None else None
            raise NotFound(
                f"no other release to try: the last attempt failed ({failure}); "
                "fetch one by hand (manual mode) to try it again"
            )
        return untried[0], untried[1 : 1 + MAX_CANDIDATES]


def _conflict(active: Job, request: models.FetchRequest) -> ActiveJobConflict:
    """Nothing is started and nothing touched: the client hears which release the active job
    fetches and how to replace it (no indexer call: this answer works while the indexer is down)."""
    return ActiveJobConflict(
        f"the movie already has a {active.status.value} job ({active.job_id}) fetching "
        f"{active.release_title or active.release_id}, not release {request.release_id}; nothing "
        'was started. Send the request again with "replace": true to stop that job (deleting what '
        "it fetched) and fetch this release instead",
        job_model(active).model_dump(mode="json"),
    )


def _other_release(active: Job, request: models.FetchRequest) -> bool:
    """A manual fetch of a release the active job does not fetch (auto mode takes any release)."""
    return request.mode == "manual" and request.release_id != active.release_id


def _tried_in_vain(previous: Job | None) -> set[str]:
    """Releases the movie's last job failed with or passed over, when the failure was theirs."""
    if previous is None or previous.status is not JobStatus.ERROR:
        return set()
    if previous.error_class not in RELEASE_FAULTS:
        return set()
    tried = {item.release_id for item in decode_skipped(previous.skipped_releases)}
    return tried | ({previous.release_id} if previous.release_id else set())


def _language(metadata: MovieMetadata | None) -> str | None:
    """TMDB's original language when it is a plain ISO 639 code (the message refuses others)."""
    code = (metadata.original_language or "").lower() if metadata else ""
    return code if code.isascii() and code.isalpha() and 2 <= len(code) <= 3 else None
