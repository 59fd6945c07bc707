"""Outside bodies are read only up to their limit, even when the server sends no Content-Length.

A real HTTP server on loopback streams an endless chunked body (no Content-Length, as a misbehaving
indexer or a proxy in front of one may): the NZB fetch, an indexer search and TMDB each refuse it
with their contract error after reading little more than their limit, not the whole thing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.adapters.newznab import MAX_REPLY_BYTES, NewznabClient
from chalicelib.adapters.tmdb import TmdbClient
from chalicelib.errors import NzbgeekError, NzbUnavailable, TmdbError

CHUNK = b"<" + b"x" * (256 * 1024 - 1)


class Endless:
    """Streams chunks until the client hangs up (or 200 MiB), counting what it managed to send."""

    def __init__(self) -> None:
        self.sent = 0
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while state.sent < 200 * 1024 * 1024:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                        state.sent += len(CHUNK)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def endless() -> Iterator[Endless]:
    server = Endless()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_an_nzb_without_a_length_is_refused_past_its_limit(endless: Endless) -> None:
    client = NewznabClient("key", base_url=endless.url, timeout=10)

    with pytest.raises(NzbUnavailable, match="larger than 1 MiB"):
        client.nzb("abc123", max_bytes=1024 * 1024)

    assert endless.sent < 40 * 1024 * 1024  # stopped early (socket buffers hold some more)


def test_an_endless_search_reply_is_refused(endless: Endless) -> None:
    client = NewznabClient("key", base_url=endless.url, timeout=10)

    with pytest.raises(NzbgeekError, match="far larger than a search result"):
        client.search("fight club")

    assert endless.sent < MAX_REPLY_BYTES + 40 * 1024 * 1024


def test_an_endless_tmdb_reply_is_refused(endless: Endless) -> None:
    client = TmdbClient("token", base_url=endless.url, timeout=10)

    with pytest.raises(TmdbError, match="far larger"):
        client.popular(1)

    assert endless.sent < 40 * 1024 * 1024
