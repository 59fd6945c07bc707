"""Plumbing shared by the HTTP stand-ins: a threaded server on loopback, started and stopped cleanly.

Each stand-in answers from a ``route`` function (method, path, query, headers → ``Reply``) so its
behaviour is plain data in, plain data out, and records what it was asked, so tests can check what
the real code sent (parameters, that the key went as a header, how often it called).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    #: The raw query string, for stand-ins that forward requests unchanged.
    raw_query: str = ""


@dataclass(frozen=True)
class Reply:
    """What to answer; status 0 means: close the connection without answering (a lost reply)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), "application/json", dict(headers))


Route = Callable[[Request], Reply]


class StandIn:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 (port 0 = any free port) serving ``route``."""

    def __init__(self, route: Route, *, port: int = 0, name: str = "stand-in") -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        handler = _handler(route, self._record)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=name, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def asked(self, path_prefix: str) -> list[Request]:
        """The requests received so far whose path starts with ``path_prefix``."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _handler(route: Route, record: Callable[[Request], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_HEAD(self) -> None:
            self._answer("HEAD")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PUT(self) -> None:
            self._answer("PUT")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(method, parts.path, query, headers, body, parts.query)
            record(request)
            try:
                reply = route(request)
            except Exception as exc:  # a stand-in bug must show, not hang the client
                reply = Reply.json(500, {"status_message": f"stand-in error: {exc}"})
            if reply.status == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if not any(name.lower() == "content-length" for name in reply.headers):
                self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the API's own request log says what was called."""

    return Handler
