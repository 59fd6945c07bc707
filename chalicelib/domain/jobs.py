"""Jobs: identity, lifecycle states and the timing rules shared by the API and the downloader.

Pure logic: no SQL, HTTP or boto3. Timestamps are UTC ISO-8601 strings of fixed width
(``2026-11-24T01:02:03.456Z``) so that the store can compare and sort them as text, which is all
SQLite/D1 needs for the retention and stale-job queries to use their indexes.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, get_args


class JobStatus(StrEnum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PREPARING = "preparing"
    READY = "ready"
    ERROR = "error"
    DELETED = "deleted"


#: A movie has at most one job in these states (enforced by a partial unique index).
ACTIVE_STATUSES: tuple[JobStatus, ...] = (
    JobStatus.QUEUED,
    JobStatus.DOWNLOADING,
    JobStatus.PREPARING,
    JobStatus.READY,
)
#: States in which a worker is expected to make progress; silence here means a dead worker.
IN_PROGRESS_STATUSES: tuple[JobStatus, ...] = (
    JobStatus.QUEUED,
    JobStatus.DOWNLOADING,
    JobStatus.PREPARING,
)
#: Statuses a client may filter the job list by (deleted jobs are never listed).
LISTABLE_STATUSES: tuple[JobStatus, ...] = (*ACTIVE_STATUSES, JobStatus.ERROR)

#: The release is at fault: trying it again fails again, another release may do.
ReleaseFault = Literal[
    "password", "missing_articles", "too_large", "no_video", "unpack", "repair", "media", "indexer"
]
#: The service or its operator is at fault: another release would fail the same way.
ServiceFault = Literal[
    "usenet_auth",
    "usenet",
    "storage",
    "disk",
    "stopped",
    "stale",
    "dispatch",
    "queue",
    "config",
    "internal",
]
#: Why a job failed, in a word a client can act on (``error_message`` says it for people). The
#: contract's ``ErrorClass`` enum is this list; mypy holds every place that fails a job to it.
ErrorClass = Literal[ReleaseFault, ServiceFault]
ERROR_CLASSES: tuple[ErrorClass, ...] = get_args(ErrorClass)
RELEASE_FAULTS: frozenset[str] = frozenset(get_args(ReleaseFault))


def known_error_class(value: str | None) -> ErrorClass | None:
    """A stored class as the contract knows it; None for none (a row from before classes were
    recorded) or one this version does not know (written by a newer downloader mid-deploy)."""
    for known in ERROR_CLASSES:
        if value == known:
            return known
    return None


#: How long clients should wait between polls. The downloader writes progress every 10 s, so polling
#: faster only spends the database's request budget on unchanged rows.
POLL_AFTER_SECONDS: dict[JobStatus, int] = {
    JobStatus.QUEUED: 5,
    JobStatus.DOWNLOADING: 10,
    JobStatus.PREPARING: 10,
}

JOB_ID_PATTERN = re.compile(r"job_[0-9]{1,20}_[A-Za-z0-9]{1,32}")
_ID_ALPHABET = string.ascii_lowercase + string.digits

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Fixed-width UTC text, so lexical order is time order."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_write_token() -> str:
    """A token for one logical write to a job: the store sets it with the write, and a resend of
    the same write (same token) finds its own earlier success instead of "someone else moved it"."""
    return secrets.token_hex(8)


def new_job_id(now: datetime) -> str:
    """``job_<ms since epoch>_<10 random chars>``: sortable by creation, unguessable, URL-safe."""
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
    return f"job_{int(now.timestamp() * 1000)}_{suffix}"


def is_job_id(text: str) -> bool:
    return len(text) <= 64 and JOB_ID_PATTERN.fullmatch(text) is not None


def movie_object_prefix(job_id: str) -> str:
    """Where a job's objects live in the bucket: cleanup deletes the prefix, stream lists it."""
    return f"movies/{job_id}/"


def movie_object_key(job_id: str, extension: str) -> str:
    """The movie the downloader uploads (``extension`` with its dot, e.g. ``.mp4``)."""
    return f"{movie_object_prefix(job_id)}movie{extension}"


def hls_object_prefix(job_id: str) -> str:
    """Where the segments and playlist published while the movie downloads live (HLS)."""
    return f"{movie_object_prefix(job_id)}hls/"


def subtitle_object_key(job_id: str, name: str) -> str:
    """A WebVTT subtitle beside the movie (cleanup's prefix delete takes it with the movie)."""
    return f"{movie_object_prefix(job_id)}subtitles/{name}"


def expiry_after(moment: datetime, retention_hours: int) -> datetime:
    """When cleanup deletes a movie last touched (ready or watched) at ``moment``."""
    return moment + timedelta(hours=retention_hours)


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table."""

    job_id: str
    movie_id: int
    status: JobStatus
    created_at: str
    updated_at: str
    progress: float | None = None
    release_id: str | None = None
    release_title: str | None = None
    ready_at: str | None = None
    #: When the first HLS segments were up, while the movie was still downloading (or None).
    playable_at: str | None = None
    expires_at: str | None = None
    last_watched_at: str | None = None
    error_message: str | None = None
    error_class: str | None = None
    #: JSON list of {release_id, release_title, reason} the downloader passed over.
    skipped_releases: str | None = None
    #: JSON list of sentences for people: what is worth knowing and is no failure.
    notes: str | None = None
    #: JSON list of ``ServerFigures``: what each Usenet server did, written when the job ends.
    servers: str | None = None
    #: The last write's token (``new_write_token``): lets a resent write recognise itself.
    write_token: str | None = None
    #: The downloader task that took the job (``JobStore.take``): one task per claim.
    worker: str | None = None
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed_bps: float | None = None
    eta_seconds: int | None = None
    object_key: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    #: JSON: what the downloader found in the file and did with it (``audio``: the track chosen
    #: and the ones available; ``subtitles``: converted to WebVTT or not, and why).
    media: str | None = None
    #: Where the job's event goes when it settles (the fetch's checked ``notify_url``), kept so
    #: that a failure written by cleanup or the dispatcher is announced as the downloader's are.
    notify_url: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def poll_after_seconds(self) -> int | None:
        return POLL_AFTER_SECONDS.get(self.status)


@dataclass(frozen=True, slots=True)
class SkippedRelease:
    """A release the downloader passed over for this job, and why (auto mode's candidates)."""

    release_id: str
    release_title: str
    reason: str


def encode_skipped(skipped: Sequence[SkippedRelease]) -> str:
    """The ``skipped_releases`` column's JSON."""
    return json.dumps([asdict(item) for item in skipped], ensure_ascii=False)


def encode_notes(notes: Sequence[str]) -> str:
    """The ``notes`` column's JSON."""
    return json.dumps(list(notes), ensure_ascii=False)


def encode_media(media: Mapping[str, object]) -> str:
    """The ``media`` column's JSON."""
    return json.dumps(dict(media), ensure_ascii=False)


def decode_media(raw: str | None) -> dict[str, Any]:
    """The column read back; anything unreadable is nothing known, never an error."""
    try:
        media = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return media if isinstance(media, dict) else {}


def decode_notes(raw: str | None) -> list[str]:
    """The column read back; anything unreadable is no notes, never an error."""
    try:
        items = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [item for item in items if isinstance(item, str)] if isinstance(items, list) else []


def decode_skipped(raw: str | None) -> list[SkippedRelease]:
    """The column read back; anything unreadable is treated as nothing skipped, never an error."""
    try:
        items = json.loads(raw) if raw else []
        return [SkippedRelease(**item) for item in items]
    except (ValueError, TypeError):
        return []
