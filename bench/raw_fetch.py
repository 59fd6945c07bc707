"""The raw-fetch limit: a reader that only receives BODY replies, for ``bench/download.py``.

Same NZB, server, connection count and pipelining depth as the engine, but nothing is decoded,
checked or written: each connection keeps ``--pipeline`` BODY commands in flight and counts reply
terminators (``CRLF.CRLF``, which dot-stuffing keeps out of article bodies) in what it receives.
TLS reads go through ``sabctools.unlocked_ssl_recv_into`` like the engine's, so over TLS too this is
the fastest our process could receive the same bytes. ``bench/download.py`` runs it as a child
process and prints ``ours_vs_raw_fetch`` (raw wall time over ours: 1.0 = the engine costs nothing
beyond receiving; target ≥ 0.85).

    python -m bench.raw_fetch --nzb release.nzb --port 119 [--connections 8] [--ca-file ca.pem]
"""

from __future__ import annotations

import argparse
import re
import select
import socket
import ssl
import threading
from pathlib import Path

import sabctools

TERMINATOR = b"\r\n.\r\n"


def message_ids(nzb: Path) -> list[str]:
    return re.findall(r"<segment[^>]*>([^<]+)</segment>", nzb.read_text(encoding="utf-8"))


def _connect(port: int, ca_file: Path | None) -> socket.socket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ca_file is None:
        return raw
    context = ssl.create_default_context(cafile=str(ca_file))
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _receive(sock: socket.socket, view: memoryview) -> int:
    if not isinstance(sock, ssl.SSLSocket):
        return sock.recv_into(view)
    while True:
        try:
            return int(sabctools.unlocked_ssl_recv_into(sock, view))
        except ssl.SSLWantReadError:
            select.select([sock], [], [], 30)
        except ssl.SSLWantWriteError:
            select.select([], [sock], [], 30)


def fetch(ids: list[str], port: int, pipeline: int, ca_file: Path | None) -> int:
    """Receive every article's BODY on one connection; returns the bytes received."""
    sock = _connect(port, ca_file)
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    while b"\r\n" not in sock.recv(4096):  # the greeting
        pass
    if isinstance(sock, ssl.SSLSocket):
        sock.setblocking(False)
    received = done = sent = 0
    tail = b""
    while done < len(ids):
        if sent < len(ids) and sent - done < pipeline:
            batch = ids[sent : min(len(ids), done + pipeline)]
            data = b"".join(f"BODY <{mid}>\r\n".encode() for mid in batch)
            while data:
                try:
                    data = data[sock.send(data) :]
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    select.select([sock], [sock], [], 30)
            sent += len(batch)
        count = _receive(sock, view)
        if not count:
            raise SystemExit("the server closed the connection")
        received += count
        # A terminator is 5 bytes: it lies within this read, or spans the last 4 bytes and this one.
        done += (tail + bytes(view[: min(4, count)])).count(TERMINATOR)
        done += buffer.count(TERMINATOR, 0, count)
        tail = (tail + bytes(view[max(0, count - 4) : count]))[-4:]
    sock.close()
    return received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nzb", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pipeline", type=int, default=8)
    parser.add_argument("--ca-file", type=Path)
    args = parser.parse_args()
    ids = message_ids(args.nzb)
    totals = [0] * args.connections
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            totals[index] = fetch(
                ids[index :: args.connections], args.port, args.pipeline, args.ca_file
            )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"raw fetch failed: {errors[0]!r}")
    print(f"received {sum(totals)} bytes in {len(ids)} articles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
