"""The service's JSON logger and the helpers that keep secrets out of what it writes.

Powertools' Logger writes one JSON object per line (CloudWatch Logs Insights can query the keys);
loggers created with the same service name share one handler, so modules simply import ``logger``.
Powertools is imported when the first line is written, not when a module imports ``logger``: a cold
Lambda's ``import app`` stays cheap (``bench/cold_start.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

SERVICE = "movies-on-demand"

#: Environment variables whose values are credentials (comma-separated lists for API_KEYS).
SECRET_ENV_VARS = (
    "TMDB_API_KEY",
    "NZBGEEK_API_KEY",
    "CF_API_TOKEN",
    "R2_ACCESS_KEY_ID",
    "R2_SECRET_ACCESS_KEY",
    "API_KEYS",
    "NOTIFY_SECRET",
)

#: Query parameters that carry credentials in the APIs we call (Newznab puts its key in the URL).
SECRET_PARAMS = frozenset({"apikey", "api_key", "token", "access_token", "password", "pass"})

_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Add a credential that is not a whole environment value (e.g. a password inside a URL)."""
    if value:
        with _registered_lock:
            _registered.add(value)


def forget_registered_secrets() -> None:
    """Drop every registered credential: tests register throwaway passwords like "pw" that would
    otherwise scrub unrelated text (a job id containing "pw") in later tests' logs."""
    with _registered_lock:
        _registered.clear()


def current_secrets() -> list[str]:
    """Every credential this process knows, longest first so overlapping values scrub fully."""
    found = set(_registered)
    for name in SECRET_ENV_VARS:
        found.update(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())
    return sorted(found, key=len, reverse=True)


def _service_logger() -> Logger:
    """Powertools' Logger with its JSON formatter scrubbing credentials from the finished line.

    Scrubbing the formatted text (rather than the message) also covers exception messages and
    tracebacks, which quote whatever a library put in them.
    """
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class ScrubbingFormatter(LambdaPowertoolsFormatter):
        def format(self, record: logging.LogRecord) -> str:
            return scrub(super().format(record), current_secrets())

    return Logger(
        service=SERVICE,
        level=os.environ.get("LOG_LEVEL", "INFO"),
        logger_formatter=ScrubbingFormatter(),
    )


class _LazyLogger:
    """Stands in for the service's ``Logger`` until first used, then forwards everything to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logger: Logger | None = None

    def _get(self) -> Logger:
        built = self._logger
        if built is not None:  # every log call comes here: no lock once built
            return built
        with self._lock:
            if self._logger is None:
                self._logger = _service_logger()
            return self._logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


logger = cast("Logger", _LazyLogger())


def redact_url(url: str) -> str:
    """``url`` with the values of credential-bearing query parameters replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (key, "***" if key.lower() in SECRET_PARAMS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***`` (defence in depth)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
