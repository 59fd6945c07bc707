"""Loopback servers that misbehave on cue, for the fault tests: D1 and R2 as the downloader sees them.

The downloader runs as a subprocess, so in-process mocks (``responses``, moto's decorator) cannot
reach it; these are real HTTP servers. ``D1OverHttp`` puts a D1 of ``tests/fakes/d1.py`` (the stand-in,
or the gateway Worker on miniflare) behind a socket and can lose a reply after the SQL ran. ``S3Proxy``
forwards to moto's S3 server and fails multipart part uploads as scripted.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import requests

from sandbox.httpd import Reply, Request, StandIn
from tests.fakes import d1

#: Response headers S3 clients and browsers need from the proxied server.
PASSED_HEADERS = ("etag", "content-range", "accept-ranges", "last-modified", "x-amz-request-id")


class D1OverHttp:
    def __init__(self, fake: d1.ScriptedD1) -> None:
        self.fake = fake
        self._lock = threading.Lock()
        #: SQL fragment → how many more times to run such a request and then drop the reply.
        self.lose_reply: dict[str, int] = {}
        #: The next ``stalls`` requests hang ``stall_seconds`` and are then dropped unexecuted (a D1
        #: that stopped answering: the client times out, nothing was written).
        self.stalls = 0
        self.stall_seconds = 0.0
        self.server = StandIn(self._route, name="d1-stand-in").start()

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/client/v4"

    def environment(self) -> dict[str, str]:
        return {
            "JOB_STORE": "d1",
            "CF_ACCOUNT_ID": d1.ACCOUNT,
            "D1_DATABASE_ID": d1.DATABASE,
            "CF_API_TOKEN": d1.TOKEN,
            "CF_API_BASE_URL": self.base_url,
        }

    def _route(self, request: Request) -> Reply:
        if not request.path.endswith(f"/accounts/{d1.ACCOUNT}/d1/database/{d1.DATABASE}/query"):
            return Reply.json(404, {"success": False, "errors": [{"code": 7000, "message": "?"}]})
        with self._lock:
            stall = self.stalls > 0
            self.stalls -= 1 if stall else 0
        if stall:
            time.sleep(self.stall_seconds)
            return Reply(0)
        shim = SimpleNamespace(
            headers={"Authorization": request.headers.get("authorization")}, body=request.body
        )
        try:
            status, headers, body = self.fake._handle(shim)  # type: ignore[arg-type]
        except Exception:  # a scripted transport failure
            return Reply(0)
        text = request.body.decode(errors="replace")
        with self._lock:
            for fragment, times in self.lose_reply.items():
                if times > 0 and fragment in text and status == 200:
                    self.lose_reply[fragment] = times - 1
                    return Reply(0)
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return Reply(status, body.encode(), headers.get("Content-Type", "application/json"), extra)


class S3Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        #: Part uploads still to fail with 500 InternalError; -1 fails every one.
        self.fail_parts = 0
        self.failed_parts = 0
        self.server = StandIn(self._route, name="s3-proxy").start()

    def _route(self, request: Request) -> Reply:
        if request.method == "PUT" and "partNumber" in request.query and self._should_fail():
            error = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                b"<Message>We encountered an internal error. Please try again.</Message></Error>"
            )
            return Reply(500, error, "application/xml")
        url = self.upstream + request.path + (f"?{request.raw_query}" if request.raw_query else "")
        dropped = ("host", "content-length", "expect")
        headers = {k: v for k, v in request.headers.items() if k not in dropped}
        answer = requests.request(
            request.method, url, headers=headers, data=request.body, timeout=30
        )
        passed = {k: v for k, v in answer.headers.items() if k.lower() in PASSED_HEADERS}
        if request.method == "HEAD":  # no body to count: the object's size is in the header
            passed["Content-Length"] = answer.headers.get("Content-Length", "0")
        content_type = answer.headers.get("Content-Type", "application/octet-stream")
        return Reply(answer.status_code, answer.content, content_type, passed)

    def _should_fail(self) -> bool:
        with self._lock:
            if self.fail_parts == 0:
                return False
            if self.fail_parts > 0:
                self.fail_parts -= 1
            self.failed_parts += 1
            return True
