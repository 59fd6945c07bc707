"""One NNTP connection of our own (RFC 3977/4643): greeting, MODE READER, AUTHINFO, BODY, STAT.

Every byte read goes straight into a ``sabctools.Decoder``: it splits the stream into responses (the
status code is read from the first three characters only, so ``nzbget --nserv``'s ``220, 0 <id>`` is
fine), undoes dot-stuffing, decodes yEnc with SIMD, checks the CRC and, for BODY, writes the decoded
part into the output file at the offset its ``=ypart`` header gives, all without holding the GIL. So a
connection costs one fixed buffer of memory however large the release, and data is copied once, from
the socket into that buffer.

Reader mode: a server that can also feed other servers (INN in transit mode) greets readers with
that mode and refuses AUTHINFO with ``502`` until it is told ``MODE READER``. So after the greeting
the connection asks for CAPABILITIES and switches when ``MODE-READER`` is listed; a server without
CAPABILITIES that answers AUTHINFO with 502 or 401 is told ``MODE READER`` then, and a 502 is
never reported as a wrong password.

TLS reads: Python's ``SSLSocket.recv_into`` holds the GIL for every 16 KiB record, so over TLS the
connections' threads queue behind each other. When sabctools is linked against the same OpenSSL
(``sabctools.openssl_linked``), reads go through ``sabctools.unlocked_ssl_recv_into``: the same
``SSL_read`` with the GIL released, as SABnzbd 4 does. The socket is in timeout mode (non-blocking
underneath), so an empty read says ``SSLWantReadError`` and we wait for the socket with ``select``.

Pipelining: ``send_bodies`` writes several BODY commands in one packet; replies arrive in order and
the decoder pairs them with the contexts we gave it. If the connection breaks, everything still in
flight is handed back to the caller (``pending``) to be asked again elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import socket
import ssl
from collections.abc import Sequence
from typing import Any

import sabctools

from downloader.errors import NntpAuthError, NntpBusyError, NntpError, NntpUnsupported
from downloader.usenet.servers import ServerConfig

BUFFER_SIZE = 1024 * 1024
_GREETING, _USER, _PASS, _STAT = object(), object(), object(), object()
_CAPABILITIES, _MODE, _HEAD = object(), object(), object()
#: Replies meaning "this server does not do that command" (RFC 3977 3.2.1).
_UNSUPPORTED = (500, 501, 502)


@functools.lru_cache(maxsize=8)
def tls_context(ca_file: str | None = None, *, check_hostname: bool = True) -> ssl.SSLContext:
    """Certificates are verified by default; ``ca_file`` trusts a private CA instead (tests).

    One context per distinct setting, shared by every connection (wrapping sockets is thread-safe):
    each context holds its own copy of the system CA store, about 1 MiB, so a context per
    connection cost a 20-connection download 20 MiB for nothing.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = check_hostname
    return context


class NntpConnection:
    def __init__(
        self,
        server: ServerConfig,
        *,
        timeout: float = 30.0,
        buffer_size: int = BUFFER_SIZE,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self._decoder = sabctools.Decoder(buffer_size)
        self._sock: socket.socket | None = None
        self._reader_mode = False

    # -- connecting ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Open, read the greeting and log in; raises NntpBusyError, NntpAuthError or NntpError."""
        server = self.server
        try:
            raw = socket.create_connection((server.host, server.port), timeout=self.timeout)
        except OSError as exc:
            raise NntpError(f"{server.label}: could not connect ({_reason(exc)})") from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock: socket.socket = raw
        if server.tls:
            context = tls_context(server.ca_file, check_hostname=server.verify_hostname)
            try:
                sock = context.wrap_socket(raw, server_hostname=server.host)
            except ssl.SSLCertVerificationError as exc:
                raw.close()
                raise NntpAuthError(
                    f"{server.label}: the TLS certificate is not trusted ({exc.verify_message})"
                ) from None
            except (OSError, ssl.SSLError) as exc:
                raw.close()
                raise NntpError(f"{server.label}: TLS handshake failed ({_reason(exc)})") from None
        self._sock = sock
        try:
            greeting = self._single(_GREETING)
            if greeting.status_code in (400, 481, 502):
                raise NntpBusyError(
                    f"{server.label}: refused the connection ({_line(greeting)}); "
                    "too many connections?"
                )
            if greeting.status_code not in (200, 201):
                raise NntpError(f"{server.label}: unexpected greeting ({_line(greeting)})")
            self._reader_mode = False
            if self._lists_mode_reader():
                self._mode_reader()
            if server.username:
                self._login(server.username, server.password or "")
        except BaseException:
            self.close()
            raise
        if UNLOCKED_TLS and isinstance(sock, ssl.SSLSocket):
            sock.setblocking(False)  # unlocked_ssl_recv_into takes non-blocking sockets only

    def _lists_mode_reader(self) -> bool:
        """Whether CAPABILITIES lists MODE-READER (servers without CAPABILITIES: no)."""
        self._send(b"CAPABILITIES\r\n")
        reply = self._single(_CAPABILITIES)
        if reply.status_code != 101:
            return False
        lines = reply.lines or []
        listed = {
            (line.decode("latin-1") if isinstance(line, bytes) else str(line)).strip().upper()
            for line in lines
        }
        return "MODE-READER" in listed

    def _mode_reader(self) -> None:
        self._send(b"MODE READER\r\n")
        reply = self._single(_MODE)
        self._reader_mode = True
        if reply.status_code not in (200, 201):
            raise NntpError(f"{self.server.label}: refused MODE READER ({_line(reply)})")

    def _login(self, username: str, password: str) -> None:
        self._send(f"AUTHINFO USER {username}\r\n".encode())
        reply = self._single(_USER)
        if reply.status_code in (401, 502) and not self._reader_mode:
            self._mode_reader()  # a transit-mode server that did not list CAPABILITIES
            self._send(f"AUTHINFO USER {username}\r\n".encode())
            reply = self._single(_USER)
        if reply.status_code == 381:
            self._send(f"AUTHINFO PASS {password}\r\n".encode())
            reply = self._single(_PASS)
        if reply.status_code == 281:
            return
        if reply.status_code in (401, 502):
            raise NntpAuthError(
                f"{self.server.label}: does not let this account read ({_line(reply)}); "
                "check that the host is your provider's reader server"
            )
        if reply.status_code in (481, 482):
            raise NntpAuthError(
                f"{self.server.label}: login rejected ({_line(reply)}); check the user name and password"
            )
        if reply.status_code == 400:
            raise NntpBusyError(f"{self.server.label}: refused the login ({_line(reply)})")
        raise NntpError(f"{self.server.label}: unexpected reply to AUTHINFO ({_line(reply)})")

    # -- requests ------------------------------------------------------------------------------

    def send_bodies(self, requests: Sequence[tuple[str, Any, sabctools.FileWriter | None]]) -> None:
        """Send ``BODY <id>`` for each (message_id, context, sink) in one write (pipelining)."""
        if not requests:
            return
        for _message_id, context, sink in requests:
            self._decoder.expect(context, sink)
        self._send(b"".join(f"BODY <{mid}>\r\n".encode() for mid, _, _ in requests))

    def read(self) -> list[sabctools.NNTPResponse]:
        """Block until at least one more response is complete; returns every completed one."""
        done: list[sabctools.NNTPResponse] = []
        while not done:
            self._fill()
            done.extend(self._decoder)
        return done

    def stat(self, message_id: str) -> bool:
        """Whether the server has the article (223) or not (430), without transferring it.
        ``NntpUnsupported`` when the server does not do STAT."""
        return self._exists("STAT", _STAT, 223, message_id)

    def head(self, message_id: str) -> bool:
        """Like ``stat``, with HEAD (the article's headers, a few hundred bytes): for servers
        that do not do STAT."""
        return self._exists("HEAD", _HEAD, 221, message_id)

    def _exists(self, command: str, context: object, found: int, message_id: str) -> bool:
        self._send(f"{command} <{message_id}>\r\n".encode())
        reply = self._single(context)
        if reply.status_code == found:
            return True
        if reply.status_code in (423, 430):
            return False
        if reply.status_code in _UNSUPPORTED:
            raise NntpUnsupported(
                f"{self.server.label}: does not answer {command} ({_line(reply)})"
            )
        raise NntpError(f"{self.server.label}: unexpected reply to {command} ({_line(reply)})")

    @property
    def in_flight(self) -> int:
        return int(self._decoder.expected)

    @property
    def pending(self) -> tuple[Any, ...]:
        """Contexts of requests sent whose responses have not arrived, oldest first."""
        return tuple(self._decoder.pending)

    def quit(self) -> None:
        """Say goodbye politely when idle; errors are irrelevant at this point."""
        if self._sock is not None and not self.in_flight:
            with contextlib.suppress(OSError):
                self._sock.sendall(b"QUIT\r\n")
        self.close()

    def close(self) -> None:
        self._decoder.clear_expected()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    # -- plumbing ------------------------------------------------------------------------------

    def _single(self, context: object) -> sabctools.NNTPResponse:
        self._decoder.expect(context)
        return self.read()[0]

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise NntpError(f"{self.server.label}: not connected")
        sock = self._sock
        try:
            if sock.gettimeout() != 0.0:
                sock.sendall(data)
                return
            sent = 0
            while sent < len(data):  # a non-blocking TLS socket: send what fits, wait, go on
                try:
                    sent += sock.send(data[sent:])
                except (BlockingIOError, ssl.SSLWantWriteError):
                    self._wait(sock, read=False)
                except ssl.SSLWantReadError:
                    self._wait(sock, read=True)
        except TimeoutError:
            raise NntpError(
                f"{self.server.label}: could not send for {self.timeout:g} s (timed out)"
            ) from None
        except OSError as exc:
            raise NntpError(f"{self.server.label}: connection lost ({_reason(exc)})") from None

    def _fill(self) -> None:
        if self._sock is None:
            raise NntpError(f"{self.server.label}: not connected")
        with memoryview(self._decoder) as view:
            if not len(view):
                raise NntpError(f"{self.server.label}: a reply overflowed the receive buffer")
            try:
                count = self._receive(self._sock, view)
            except TimeoutError:
                raise NntpError(
                    f"{self.server.label}: no data for {self.timeout:g} s (timed out)"
                ) from None
            except OSError as exc:
                raise NntpError(f"{self.server.label}: connection lost ({_reason(exc)})") from None
        if not count:
            raise NntpError(f"{self.server.label}: the server closed the connection")
        self._decoder.process(count)

    def _receive(self, sock: socket.socket, view: memoryview) -> int:
        if sock.gettimeout() != 0.0 or not isinstance(sock, ssl.SSLSocket):
            return sock.recv_into(view)  # plain NNTP, or TLS until the login is done
        while True:
            try:
                return int(sabctools.unlocked_ssl_recv_into(sock, view))
            except ssl.SSLWantReadError:
                self._wait(sock, read=True)
            except ssl.SSLWantWriteError:  # a TLS 1.3 key update wants to write first
                self._wait(sock, read=False)
            except ssl.SSLZeroReturnError:
                return 0  # the server closed the TLS session

    def _wait(self, sock: socket.socket, *, read: bool) -> None:
        """Wait until a non-blocking socket is ready, up to the connection's timeout."""
        readers, writers = ([sock], []) if read else ([], [sock])
        ready = select.select(readers, writers, [], self.timeout)
        if not any(ready):
            raise TimeoutError


#: GIL-free TLS reads (see the module docstring); off when sabctools has its own OpenSSL, or when
#: ``NNTP_TLS_READS=python`` asks for Python's own (a diagnostic: ``bench/download.py --tls``).
UNLOCKED_TLS = bool(getattr(sabctools, "openssl_linked", False)) and (
    os.environ.get("NNTP_TLS_READS", "unlocked") != "python"
)


def _line(response: sabctools.NNTPResponse) -> str:
    return (response.message or str(response.status_code)).strip()[:200]


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def backoff(attempt: int, base: float, cap: float = 30.0) -> float:
    """Seconds to wait before reconnect ``attempt`` (1, 2, …): exponential, capped, no jitter needed
    because each connection's failures arrive at different moments anyway."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
