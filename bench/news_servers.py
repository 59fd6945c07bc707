"""The news servers the download benchmarks run against, and what they cost in CPU.

``nzbget --nserv`` serves a folder's files as yEnc articles (plain, or TLS itself with ``-s``);
without nzbget, ``stunnel`` terminates TLS in front of our test server. Both run on the cores the
client runs on, so over TLS the server's encryption competes with the client's decryption:
``cpu_seconds`` lets the benchmark say how much of a TLS slowdown is the server's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far, all its threads (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the news server did not start on port {port}")


def tls_front(plain_port: int, folder: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``stunnel`` on a free port, terminating TLS for the news server on ``plain_port``."""
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if stunnel is None:
        raise SystemExit("--tls needs stunnel (apt-get install stunnel4)")
    ca_file, cert, key = throwaway_ca(folder)
    port = free_port()
    config = folder / "stunnel.conf"
    config.write_text(
        "foreground = yes\npid =\n[nntps]\n"
        f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{plain_port}\n"
        f"cert = {cert}\nkey = {key}\n"
    )
    child = subprocess.Popen(
        [stunnel, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port)
    return child, port, ca_file


def throwaway_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA file and the certificate and key it vouches for (127.0.0.1, localhost)."""
    from tests.servers.tls import make_tls

    folder.mkdir(parents=True, exist_ok=True)
    _, ca_file = make_tls(folder)
    return ca_file, folder / "server.pem", folder / "server.key"


def serve_with_nzbget(
    data: Path, cache: Path, segment: int, *, tls: tuple[Path, Path] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``nzbget --nserv`` over ``data`` on a free port (writing ``data``'s NZBs first); with
    ``tls`` (certificate, key) it speaks TLS itself."""
    serve = ["nzbget", "--nserv", "-d", str(data), "-c", str(cache), "-b", "127.0.0.1"]
    subprocess.run([*serve, "-z", str(segment), "-q"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(
        [*serve, "-p", str(port), *(("-s", *map(str, tls)) if tls else ())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return server, port
