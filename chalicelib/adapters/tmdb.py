"""TMDB v3 client and the transforms from TMDB's shapes to the contract's models.

Authentication is the v4 "API Read Access Token" sent as a Bearer header (never a query parameter, so
it cannot leak through URLs in logs or exception messages). TMDB's payloads are read through lenient
models: missing fields get neutral defaults, ``""`` becomes null, and a payload that is not the expected
shape at all becomes TMDB_ERROR rather than a crash.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.adapters.http import (
    BodyTooLarge,
    describe_transport_error,
    logged_request,
    pooled_session,
    retry_after_seconds,
)
from chalicelib.errors import NotFound, TmdbError
from chalicelib.models import (
    CastMember,
    CrewMember,
    Genre,
    MovieDetails,
    MovieList,
    MovieSummary,
    ProductionCompany,
    SpokenLanguage,
)

#: TMDB serves pages 1..500 of any list, whatever ``total_pages`` says.
MAX_PAGE = 500
#: Billed cast shown in details; TMDB lists every extra, which no client needs.
CAST_LIMIT = 30
#: TMDB answers (a details page with credits is ~100 KB); anything far larger is refused unread.
MAX_REPLY_BYTES = 4 * 1024 * 1024
#: The crew jobs a movie page shows; the full crew of a blockbuster runs to hundreds of rows.
KEY_CREW_JOBS = frozenset(
    {
        "Director",
        "Screenplay",
        "Writer",
        "Story",
        "Novel",
        "Producer",
        "Executive Producer",
        "Director of Photography",
        "Original Music Composer",
        "Editor",
    }
)
POSTER_SIZE, BACKDROP_SIZE, PROFILE_SIZE, LOGO_SIZE = "w500", "w1280", "w185", "w185"


def image_url(base_url: str, size: str, path: str | None) -> str | None:
    """Absolute URL of a TMDB image path, or None when there is no image."""
    return f"{base_url.rstrip('/')}/{size}{path}" if path else None


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _TmdbMovie(_Lenient):
    id: int
    title: str | None = None
    original_title: str | None = None
    overview: str | None = None
    release_date: str | None = None
    poster_path: str | None = None
    backdrop_path: str | None = None
    vote_average: float | None = None
    vote_count: int | None = None
    popularity: float | None = None
    genre_ids: list[int] = Field(default_factory=list)
    original_language: str | None = None
    adult: bool = False


class _TmdbPage(_Lenient):
    page: int = 1
    total_pages: int = 0
    total_results: int = 0
    results: list[_TmdbMovie] = Field(default_factory=list)


class _TmdbNamed(_Lenient):
    id: int
    name: str


class _TmdbCompany(_TmdbNamed):
    logo_path: str | None = None
    origin_country: str | None = None


class _TmdbLanguage(_Lenient):
    iso_639_1: str
    english_name: str | None = None
    name: str | None = None


class _TmdbCast(_TmdbNamed):
    character: str | None = None
    order: int = 0
    profile_path: str | None = None


class _TmdbCrew(_TmdbNamed):
    job: str = ""
    department: str | None = None


class _TmdbCredits(_Lenient):
    cast: list[_TmdbCast] = Field(default_factory=list)
    crew: list[_TmdbCrew] = Field(default_factory=list)


class _TmdbDetails(_TmdbMovie):
    imdb_id: str | None = None
    runtime: int | None = None
    genres: list[_TmdbNamed] = Field(default_factory=list)
    tagline: str | None = None
    status: str | None = None
    budget: int | None = None
    revenue: int | None = None
    homepage: str | None = None
    production_companies: list[_TmdbCompany] = Field(default_factory=list)
    spoken_languages: list[_TmdbLanguage] = Field(default_factory=list)
    credits: _TmdbCredits = Field(default_factory=_TmdbCredits)


def _blank_to_none(value: str | None) -> str | None:
    return value if value and value.strip() else None


def _positive_or_none(value: int | None) -> int | None:
    """TMDB writes 0 for an unknown budget, revenue or runtime."""
    return value if value and value > 0 else None


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class TmdbClient:
    """The five TMDB calls discovery needs, each returning contract models."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.themoviedb.org",
        image_base_url: str = "https://image.tmdb.org/t/p",
        timeout: float = 5.0,
        language: str = "en-US",
        session: requests.Session | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._image_base_url = image_base_url.rstrip("/")
        self._timeout = timeout
        self._language = language
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._session = session or pooled_session()

    def search(self, query: str, page: int) -> MovieList:
        payload = self._get(
            "/3/search/movie", {"query": query, "page": page, "include_adult": "false"}
        )
        return self._movie_list(payload)

    def popular(self, page: int) -> MovieList:
        return self._movie_list(self._get("/3/movie/popular", {"page": page}))

    def top_rated(self, page: int) -> MovieList:
        return self._movie_list(self._get("/3/movie/top_rated", {"page": page}))

    def similar(self, movie_id: int, page: int) -> MovieList:
        payload = self._get(f"/3/movie/{movie_id}/similar", {"page": page}, movie_id=movie_id)
        return self._movie_list(payload)

    def details(self, movie_id: int) -> MovieDetails:
        payload = self._get(
            f"/3/movie/{movie_id}", {"append_to_response": "credits"}, movie_id=movie_id
        )
        try:
            movie = _TmdbDetails.model_validate(payload)
        except ValidationError:
            raise TmdbError("TMDB sent movie details in an unexpected shape") from None
        return self._details(movie)

    # -- transport -------------------------------------------------------------------------------

    def _get(
        self, path: str, params: dict[str, Any], *, movie_id: int | None = None
    ) -> dict[str, Any]:
        try:
            response = logged_request(
                self._session,
                "tmdb",
                "GET",
                self._base_url + path,
                params={**params, "language": self._language},
                headers=self._headers,
                timeout=self._timeout,
                max_bytes=MAX_REPLY_BYTES,
            )
        except BodyTooLarge:
            raise TmdbError(
                "TMDB sent a reply far larger than any of its answers; refused"
            ) from None
        except requests.RequestException as exc:
            raise TmdbError(f"TMDB {describe_transport_error(exc, self._timeout)}") from None
        if response.status_code == 404 and movie_id is not None:
            raise NotFound(f"movie {movie_id} not found")
        if response.status_code != 200:
            raise self._error_for(response)
        try:
            payload = response.json()
        except ValueError:
            raise TmdbError("TMDB sent a response that is not JSON") from None
        if not isinstance(payload, dict):
            raise TmdbError("TMDB sent a response in an unexpected shape")
        return payload

    @staticmethod
    def _error_for(response: requests.Response) -> TmdbError:
        status = response.status_code
        detail = ""
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("status_message"), str):
                detail = f": {body['status_message']}"
        except ValueError:
            pass
        if status == 401:
            return TmdbError(f"TMDB rejected the API key (HTTP 401){detail} (check TMDB_API_KEY)")
        if status == 429:
            wait = retry_after_seconds(response, default=10)
            return TmdbError(f"TMDB rate limit reached; retry in {wait} s", retry_after=wait)
        return TmdbError(f"TMDB answered HTTP {status}{detail}")

    # -- transforms ------------------------------------------------------------------------------

    def _image(self, size: str, path: str | None) -> str | None:
        return image_url(self._image_base_url, size, path)

    def _movie_list(self, payload: dict[str, Any]) -> MovieList:
        try:
            page = _TmdbPage.model_validate(payload)
        except ValidationError:
            raise TmdbError("TMDB sent a movie list in an unexpected shape") from None
        return MovieList(
            page=page.page,
            # Pages past 500 exist in TMDB's count but cannot be requested; don't advertise them.
            total_pages=min(page.total_pages, MAX_PAGE),
            total_results=page.total_results,
            results=[self._summary(movie) for movie in page.results],
        )

    def _summary_fields(self, movie: _TmdbMovie) -> dict[str, Any]:
        released = _parse_date(movie.release_date)
        return {
            "id": movie.id,
            "title": movie.title or movie.original_title or "",
            "original_title": _blank_to_none(movie.original_title),
            "overview": movie.overview or "",
            "release_date": released,
            "year": released.year if released else None,
            "poster_path": _blank_to_none(movie.poster_path),
            "poster_url": self._image(POSTER_SIZE, _blank_to_none(movie.poster_path)),
            "backdrop_url": self._image(BACKDROP_SIZE, _blank_to_none(movie.backdrop_path)),
            "vote_average": movie.vote_average or 0.0,
            "vote_count": movie.vote_count or 0,
            "popularity": movie.popularity or 0.0,
            "genre_ids": movie.genre_ids,
            "original_language": _blank_to_none(movie.original_language),
            "adult": movie.adult,
        }

    def _summary(self, movie: _TmdbMovie) -> MovieSummary:
        return MovieSummary(**self._summary_fields(movie))

    def _details(self, movie: _TmdbDetails) -> MovieDetails:
        fields = self._summary_fields(movie)
        fields["genre_ids"] = movie.genre_ids or [genre.id for genre in movie.genres]
        cast = sorted(movie.credits.cast, key=lambda member: member.order)[:CAST_LIMIT]
        return MovieDetails(
            **fields,
            imdb_id=_blank_to_none(movie.imdb_id),
            runtime=_positive_or_none(movie.runtime),
            genres=[Genre(id=genre.id, name=genre.name) for genre in movie.genres],
            tagline=_blank_to_none(movie.tagline),
            status=_blank_to_none(movie.status),
            budget=_positive_or_none(movie.budget),
            revenue=_positive_or_none(movie.revenue),
            homepage=_blank_to_none(movie.homepage),
            production_companies=[
                ProductionCompany(
                    id=company.id,
                    name=company.name,
                    logo_url=self._image(LOGO_SIZE, company.logo_path),
                    origin_country=_blank_to_none(company.origin_country),
                )
                for company in movie.production_companies
            ],
            spoken_languages=[
                SpokenLanguage(
                    iso_639_1=language.iso_639_1,
                    english_name=_blank_to_none(language.english_name),
                    name=_blank_to_none(language.name),
                )
                for language in movie.spoken_languages
            ],
            cast=[
                CastMember(
                    id=member.id,
                    name=member.name,
                    character=_blank_to_none(member.character),
                    order=member.order,
                    profile_url=self._image(PROFILE_SIZE, member.profile_path),
                )
                for member in cast
            ],
            crew=[
                CrewMember(
                    id=member.id,
                    name=member.name,
                    job=member.job,
                    department=_blank_to_none(member.department),
                )
                for member in movie.credits.crew
                if member.job in KEY_CREW_JOBS
            ],
        )
