"""The production backend: Cloudflare D1 over its HTTP ``/query`` API.

Every ``execute`` is one HTTP request (a ``batch`` when there are several statements): the Cloudflare
API allows 1,200 requests per 5 minutes per token and blocks the token for 5 minutes beyond that, so
round trips are the unit of cost. Transient failures (429, 5xx, transport) are retried with backoff
within a small time budget; SQL errors (4xx) are bugs and are never retried. The base URL is
configurable so a Worker exposing the same envelope over a D1 binding can replace the REST API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from chalicelib.adapters.http import (
    describe_transport_error,
    logged_request,
    pooled_session,
    retry_after_seconds,
)
from chalicelib.adapters.store.executor import Row, Statement
from chalicelib.errors import StorageError
from chalicelib.logs import logger


class D1Executor:
    def __init__(
        self,
        *,
        account_id: str,
        database_id: str,
        api_token: str,
        base_url: str = "https://api.cloudflare.com/client/v4",
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_wait_seconds: float = 5.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/accounts/{account_id}/d1/database/{database_id}/query"
        self._headers = {"Authorization": f"Bearer {api_token}"}
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._max_wait = max_wait_seconds
        # Retries are ours (they must see the D1 envelope), not urllib3's.
        self._session = session or pooled_session(retries=0)
        self._sleep = sleep
        self.round_trips = 0

    def execute(self, statements: list[Statement]) -> list[list[Row]]:
        payload: dict[str, Any]
        encoded = [{"sql": s.sql, "params": list(s.params)} for s in statements]
        payload = encoded[0] if len(encoded) == 1 else {"batch": encoded}
        waited = 0.0
        for attempt in range(1, self._max_attempts + 1):
            failure, wait = self._attempt(payload, len(statements))
            if isinstance(failure, list):
                return failure
            if wait is None:  # no hint from the server: exponential backoff
                wait = 0.25 * 2.0 ** (attempt - 1)
            if attempt == self._max_attempts or waited + wait > self._max_wait:
                raise failure
            logger.warning(
                "d1 retry", extra={"attempt": attempt, "wait_s": wait, "error": failure.message}
            )
            self._sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, payload: dict[str, Any], expected: int
    ) -> tuple[list[list[Row]] | StorageError, float | None]:
        """One HTTP request: the rows, or the error with how long to wait (None = backoff)."""
        self.round_trips += 1
        try:
            response = logged_request(
                self._session,
                "d1",
                "POST",
                self._url,
                json=payload,
                headers=self._headers,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            reason = describe_transport_error(exc, self._timeout)
            return StorageError(f"D1 {reason}"), None
        body = _json_or_none(response)
        message = _error_message(body) or f"HTTP {response.status_code}"
        if response.status_code == 429:
            wait = float(retry_after_seconds(response, default=60))
            return StorageError(
                f"D1 rate limit reached; retry in {int(wait)} s", retry_after=int(wait)
            ), wait
        if response.status_code >= 500:
            return StorageError(f"D1 unavailable: {message}"), None
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("success"):
            # A 4xx is a bad statement or a bad token: retrying cannot help.
            raise StorageError(f"D1 rejected the query: {message}")
        return _rows(body, expected), 0.0


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict) and first.get("message"):
            return str(first["message"])
    return None


def _rows(body: dict[str, Any], expected: int) -> list[list[Row]]:
    results = body.get("result")
    if not isinstance(results, list) or len(results) != expected:
        raise StorageError("D1 sent an unexpected result envelope")
    rows: list[list[Row]] = []
    for result in results:
        if not isinstance(result, dict) or not result.get("success", True):
            raise StorageError(f"D1 statement failed: {_error_message(result) or 'unknown error'}")
        rows.append(list(result.get("results") or []))
    return rows
