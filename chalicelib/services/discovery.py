"""Discovery use cases: TMDB lists and details behind the process-wide cache.

TTLs follow the spec (lists change daily, details rarely). Only TMDB's part of a movie's details is
cached; its ``job_status`` is live state and is looked up on every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

from chalicelib.adapters.tmdb import TmdbClient
from chalicelib.cache import TTLCache
from chalicelib.models import JobStatusSummary, MovieDetails, MovieList

LIST_TTL = 60 * 60
DETAILS_TTL = 24 * 60 * 60
SEARCH_TTL = 10 * 60


class JobStatusSource(Protocol):
    """Where movie details learn about the latest job for a movie (the job store)."""

    def latest_job_status(self, movie_id: int) -> JobStatusSummary | None: ...


class NoJobs:
    """The job status source used until a job store is configured."""

    def latest_job_status(self, movie_id: int) -> JobStatusSummary | None:
        return None


class Discovery:
    #: How long a list or a search answer may be reused (here and by HTTP caches: Cache-Control).
    LIST_TTL = LIST_TTL
    SEARCH_TTL = SEARCH_TTL

    def __init__(
        self, tmdb: TmdbClient, cache: TTLCache[object], jobs: JobStatusSource | None = None
    ) -> None:
        self._tmdb = tmdb
        self._cache = cache
        self._jobs = jobs or NoJobs()

    def search(self, query: str, page: int) -> MovieList:
        return self._list(
            ("search", query.casefold(), page), SEARCH_TTL, lambda: self._tmdb.search(query, page)
        )

    def popular(self, page: int) -> MovieList:
        return self._list(("popular", page), LIST_TTL, lambda: self._tmdb.popular(page))

    def top_rated(self, page: int) -> MovieList:
        return self._list(("top_rated", page), LIST_TTL, lambda: self._tmdb.top_rated(page))

    def similar(self, movie_id: int, page: int) -> MovieList:
        return self._list(
            ("similar", movie_id, page), LIST_TTL, lambda: self._tmdb.similar(movie_id, page)
        )

    def movie(self, movie_id: int) -> MovieDetails:
        """TMDB's details of a movie (cached), without the live job status."""
        cached = self._cache.get_or_load(
            ("details", movie_id), DETAILS_TTL, lambda: self._tmdb.details(movie_id)
        )
        return cast(MovieDetails, cached)

    def details(self, movie_id: int) -> MovieDetails:
        return self.movie(movie_id).model_copy(
            update={"job_status": self._jobs.latest_job_status(movie_id)}
        )

    def _list(self, key: tuple[object, ...], ttl: int, load: Callable[[], MovieList]) -> MovieList:
        return cast(MovieList, self._cache.get_or_load(key, ttl, load))
