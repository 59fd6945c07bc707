"""Pydantic models of the contract's response bodies (``docs/API_CONTRACT.yml``).

Services return these; the HTTP layer serialises them with ``model_dump(mode="json")``. The contract is
the source of truth and the test suite validates every response against it, so a field added here
without the contract (or the other way round) fails the tests.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class MovieSummary(_Model):
    id: int
    title: str
    original_title: str | None
    overview: str
    release_date: date | None
    year: int | None
    poster_path: str | None
    poster_url: str | None
    backdrop_url: str | None
    vote_average: float
    vote_count: int
    popularity: float
    genre_ids: list[int]
    original_language: str | None
    adult: bool


class MovieList(_Model):
    page: int
    total_pages: int
    total_results: int
    results: list[MovieSummary]


class Genre(_Model):
    id: int
    name: str


class ProductionCompany(_Model):
    id: int
    name: str
    logo_url: str | None
    origin_country: str | None


class SpokenLanguage(_Model):
    iso_639_1: str
    english_name: str | None
    name: str | None


class CastMember(_Model):
    id: int
    name: str
    character: str | None
    order: int
    profile_url: str | None


class CrewMember(_Model):
    id: int
    name: str
    job: str
    department: str | None


class JobStatusSummary(_Model):
    """The latest job for a movie, as embedded in movie details."""

    job_id: str
    status: str
    progress: float | None
    error_message: str | None
    error_class: str | None


class MovieDetails(MovieSummary):
    imdb_id: str | None
    runtime: int | None
    genres: list[Genre]
    tagline: str | None
    status: str | None
    budget: int | None
    revenue: int | None
    homepage: str | None
    production_companies: list[ProductionCompany]
    spoken_languages: list[SpokenLanguage]
    cast: list[CastMember]
    crew: list[CrewMember]
    job_status: JobStatusSummary | None = None


class Health(_Model):
    status: str
    service: str
    version: str
    stage: str


class SkippedRelease(_Model):
    release_id: str
    release_title: str
    reason: str


class ServerFigures(_Model):
    """What one Usenet server did: for a job (``Job.servers``) or summed (``Stats``)."""

    server: str
    articles_fetched: int
    articles_missing: int
    articles_corrupt: int
    bytes: int
    seconds: float
    throughput_bps: float


class ServerTotals(ServerFigures):
    jobs: int


class AudioTrack(_Model):
    index: int
    language: str | None
    codec: str
    title: str | None
    channels: int | None
    default: bool
    commentary: bool
    audio_description: bool


class Audio(_Model):
    """Which audio track the MP4 got first (and only), why, and what the release offered."""

    original_language: str | None
    chosen: AudioTrack | None
    reason: str
    transcoded: bool
    available: list[AudioTrack]


class JobSubtitle(_Model):
    """A subtitle track of the release: converted to WebVTT (listed in the stream) or why not."""

    language: str | None
    label: str
    forced: bool
    codec: str
    source: Literal["embedded", "file"]
    converted: bool
    reason: str | None


class Job(_Model):
    job_id: str
    movie_id: int
    status: str
    progress: float | None
    release_id: str | None
    release_title: str | None
    error_message: str | None
    error_class: str | None
    created_at: str
    updated_at: str
    ready_at: str | None
    playable_at: str | None
    expires_at: str | None
    last_watched_at: str | None
    downloaded_bytes: int | None
    total_bytes: int | None
    speed_bps: float | None
    eta_seconds: int | None
    poll_after_seconds: int | None
    skipped_releases: list[SkippedRelease]
    notes: list[str]
    servers: list[ServerFigures]
    audio: Audio | None
    subtitles: list[JobSubtitle]


class JobList(_Model):
    jobs: list[Job]
    total: int
    limit: int
    offset: int


class Stream(_Model):
    job_id: str
    movie_id: int
    url: str | None
    hls_url: str | None
    expires_at: str
    content_type: str | None
    size_bytes: int | None
    position_seconds: float | None
    subtitles: list[StreamSubtitle]


class StreamSubtitle(_Model):
    language: str | None
    label: str
    forced: bool
    url: str


class HistoryEntry(_Model):
    movie_id: int
    title: str | None
    poster_path: str | None
    poster_url: str | None
    watched_at: str
    job_id: str | None
    position_seconds: float | None


class Position(_Model):
    """The answer to ``PUT /movies/{id}/position``: the watch the position was stored on."""

    movie_id: int
    job_id: str | None
    watched_at: str
    position_seconds: float


class PositionRequest(BaseModel):
    """``PUT /movies/{id}/position`` body: seconds into the film, at most a week (no film is longer)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    position_seconds: float = Field(ge=0, le=604_800)


class History(_Model):
    items: list[HistoryEntry]
    total: int
    limit: int
    offset: int


class FetchRequest(BaseModel):
    """``POST /movies/{id}/fetch`` body; unknown fields are refused so typos don't pass silently."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    mode: Literal["auto", "manual"]
    release_id: str | None = Field(default=None, min_length=1, max_length=200)
    quality_preference: Literal["720p", "1080p", "4K"] = "1080p"
    #: Manual mode: stop the movie's active job if it fetches another release, and fetch this one.
    replace: bool = False
    notify_url: str | None = Field(default=None, min_length=1, max_length=2000)


class Release(_Model):
    release_id: str
    title: str
    size_bytes: int | None
    published_at: str | None
    grabs: int | None
    resolution: str | None
    source: str | None
    modifier: str | None
    remux: bool
    codec: str | None
    hdr: str | None
    proper: bool
    repack: bool
    group: str | None
    year: int | None
    score: float
    score_reasons: list[str]
    rejected: bool


class ReleaseList(_Model):
    movie_id: int
    imdb_id: str | None
    releases: list[Release]


class TimeToReady(_Model):
    window_days: int
    count: int
    average_seconds: float | None
    p95_seconds: float | None


class Stats(_Model):
    generated_at: str
    jobs_by_status: dict[str, int]
    active_jobs: int
    movies_ready: int
    bytes_stored: int
    time_to_ready: TimeToReady
    errors_last_24h: dict[str, int]
    servers_last_24h: list[ServerTotals]
