"""Plumbing shared by the HTTP adapters: pooled sessions and one log line per upstream call.

Exceptions from ``requests`` carry the full URL, query string included, so callers must turn them into
their own errors without quoting them; ``describe_transport_error`` gives a safe description.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from chalicelib.logs import logger, redact_url
from chalicelib.metrics import record_upstream


def pooled_session(*, retries: int = 1, pool_size: int = 16) -> requests.Session:
    """A keep-alive session that retries idempotent GETs once on connection failures and 502/503/504.

    Retries stay few and fast because a Lambda request has a deadline: one retry hides a dropped
    keep-alive connection or a single bad gateway, anything longer is the caller's decision.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retry)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class BodyTooLarge(Exception):
    """The reply's body is larger than the caller allows (said by Content-Length, or found while
    reading a body sent without one); nothing past the limit was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the reply is larger than {limit} bytes")
        self.limit = limit


def logged_request(
    session: requests.Session,
    target: str,
    method: str,
    url: str,
    *,
    timeout: float,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    max_bytes: int | None = None,
) -> requests.Response:
    """Send one request and log target, method, redacted URL, status and duration, even on failure.

    With ``max_bytes`` the body is streamed and reading stops (``BodyTooLarge``) as soon as it
    passes the limit, so a server that sends no Content-Length cannot make us hold a body of any
    size; the response's ``content`` is the body read, as usual."""
    started = time.perf_counter()
    status: int | str = "error"
    logged_url = redact_url(url)
    try:
        response = session.request(
            method,
            url,
            params=params,
            headers=headers,
            json=json,
            timeout=timeout,
            stream=max_bytes is not None,
        )
        status = response.status_code
        logged_url = redact_url(response.url or url)
        if max_bytes is not None:
            _read_capped(response, max_bytes)
        return response
    except requests.RequestException as exc:
        status = type(exc).__name__
        raise
    finally:
        note_upstream_call(target, method, status, started, url=logged_url)


def _read_capped(response: requests.Response, limit: int) -> None:
    declared = response.headers.get("Content-Length", "")
    try:
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(limit)
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(limit)
        response._content = bytes(body)  # what ``content``, ``text`` and ``json()`` read
    finally:
        response.close()


def note_upstream_call(
    target: str, method: str, status: int | str, started: float, *, url: str | None = None
) -> None:
    """The one log line and metric of an outside call (HTTP here, boto3 in ``aws_calls``), from
    its ``time.perf_counter()`` start."""
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    fields: dict[str, object] = {"target": target, "method": method}
    if url is not None:
        fields["url"] = url
    logger.info("upstream call", extra={**fields, "status": status, "duration_ms": elapsed})
    record_upstream(target, status, elapsed)


def describe_transport_error(exc: requests.RequestException, timeout: float) -> str:
    """A client-safe description of a transport failure (never the URL, which may hold a key)."""
    if isinstance(exc, requests.Timeout):
        return f"did not answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not be reached"
    return "request failed"


def retry_after_seconds(response: requests.Response, default: int = 60) -> int:
    """The ``Retry-After`` header as whole seconds (delta form only), or ``default``."""
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else default
