"""The message that travels from ``POST /fetch`` through the queue to the downloader task.

It names the job and the releases to try, never how to download them: the NZB URL embeds the indexer's
API key, so the downloader rebuilds it from the release id with its own secret (the design's
``nzb_url`` field is deliberately absent).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Fallback releases carried for auto mode; keeps the RunTask override far below ECS's 8 KiB.
MAX_CANDIDATES = 4


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    release_id: str = Field(min_length=1, max_length=200)
    release_title: str = Field(max_length=500)


class JobMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(pattern=r"^job_[0-9]{1,20}_[A-Za-z0-9]{1,32}$")
    movie_id: int = Field(ge=1)
    release_id: str = Field(min_length=1, max_length=200)
    release_title: str = Field(max_length=500)
    #: Next-best releases (auto mode), in rank order, for the downloader to fall back on.
    candidates: list[Candidate] = Field(default_factory=list, max_length=MAX_CANDIDATES)
    #: Where to POST the signed event when the job is ready or failed (checked by ``POST /fetch``
    #: and again, with its addresses, when sent: ``chalicelib/domain/notify.py``).
    notify_url: str | None = Field(default=None, max_length=2000)
    #: TMDB's ``original_language`` (ISO 639-1): the audio track the MP4 gets first.
    original_language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
