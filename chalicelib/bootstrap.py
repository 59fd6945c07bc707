"""Composition root: builds settings, clients and services once per process and hands them out.

A warm Lambda reuses the container between invocations, which is what makes the caches and pooled HTTP
sessions pay off. Construction is lazy and per service, so a missing TMDB key breaks discovery only,
not the health check or the job endpoints; a failed construction is not remembered, so fixing the
environment of a long-running local server takes effect on the next request.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib import __version__

if TYPE_CHECKING:
    from chalicelib.adapters.dispatch import JobQueue, TaskLauncher
    from chalicelib.adapters.newznab import NewznabClient
    from chalicelib.adapters.objects import ObjectStore
    from chalicelib.adapters.store import Executor, JobStore
    from chalicelib.adapters.store.records import MovieMetadata
    from chalicelib.cache import TTLCache
    from chalicelib.models import Health
    from chalicelib.services.cleanup import CleanupService
    from chalicelib.services.discovery import Discovery
    from chalicelib.services.dispatch import Dispatcher
    from chalicelib.services.fetch import FetchService
    from chalicelib.services.hls import HlsLinks
    from chalicelib.services.jobs import JobsService
    from chalicelib.services.notices import FailureNotices
    from chalicelib.services.releases import ReleasesService
    from chalicelib.services.stats import StatsService
    from chalicelib.services.stream import StreamService
    from chalicelib.settings import Settings


class Container:
    """The services of one process, built from one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        from chalicelib.cache import TTLCache

        self.settings = settings
        self.cache: TTLCache[object] = TTLCache(max_entries=2048)

    @cached_property
    def discovery(self) -> Discovery:
        from chalicelib.adapters.tmdb import TmdbClient
        from chalicelib.services.discovery import Discovery

        settings = self.settings
        tmdb = TmdbClient(
            settings.tmdb_api_key(),
            base_url=settings.TMDB_BASE_URL,
            image_base_url=settings.TMDB_IMAGE_BASE_URL,
            timeout=settings.TMDB_TIMEOUT_SECONDS,
            language=settings.TMDB_LANGUAGE,
        )
        return Discovery(tmdb, self.cache, self.jobs)

    @cached_property
    def indexer(self) -> NewznabClient:
        from chalicelib.adapters import builders

        return builders.indexer(self.settings)

    @cached_property
    def releases(self) -> ReleasesService:
        from chalicelib.services.releases import ReleasesService

        return ReleasesService(
            self.discovery,
            lambda: self.indexer,
            self.cache,
            max_release_bytes=int(self.settings.MAX_RELEASE_GB * 1e9),
        )

    @cached_property
    def fetch(self) -> FetchService:
        from chalicelib.services.fetch import FetchService

        return FetchService(
            self.store,
            self.queue,
            find_releases=lambda movie_id, quality: self.releases.releases(
                movie_id, quality, limit=None
            ),
            metadata=self._movie_metadata,
            notify_policy=self.settings.notify_policy(),
        )

    @cached_property
    def executor(self) -> Executor:
        from chalicelib.adapters import builders

        return builders.job_executor(self.settings)

    @cached_property
    def store(self) -> JobStore:
        from chalicelib.adapters import builders

        return builders.job_store(self.settings, self.executor)

    @cached_property
    def objects(self) -> ObjectStore:
        from chalicelib.adapters import builders

        return builders.object_store(self.settings)

    @cached_property
    def jobs(self) -> JobsService:
        from chalicelib.services.jobs import JobsService

        return JobsService(self.store)

    @cached_property
    def stats(self) -> StatsService:
        from chalicelib.services.stats import StatsService

        return StatsService(self.store)

    @cached_property
    def stream(self) -> StreamService:
        from chalicelib.adapters.tmdb import POSTER_SIZE, image_url
        from chalicelib.services.stream import StreamService

        return StreamService(
            self.store,
            self.objects,
            hls=self.hls,
            metadata=self._movie_metadata,
            retention_hours=self.settings.RETENTION_HOURS,
            url_seconds=self.settings.STREAM_URL_SECONDS,
            poster_url=lambda path: image_url(self.settings.TMDB_IMAGE_BASE_URL, POSTER_SIZE, path),
        )

    @cached_property
    def hls(self) -> HlsLinks:
        from chalicelib.services.hls import HlsLinks, playlist_key

        return HlsLinks(
            self.objects,
            lambda: playlist_key(self.settings.r2_credentials()[1]),
            url_seconds=self.settings.STREAM_URL_SECONDS,
        )

    @cached_property
    def cleanup(self) -> CleanupService:
        from chalicelib.services.cleanup import CleanupService

        return CleanupService(
            self.store,
            self.objects,
            retention_hours=self.settings.RETENTION_HOURS,
            stale_minutes=self.settings.STALE_JOB_MINUTES,
            purge_after_days=self.settings.PURGE_AFTER_DAYS,
            stats=self.stats,
            notices=self.notices,
        )

    @cached_property
    def launcher(self) -> TaskLauncher:
        from chalicelib.adapters.dispatch import EcsLauncher, ProcessLauncher

        settings = self.settings
        if settings.DISPATCH == "local":
            return ProcessLauncher(Path(settings.SQLITE_PATH).parent / "logs")
        cluster, task_definition, subnets, groups = settings.ecs_target()
        return EcsLauncher(
            cluster=cluster,
            task_definition=task_definition,
            subnets=subnets,
            security_groups=groups,
            assign_public_ip=settings.ECS_ASSIGN_PUBLIC_IP,
            container_name=settings.ECS_CONTAINER_NAME,
        )

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from chalicelib.services.dispatch import Dispatcher

        return Dispatcher(self.store, self.launcher, notices=self.notices)

    @cached_property
    def notices(self) -> FailureNotices:
        from chalicelib.adapters.notify import Notifier
        from chalicelib.services.notices import FailureNotices

        settings = self.settings
        return FailureNotices(lambda: Notifier(settings.notify_secret(), settings.notify_policy()))

    @cached_property
    def queue(self) -> JobQueue:
        from chalicelib.adapters.dispatch import LocalQueue, SqsQueue

        if self.settings.DISPATCH == "local":
            return LocalQueue(self.dispatcher.handle)
        return SqsQueue(self.settings.jobs_queue_url())

    def _movie_metadata(self, movie_id: int) -> MovieMetadata | None:
        from chalicelib.adapters.store.records import MovieMetadata
        from chalicelib.errors import ApiError
        from chalicelib.logs import logger

        """Title and poster for the watch history; history must not fail because TMDB does."""
        try:
            movie = self.discovery.movie(movie_id)
        except ApiError as error:
            logger.warning(
                "no TMDB metadata for the watch history",
                extra={"movie_id": movie_id, "error": error.message},
            )
            return None
        return MovieMetadata(
            movie_id=movie_id,
            title=movie.title,
            poster_path=movie.poster_path,
            backdrop_path=None,
            overview=movie.overview,
            original_language=movie.original_language,
        )

    def health(self) -> Health:
        from chalicelib.logs import SERVICE
        from chalicelib.models import Health

        return Health(status="ok", service=SERVICE, version=__version__, stage=self.settings.STAGE)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """The process-wide container, created on first use."""
    global _container
    with _lock:
        if _container is None:
            from chalicelib.settings import load_settings

            _container = Container(load_settings())
        return _container


def reset() -> None:
    """Forget the container (tests, or after the environment changed)."""
    global _container
    with _lock:
        _container = None
