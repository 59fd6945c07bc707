"""A local stand-in for Cloudflare D1's ``/query`` API: the real envelope, real SQLite underneath.

Registered as a ``responses`` callback, so the production ``D1Executor`` sends its real SQL over its
real HTTP code path and this executes it. Statements of one request run in one transaction, like D1.
Knobs let tests script failures (429 with Retry-After, 5xx, timeouts) to exercise retries.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

import requests
import responses

from chalicelib.adapters.store.executor import schema_statements

ACCOUNT = "0123456789abcdef0123456789abcdef"
DATABASE = "a1b2c3d4-0000-4000-8000-000000000001"
TOKEN = "cf-token-secret-do-not-leak"
BASE = "https://d1.test/client/v4"
URL = f"{BASE}/accounts/{ACCOUNT}/d1/database/{DATABASE}/query"

Reply = tuple[int, dict[str, str], str]


class FakeD1:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self._scripted: deque[Reply | Exception] = deque()
        for statement in schema_statements():
            self._db.execute(statement.sql)

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, URL, callback=self._handle)

    def fail_next(self, *replies: Reply | Exception) -> None:
        """The next requests get these replies (or raise these exceptions) instead of running SQL."""
        self._scripted.extend(replies)

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Direct access for assertions."""
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, params).fetchall()]

    def _handle(self, request: requests.PreparedRequest) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _envelope_error(401, 10000, "Authentication error")
        body = json.loads(request.body or b"{}")
        self.requests.append(body)
        if self._scripted:
            scripted = self._scripted.popleft()
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
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


def _envelope_error(status: int, code: int, message: str) -> Reply:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": []}
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def rate_limited(retry_after: int) -> Reply:
    status, headers, body = _envelope_error(429, 971, "Please wait and consider throttling")
    return status, {**headers, "Retry-After": str(retry_after)}, body


def server_error(message: str = "internal error; reference = abc123") -> Reply:
    return _envelope_error(500, 7500, message)
