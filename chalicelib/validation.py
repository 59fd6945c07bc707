"""Parsing and validation of request parameters, with the leniency the contract documents.

Ids are strict (anything but a canonical positive integer is INVALID_INPUT) because a wrong id silently
reinterpreted would show the wrong movie; ``page`` is lenient because a bad page number has an obvious
harmless meaning (the first page).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from chalicelib.domain.jobs import ACTIVE_STATUSES, LISTABLE_STATUSES, JobStatus, is_job_id
from chalicelib.errors import InvalidInput, validation_problems

if TYPE_CHECKING:
    from chalicelib.models import FetchRequest

MAX_PAGE = 500
MAX_MOVIE_ID = 2_147_483_647
MAX_QUERY_LENGTH = 500

_DIGITS = re.compile(r"[0-9]{1,10}")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_page(raw: str | None) -> int:
    """The page to serve: 1 when missing or not a positive integer, at most ``MAX_PAGE``."""
    digits = (raw or "").strip()
    if not _ASCII_DIGITS.fullmatch(digits):
        return 1
    if len(digits) > 10:  # far past the last page; also keeps int() away from huge strings
        return MAX_PAGE
    return min(max(int(digits), 1), MAX_PAGE)


def parse_movie_id(raw: str | None) -> int:
    """A TMDB movie id: decimal digits only, between 1 and 2,147,483,647."""
    if raw is None or not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_MOVIE_ID:
        raise InvalidInput(f"movie id must be an integer between 1 and {MAX_MOVIE_ID}")
    return int(raw)


#: A character that means something: not white space (JSON Schema's ``\s`` and Python's agree once
#: control characters and U+FEFF are excluded too), so the contract's pattern and this check accept
#: exactly the same queries.
_MEANINGFUL = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\ufeff]")


def parse_query(raw: str | None) -> str:
    """The search text: required, at most ``MAX_QUERY_LENGTH`` characters, surrounding blanks trimmed."""
    if raw is None or not _MEANINGFUL.search(raw):
        raise InvalidInput("query parameter 'query' is required and must not be blank")
    if len(raw) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"query must be at most {MAX_QUERY_LENGTH} characters")
    return raw.strip()


MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_OFFSET = 1_000_000


def parse_job_id(raw: str | None) -> str:
    """A job id as the API issues them (``job_<digits>_<letters and digits>``), nothing else."""
    if raw is None or not is_job_id(raw):
        raise InvalidInput("job id must look like job_<digits>_<letters and digits>")
    return raw


_STREAM_MOVIE_ID = re.compile(r"[1-9][0-9]{0,9}")


def parse_stream_ref(raw: str | None) -> int | str:
    """The stream endpoint's ``id``: a job id when it starts with ``job_``, else a movie id.

    Movie ids follow the contract's pattern for this path (1 to 10 digits, no leading zero); one
    beyond TMDB's range cannot have a job and is answered as never fetched.
    """
    if raw is not None and raw.startswith("job_"):
        return parse_job_id(raw)
    if raw is None or not _STREAM_MOVIE_ID.fullmatch(raw):
        raise InvalidInput("id must be a movie id (a positive integer) or a job id")
    return int(raw)


def parse_window(limit: str | None, offset: str | None) -> tuple[int, int]:
    """``limit`` and ``offset`` of a listing (jobs, history), each checked as below."""
    return parse_limit(limit), parse_offset(offset)


def parse_limit(raw: str | None) -> int:
    return _bounded_int(raw, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def parse_offset(raw: str | None) -> int:
    return _bounded_int(raw, "offset", 0, 0, MAX_OFFSET)


def parse_listable_status(raw: str | None) -> tuple[JobStatus, ...]:
    """The statuses to list: the one asked for, or every active status by default."""
    if raw is None:
        return ACTIVE_STATUSES
    for status in LISTABLE_STATUSES:
        if raw == status.value:
            return (status,)
    allowed = ", ".join(status.value for status in LISTABLE_STATUSES)
    raise InvalidInput(f"status must be one of {allowed}")


def _bounded_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}")
    return int(raw)


QUALITY_PREFERENCES = ("720p", "1080p", "4K")


def parse_quality(raw: str | None) -> str:
    """The ranking preference of ``GET /releases``; absent means 1080p, as in fetch requests."""
    if raw is None:
        return "1080p"
    if raw not in QUALITY_PREFERENCES:
        raise InvalidInput(f"quality_preference must be one of {', '.join(QUALITY_PREFERENCES)}")
    return raw


MAX_BODY_BYTES = 4096


def _json_object(raw_body: bytes | None, content_type: str | None) -> dict[str, object]:
    """A request body that must be one small JSON object."""
    if content_type and "json" not in content_type.lower():
        raise InvalidInput("send the request body as application/json")
    if raw_body is not None and len(raw_body) > MAX_BODY_BYTES:
        raise InvalidInput(f"request body must be at most {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw_body or b"")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


def parse_position(raw_body: bytes | None, content_type: str | None) -> float:
    """``PUT /movies/{id}/position``: ``{"position_seconds": n}``, n from 0 to a week, in seconds."""
    data = _json_object(raw_body, content_type)
    from pydantic import ValidationError

    from chalicelib.models import PositionRequest

    try:
        return PositionRequest.model_validate(data).position_seconds
    except ValidationError as exc:
        problems = validation_problems(exc.errors(include_input=False, include_url=False), "body")
        raise InvalidInput(f"invalid position: {problems}") from None


def parse_fetch_request(raw_body: bytes | None, content_type: str | None) -> FetchRequest:
    """The fetch body: a JSON object with ``mode`` (and ``release_id`` in manual mode)."""
    data = _json_object(raw_body, content_type)
    from pydantic import ValidationError  # the models load with the route that needs them

    from chalicelib.models import FetchRequest

    try:
        request = FetchRequest.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc.errors(include_input=False, include_url=False), "body")
        raise InvalidInput(f"invalid fetch request: {problems}") from None
    if request.mode == "manual" and request.release_id is None:
        raise InvalidInput("manual mode needs release_id: pick one from GET /movies/{id}/releases")
    return request


def parse_playlist_link(expires: str | None, signature: str | None) -> tuple[int, str]:
    """The ``expires`` (epoch seconds) and ``signature`` (hex) of a playlist link."""
    if not expires or not expires.isdigit() or len(expires) > 12:
        raise InvalidInput("expires must be the link's expiry in epoch seconds")
    if not signature or not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise InvalidInput("signature must be the link's 64 hex characters")
    return int(expires), signature
