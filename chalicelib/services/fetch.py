"""``POST /movies/{id}/fetch``: choose a release, create the job atomically, queue it.

The job row is created before the message is sent, so a queue failure leaves a job to correct, never
a message about a job that does not exist: the job is marked ``error`` and the client gets JOB_ERROR.
An existing active job for the movie is returned as is (one job per movie) before the indexer is
asked, so repeated fetches cost no indexer call and work while it is down.

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
    Clock,
    Job,
    JobStatus,
    decode_skipped,
    new_job_id,
    to_iso,
    utcnow,
)
from chalicelib.domain.notify import NotifyPolicy, RefusedUrl, check_url
from chalicelib.errors import ApiError, InvalidInput, JobError, NotFound
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
        if previous is not None and previous.is_active:
            logger.info(
                "fetch found an active job", extra={"job_id": previous.job_id, "movie_id": movie_id}
            )
            return job_model(previous), False
        chosen, fallbacks = self._choose(movie_id, request, previous)

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
        )
        metadata = self._metadata(movie_id)
        stored, created = self._store.create_job(job, metadata)
        keys = {"job_id": stored.job_id, "movie_id": movie_id}
        if not created:
            logger.info("fetch found an active job", extra=keys)
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


#: Failures that belong to the release, not to the service: trying that release again fails again.
RELEASE_FAULTS = frozenset(
    {
        "password",
        "missing_articles",
        "too_large",
        "no_video",
        "unpack",
        "repair",
        "media",
        "indexer",
    }
)


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
