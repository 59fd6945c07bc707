"""The exception hierarchy of the service and the one table that maps it to contract codes.

Every failure a client can see is an ``ApiError`` subclass; the HTTP layer renders them all with one
function (``chalicelib.web``), so no route builds error JSON by hand and the contract's ``code`` enum and
HTTP status stay in lock-step here.

The adapters are shared with the downloader, which is a task, not an API: it must not speak in HTTP
statuses. So each failure an adapter raises is also one of the plain ``Failure`` kinds below, and the
downloader catches those (``StorageFailure``, ``IndexerFailure``, ``SettingsFailure``), never the
ApiError that the same exception is to the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class Failure(Exception):
    """A failure named for people, with nothing of HTTP in it: the base of everything below."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Seconds worth waiting before trying again (sent as ``Retry-After`` by the API).
        self.retry_after = retry_after


class StorageFailure(Failure):
    """The job store (D1, SQLite) or object storage (R2) could not do what was asked."""


class IndexerFailure(Failure):
    """The indexer failed or refused us: every release from it is out of reach for now."""


class NzbUnavailable(IndexerFailure):
    """One release's NZB is gone, too large or unreadable; another release may still do. Only the
    downloader fetches NZBs, so this one has no contract code."""


class SettingsFailure(Failure):
    """A setting is missing or malformed; the message names the setting, never its value."""


class ApiError(Failure):
    """A failure with a contract error code, an HTTP status and a message safe to show a client."""

    code: str = "INTERNAL_ERROR"
    status: int = 500

    def body_extras(self) -> dict[str, Any]:
        """Fields the contract adds to this error's body beside error, code and request_id."""
        return {}


class InvalidInput(ApiError):
    code, status = "INVALID_INPUT", 400


class Unauthorized(ApiError):
    code, status = "UNAUTHORIZED", 401


class NotFound(ApiError):
    code, status = "NOT_FOUND", 404


class MethodNotAllowed(ApiError):
    """A method the path does not serve. Only the local gateway routes such a request to the app
    (``make run``, ``make demo``, the test client); API Gateway answers it as an unknown route."""

    code, status = "METHOD_NOT_ALLOWED", 405


class UpstreamError(ApiError):
    """An outside system (TMDB, the indexer, storage) failed; the client may retry later. Usenet
    has no code: only the downloader speaks to it, and its failures end the job (``error_class``)."""

    status = 502


class TmdbError(UpstreamError):
    code = "TMDB_ERROR"


class NzbgeekError(UpstreamError, IndexerFailure):
    code = "NZBGEEK_ERROR"


class StorageError(UpstreamError, StorageFailure):
    code = "STORAGE_ERROR"


class ActiveJobConflict(ApiError):
    """A manual fetch named a release other than the one the movie's active job fetches: nothing
    was started, and the answer carries that job (the contract's ``ActiveJobConflict``)."""

    code, status = "ACTIVE_JOB", 409

    def __init__(self, message: str, active_job: dict[str, Any]) -> None:
        super().__init__(message)
        self.active_job = active_job

    def body_extras(self) -> dict[str, Any]:
        return {"active_job": self.active_job}


class JobError(ApiError):
    code, status = "JOB_ERROR", 500


class InternalError(ApiError):
    code, status = "INTERNAL_ERROR", 500


class ConfigurationError(InternalError, SettingsFailure):
    """A setting is missing or malformed; the message names the setting, never its value."""


#: Every contract code with its HTTP status; the contract test checks the YAML enum against this.
CONTRACT_CODES: dict[str, int] = {
    cls.code: cls.status
    for cls in (
        InvalidInput,
        Unauthorized,
        NotFound,
        ActiveJobConflict,
        MethodNotAllowed,
        TmdbError,
        NzbgeekError,
        StorageError,
        JobError,
        InternalError,
    )
}


#: Codes only API Gateway answers with, never the app: its own responses (throttling, its 29 s limit,
#: anything else it refuses) reshaped like the contract by infra/terraform/gateway_responses.tf. None:
#: API Gateway's own status, a 4xx or 5xx. An unknown route is NOT_FOUND there and locally.
GATEWAY_CODES: dict[str, int | None] = {
    "RATE_LIMITED": 429,
    "TIMEOUT": 504,
    "GATEWAY_ERROR": None,
}


def validation_problems(errors: Iterable[Mapping[str, Any]], whole: str) -> str:
    """pydantic's report (``exc.errors(include_input=False)``: never the values, some are secrets)
    as one line naming each bad field, ``whole`` standing for an error about the entire input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or whole}: {error['msg']}"
        for error in errors
    )
