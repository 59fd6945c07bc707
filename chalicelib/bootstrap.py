"""Composition root: builds settings, clients and services once per process and hands them out.

A warm Lambda reuses the container between invocations, which is what makes the caches and pooled HTTP
sessions pay off. Construction is lazy and per service, so a missing TMDB key breaks discovery only,
not the health check or the job endpoints; a failed construction is not remembered, so fixing the
environment of a long-running local server takes effect on the next request.
"""

from __future__ import annotations

import threading
from functools import cached_property

from chalicelib import __version__
from chalicelib.adapters.tmdb import TmdbClient
from chalicelib.cache import TTLCache
from chalicelib.logs import SERVICE
from chalicelib.models import Health
from chalicelib.services.discovery import Discovery
from chalicelib.settings import Settings, load_settings


class Container:
    """The services of one process, built from one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache: TTLCache[object] = TTLCache(max_entries=2048)

    @cached_property
    def discovery(self) -> Discovery:
        settings = self.settings
        tmdb = TmdbClient(
            settings.tmdb_api_key(),
            base_url=settings.TMDB_BASE_URL,
            image_base_url=settings.TMDB_IMAGE_BASE_URL,
            timeout=settings.TMDB_TIMEOUT_SECONDS,
            language=settings.TMDB_LANGUAGE,
        )
        return Discovery(tmdb, self.cache)

    def health(self) -> Health:
        return Health(status="ok", service=SERVICE, version=__version__, stage=self.settings.STAGE)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """The process-wide container, created on first use."""
    global _container
    with _lock:
        if _container is None:
            _container = Container(load_settings())
        return _container


def reset() -> None:
    """Forget the container (tests, or after the environment changed)."""
    global _container
    with _lock:
        _container = None
