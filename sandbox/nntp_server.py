"""An asyncio NNTP server on 127.0.0.1 in a background thread: the sandbox's Usenet, and the tests'.

It serves yEnc article bodies (see ``posting.py``) and has knobs for what real servers do to us:
authentication, TLS, articles it lacks (430), corrupted CRCs, connections dropped in the middle of an
article, slow replies, a connection limit (``400`` greeting beyond it), nzbget's ``220, 0 <id>``
reply line, no STAT, and INN's transit mode (``MODE READER`` needed before reading). It counts what
happened so tests can assert behaviour (attempts, fetches, concurrency).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol


class ArticleSource(Protocol):
    def get(self, message_id: str, /) -> bytes | None: ...


@dataclass
class Knobs:
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    #: Simultaneous connections allowed; more get ``400 too many connections`` and are closed.
    max_connections: int | None = None
    missing: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    #: message-id → how many more times to drop the connection halfway through that article.
    drop: dict[str, int] = field(default_factory=dict)
    #: Seconds to wait before each BODY reply.
    delay: float = 0.0
    #: ``"222 0 <id>"`` by default; nzbget --nserv says ``"220, 0 <id>"``.
    body_line: str = "222 0 <{id}>"
    #: Answer STAT with this code (e.g. 500, 501 or 502) instead of serving it: some servers don't.
    stat_reply: int | None = None
    #: The same for HEAD (with ``stat_reply``: a server that cannot be probed at all).
    head_reply: int | None = None
    #: Start like INN in transit mode: CAPABILITIES lists MODE-READER, AUTHINFO answers 502 and
    #: articles are refused until the client sends ``MODE READER``.
    transit_mode: bool = False


@dataclass
class Stats:
    connections: int = 0
    refused: int = 0
    auth_failures: int = 0
    active: int = 0
    max_active: int = 0
    bodies: Counter[str] = field(default_factory=Counter)
    stats: Counter[str] = field(default_factory=Counter)
    #: Every command received, by name.
    commands: Counter[str] = field(default_factory=Counter)
    #: Most BODY commands received before the first reply went out on one connection (pipelining).
    max_pipelined: int = 0


_CRC = re.compile(rb"pcrc32=([0-9a-fA-F]{8})")


def dot_stuff(body: bytes) -> bytes:
    lines = body.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


class NntpTestServer:
    def __init__(self, articles: ArticleSource, knobs: Knobs | None = None) -> None:
        self.articles = articles
        self.knobs = knobs or Knobs()
        self.stats = Stats()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, user: str | None = None, password: str | None = None, **options: object) -> str:
        scheme = "nntps" if self.knobs.tls else "nntp"
        auth = f"{user}:{password}@" if user else ""
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"{scheme}://{auth}127.0.0.1:{self.port}" + (f"?{query}" if query else "")

    def start(self) -> NntpTestServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=5)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> NntpTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._session, "127.0.0.1", 0, ssl=self.knobs.tls, limit=1 << 16
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats, knobs = self.stats, self.knobs
        stats.connections += 1
        self._writers.add(writer)
        try:
            if knobs.max_connections is not None and stats.active >= knobs.max_connections:
                stats.refused += 1
                writer.write(b"400 too many connections from your address\r\n")
                await writer.drain()
                return
            stats.active += 1
            stats.max_active = max(stats.max_active, stats.active)
            try:
                await self._serve(reader, writer)
            finally:
                stats.active -= 1
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        knobs = self.knobs
        transit = knobs.transit_mode
        writer.write(b"200 test server ready" + (b" (transit mode)" if transit else b"") + b"\r\n")
        authed = knobs.username is None
        user: str | None = None
        while True:
            line = await reader.readline()
            if not line:
                return
            command, _, argument = line.decode("latin-1").strip().partition(" ")
            command = command.upper()
            if command == "BODY":
                self.stats.max_pipelined = max(self.stats.max_pipelined, 1 + _buffered(reader))
            self.stats.commands[command] += 1
            if command == "QUIT":
                writer.write(b"205 bye\r\n")
                await writer.drain()
                return
            if command == "CAPABILITIES":
                listed = ["VERSION 2", "MODE-READER" if transit else "READER", "AUTHINFO USER"]
                writer.write(("101 capabilities\r\n" + "\r\n".join(listed) + "\r\n.\r\n").encode())
            elif command == "MODE" and argument.strip().upper() == "READER":
                transit = False
                writer.write(b"200 reader mode, posting prohibited\r\n")
            elif transit:
                writer.write(b"502 transit mode: MODE READER first\r\n")
            elif command == "STAT" and knobs.stat_reply is not None:
                writer.write(f"{knobs.stat_reply} STAT not supported\r\n".encode())
            elif command == "HEAD" and knobs.head_reply is not None:
                writer.write(f"{knobs.head_reply} HEAD not supported\r\n".encode())
            elif command == "AUTHINFO":
                kind, _, value = argument.partition(" ")
                if kind.upper() == "USER":
                    user = value
                    writer.write(b"381 password please\r\n")
                elif user == knobs.username and value == knobs.password:
                    authed = True
                    writer.write(b"281 welcome\r\n")
                else:
                    self.stats.auth_failures += 1
                    writer.write(b"481 authentication failed\r\n")
            elif not authed:
                writer.write(b"480 authentication required\r\n")
            elif command in ("BODY", "STAT", "HEAD"):
                message_id = argument.strip().removeprefix("<").removesuffix(">")
                if command in ("STAT", "HEAD"):
                    self.stats.stats[message_id] += 1
                    found = message_id not in knobs.missing and self.articles.get(message_id)
                    if not found:
                        writer.write(b"430 no such article\r\n")
                    elif command == "STAT":
                        writer.write(f"223 0 <{message_id}>\r\n".encode())
                    else:
                        head = f"Message-ID: <{message_id}>\r\nSubject: test\r\n.\r\n"
                        writer.write(f"221 0 <{message_id}>\r\n{head}".encode())
                elif not await self._body(writer, message_id):
                    return
            else:
                writer.write(b"500 what?\r\n")
            await writer.drain()

    async def _body(self, writer: asyncio.StreamWriter, message_id: str) -> bool:
        """Send one article; False when the connection was dropped on purpose."""
        knobs = self.knobs
        self.stats.bodies[message_id] += 1
        if knobs.delay:
            await asyncio.sleep(knobs.delay)
        body = None if message_id in knobs.missing else self.articles.get(message_id)
        if body is None:
            writer.write(b"430 no such article\r\n")
            return True
        if message_id in knobs.corrupt:
            body = _CRC.sub(lambda m: b"pcrc32=%08x" % (int(m.group(1), 16) ^ 0xFFFF), body)
        reply = (
            knobs.body_line.format(id=message_id).encode()
            + b"\r\n"
            + dot_stuff(body)
            + b"\r\n.\r\n"
        )
        if knobs.drop.get(message_id, 0) > 0:
            knobs.drop[message_id] -= 1
            writer.write(reply[: len(reply) // 2])
            await writer.drain()
            writer.transport.abort()
            return False
        writer.write(reply)
        return True


def _buffered(reader: asyncio.StreamReader) -> int:
    """BODY commands already waiting in the reader's buffer (sent before our reply: pipelined)."""
    buffer: bytes = getattr(reader, "_buffer", b"")
    return bytes(buffer).count(b"BODY ")
