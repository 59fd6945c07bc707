"""``GET /movies/{id}/releases``: TMDB details → IMDb id → indexer → parsed → ranked.

The indexer is searched by IMDb id, which is exact; only when that finds nothing do we fall back to a
title + year text search, and then keep only releases whose parsed title and year match the movie, so a
same-named film from another decade cannot be offered. A movie TMDB has no IMDb id for has no releases.
Indexer results (already parsed) are cached for 15 minutes per IMDb id: ranking depends on the quality
preference, so it runs per request on the cached list, which costs well under a millisecond.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import cast

from chalicelib import models
from chalicelib.adapters.newznab import NewznabClient
from chalicelib.cache import TTLCache
from chalicelib.domain.indexer_release import IndexerRelease
from chalicelib.domain.jobs import to_iso
from chalicelib.domain.ranking import Film, Ranked, rank
from chalicelib.domain.release_parser import ParsedRelease, parse_release
from chalicelib.logs import logger
from chalicelib.services.discovery import Discovery

INDEXER_TTL = 15 * 60
#: How many releases the endpoint shows; fetch considers them all.
SHOWN = 20

Parsed = list[tuple[IndexerRelease, ParsedRelease]]


class ReleasesService:
    def __init__(
        self,
        discovery: Discovery,
        indexer: Callable[[], NewznabClient],
        cache: TTLCache[object],
        *,
        max_release_bytes: int,
    ) -> None:
        self._discovery = discovery
        #: Built on first use, so a missing indexer key fails this endpoint only, with its name.
        self._indexer = indexer
        self._cache = cache
        self._max_bytes = max_release_bytes

    def releases(
        self, movie_id: int, preference: str = "1080p", limit: int | None = SHOWN
    ) -> models.ReleaseList:
        """The movie's releases ranked best first (``limit`` None: all of them, for fetch)."""
        movie = self._discovery.movie(movie_id)
        if not movie.imdb_id:
            logger.info("movie has no IMDb id; no releases", extra={"movie_id": movie_id})
            return models.ReleaseList(movie_id=movie_id, imdb_id=None, releases=[])
        found = cast(
            Parsed,
            self._cache.get_or_load(
                ("releases", movie.imdb_id),
                INDEXER_TTL,
                lambda: self._search(movie.imdb_id or "", movie.title, movie.year, movie_id),
            ),
        )
        ranked = rank(
            found,
            preference=preference,
            max_bytes=self._max_bytes,
            film=Film(movie.title, movie.year, movie.original_language),
        )
        shown = ranked if limit is None else ranked[:limit]
        return models.ReleaseList(
            movie_id=movie_id, imdb_id=movie.imdb_id, releases=[_model(r) for r in shown]
        )

    def _search(self, imdb_id: str, title: str, year: int | None, movie_id: int) -> Parsed:
        indexer = self._indexer()
        found = [(item, parse_release(item.title)) for item in indexer.movie(imdb_id)]
        via = "imdb"
        if not found and title:
            query = f"{title} {year}" if year else title
            wanted = _normalise(title)
            found = [
                (item, parsed)
                for item, parsed in ((i, parse_release(i.title)) for i in indexer.search(query))
                if parsed.title is not None
                and _normalise(parsed.title) == wanted
                and (year is None or parsed.year is None or abs(parsed.year - year) <= 1)
            ]
            via = "title"
        logger.info(
            "indexer searched",
            extra={"movie_id": movie_id, "imdb_id": imdb_id, "via": via, "releases": len(found)},
        )
        return found


def _normalise(title: str) -> str:
    """Title identity across naming styles: case, accents, punctuation and "&"/"and" ignored."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().casefold()
    return re.sub(r"[^a-z0-9]+", "", folded.replace("&", "and"))


def _model(ranked: Ranked) -> models.Release:
    release, parsed = ranked.release, ranked.parsed
    return models.Release(
        release_id=release.release_id,
        title=release.title,
        size_bytes=release.size_bytes,
        published_at=to_iso(release.published_at) if release.published_at else None,
        grabs=release.grabs,
        resolution=parsed.resolution,
        source=parsed.source,
        modifier=parsed.modifier,
        remux=parsed.remux,
        codec=parsed.codec,
        hdr=parsed.hdr,
        proper=parsed.proper,
        repack=parsed.repack,
        group=parsed.group,
        year=parsed.year,
        score=ranked.score,
        score_reasons=ranked.reasons,
        rejected=ranked.rejected,
    )
