"""D1's ``/query`` API for tests: our stand-in (the envelope as documented, SQLite underneath) and the
real engine (the gateway Worker on miniflare's workerd and D1), behind one interface.

Registered as a ``responses`` callback or put behind a socket (``tests/fault_servers.py``), so the
production ``D1Executor`` sends its real SQL over its real HTTP code path. Statements of one request
run in one transaction, like D1. Knobs let tests script failures (429 with Retry-After, 5xx, timeouts)
to exercise retries.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import responses

from chalicelib.adapters.store.executor import schema_statements

if TYPE_CHECKING:
    from scripts.local_gateway import LocalGateway

ACCOUNT = "0123456789abcdef0123456789abcdef"
DATABASE = "a1b2c3d4-0000-4000-8000-000000000001"
TOKEN = "cf-token-secret-do-not-leak"
BASE = "https://d1.test/client/v4"
QUERY_PATH = f"/client/v4/accounts/{ACCOUNT}/d1/database/{DATABASE}/query"
URL = f"https://d1.test{QUERY_PATH}"

Reply = tuple[int, dict[str, str], str]


class ScriptedD1:
    """What every D1 backend a test talks to over HTTP shares: the requests it was sent are recorded,
    and a test can script the next replies (429, 5xx, a transport failure) instead of running SQL."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._scripted: deque[Reply | Exception] = deque()

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, URL, callback=self._handle)

    def fail_next(self, *replies: Reply | Exception) -> None:
        """The next requests get these replies (or raise these exceptions) instead of running SQL."""
        self._scripted.extend(replies)

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Direct access for assertions."""
        raise NotImplementedError

    def _handle(self, request: requests.PreparedRequest) -> Reply:
        denied = self._deny(request)
        if denied is not None:
            return denied
        body = json.loads(request.body or b"{}")
        self.requests.append(body)
        if self._scripted:
            scripted = self._scripted.popleft()
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        return self._answer(request, body)

    def _deny(self, request: requests.PreparedRequest) -> Reply | None:
        return None

    def _answer(self, request: requests.PreparedRequest, body: dict[str, Any]) -> Reply:
        raise NotImplementedError


class FakeD1(ScriptedD1):
    """Our stand-in: the envelope as documented, SQLite underneath."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        for statement in schema_statements():
            self._db.execute(statement.sql)

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, params).fetchall()]

    def _deny(self, request: requests.PreparedRequest) -> Reply | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _envelope_error(401, 10000, "Authentication error")
        return None

    def _answer(self, request: requests.PreparedRequest, body: dict[str, Any]) -> Reply:
        statements = body.get("batch", [body])
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                results = [self._run(s["sql"], s.get("params", [])) for s in statements]
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                return _envelope_error(400, 7500, f"{exc}: SQLITE_ERROR")
        payload = {"success": True, "errors": [], "messages": [], "result": results}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload)

    def _run(self, sql: str, params: list[Any]) -> dict[str, Any]:
        cursor = self._db.execute(sql, params)
        rows = [dict(row) for row in cursor.fetchall()]
        return {
            "success": True,
            "results": rows,
            "meta": {"changes": cursor.rowcount, "duration": 0.1, "served_by_region": "WEUR"},
        }


class GatewayD1(ScriptedD1):
    """The real engine: each request goes on, unchanged (token included), to the gateway Worker on
    miniflare, which checks the token and the allow-list and runs the SQL on workerd's D1. Sent with
    urllib, so a test's ``responses`` mock cannot intercept the forwarding."""

    def __init__(self, gateway: LocalGateway) -> None:
        super().__init__()
        self.gateway = gateway

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return self.gateway.query(sql, *params)

    def _answer(self, request: requests.PreparedRequest, body: dict[str, Any]) -> Reply:
        raw = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        forwarded = urllib.request.Request(
            self.gateway.url + QUERY_PATH,
            data=raw,
            method="POST",
            headers={
                "Authorization": str(request.headers.get("Authorization") or ""),
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=30) as response:
                return (
                    response.status,
                    {"Content-Type": "application/json"},
                    response.read().decode(),
                )
        except urllib.error.HTTPError as error:
            return error.code, {"Content-Type": "application/json"}, error.read().decode()


def _envelope_error(status: int, code: int, message: str) -> Reply:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": []}
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def rate_limited(retry_after: int) -> Reply:
    status, headers, body = _envelope_error(429, 971, "Please wait and consider throttling")
    return status, {**headers, "Retry-After": str(retry_after)}, body


def server_error(message: str = "internal error; reference = abc123") -> Reply:
    return _envelope_error(500, 7500, message)
