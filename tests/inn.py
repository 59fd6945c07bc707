"""A private INN 2 (Debian ``inn2``) on 127.0.0.1: a real news server for the downloader's tests.

Our stand-in (``sandbox/nntp_server.py``) only does what we thought of. INN is what many providers'
front ends descend from, and it has its own habits: ``innd`` greets peers in *transit mode* and
answers AUTHINFO with ``502`` until the client sends ``MODE READER``, which hands the connection to
``nnrpd``; ``nnrpd`` wants AUTHINFO before it serves an article and answers STAT and BODY the RFC
3977 way. So two ports: ``innd`` (127.0.0.1 listed as a peer, so it starts in transit mode, and it
is also how articles are posted, by IHAVE) and a standalone ``nnrpd -D`` (a reader server). Both use
one spool and one ``readers.conf`` that lets user ``tester`` read everything after AUTHINFO.

Everything lives in one temporary folder: INN's compiled-in paths are all overridden in a private
``inn.conf`` named by ``INNCONF``. As root, the folder is handed to ``news`` (INN drops to it).
INN logs to syslog only; without ``/dev/log`` its reasons are lost, so :meth:`InnServer.start`
says which step failed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from sandbox.nntp_server import dot_stuff

INN_BIN = Path("/usr/lib/news/bin")
GROUP = "alt.binaries.test"
USER, PASSWORD = "tester", "inn-password-do-not-leak"


def installed() -> bool:
    return (INN_BIN / "innd").exists() and (INN_BIN / "nnrpd").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _crypt(password: str) -> str:
    """A crypt(3) hash for ckpasswd's password file (Python's ``crypt`` is going away)."""
    done = subprocess.run(
        ["openssl", "passwd", "-5", password], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


class InnServer:
    """``innd`` (transit mode, where articles are posted) and ``nnrpd -D`` (reader mode)."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: as root, that is 0700 and news could not reach its folder.
        self.root = Path(tempfile.mkdtemp(prefix="inn-"))
        self.transit_port = _free_port()
        self.reader_port = _free_port()
        self._processes: list[subprocess.Popen[bytes]] = []
        self._posted = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> InnServer:
        self._configure()
        env = {**os.environ, "INNCONF": str(self.root / "etc" / "inn.conf")}
        db = self.root / "db"
        subprocess.run([INN_BIN / "makedbz", "-i", "-o"], cwd=db, env=env, check=True)
        innd = [str(INN_BIN / "innd"), "-d", "-c", "0", "-P", str(self.transit_port)]
        nnrpd = [str(INN_BIN / "nnrpd"), "-D", "-f", "-p", str(self.reader_port), "-b", "127.0.0.1"]
        for command, port in ((innd, self.transit_port), (nnrpd, self.reader_port)):
            log = (self.root / "log" / f"{Path(command[0]).name}.out").open("wb")
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            self._processes.append(process)
            self._wait_for(port, process)
        return self

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> InnServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, *, transit: bool = False, password: str = PASSWORD, connections: int = 4) -> str:
        port = self.transit_port if transit else self.reader_port
        return f"nntp://{USER}:{password}@127.0.0.1:{port}?connections={connections}"

    # -- posting -------------------------------------------------------------------------------

    def post(self, articles: Mapping[str, bytes]) -> None:
        """Offer every article to ``innd`` by IHAVE, as a peer would; each must be taken (235)."""
        with socket.create_connection(("127.0.0.1", self.transit_port), timeout=30) as sock:
            wire = sock.makefile("rwb")
            greeting = wire.readline()
            assert greeting.startswith(b"200"), greeting
            for message_id, body in articles.items():
                wire.write(f"IHAVE <{message_id}>\r\n".encode())
                wire.flush()
                reply = wire.readline()
                assert reply.startswith(b"335"), (message_id, reply)
                wire.write(self._article(message_id, body))
                wire.flush()
                reply = wire.readline()
                assert reply.startswith(b"235"), (message_id, reply)
            wire.write(b"QUIT\r\n")
            wire.flush()

    def _article(self, message_id: str, body: bytes) -> bytes:
        self._posted += 1
        head = (
            f"Path: poster!not-for-mail\r\nFrom: poster <poster@example.com>\r\n"
            f"Newsgroups: {GROUP}\r\nSubject: [{self._posted}] yEnc\r\n"
            f"Message-ID: <{message_id}>\r\nDate: Wed, 02 Dec 2026 09:00:00 GMT\r\n\r\n"
        )
        return head.encode() + dot_stuff(body) + b"\r\n.\r\n"

    # -- configuration -------------------------------------------------------------------------

    def _configure(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        spool = ("articles", "overview", "outgoing", "incoming", "archive")
        for folder in ("etc", "db", "run", "log", "tmp", "http", *(f"spool/{s}" for s in spool)):
            (self.root / folder).mkdir(parents=True)
        paths = {
            "pathnews": "/usr/lib/news",
            "pathbin": str(INN_BIN),
            "pathfilter": "/etc/news/filter",
            "pathcontrol": str(INN_BIN / "control"),
            **{f"path{name}": str(self.root / name) for name in ("etc", "db", "run", "log")},
            **{f"path{name}": str(self.root / name) for name in ("tmp", "http")},
            "pathspool": str(self.root / "spool"),
            **{f"path{name}": str(self.root / "spool" / name) for name in spool},
        }
        settings = {
            **paths,
            "domain": "localdomain",
            "pathhost": "inn.test",
            "mta": "/bin/true",
            "ovmethod": "tradindexed",
            "hismethod": "hisv6",
            "enableoverview": "true",
            "wireformat": "true",
            "maxartsize": "4000000",
            "bindaddress": "127.0.0.1",
            "port": str(self.transit_port),
            "doinnwatch": "false",
            "status": "0",
            "timer": "0",
        }
        etc = self.root / "etc"
        (etc / "inn.conf").write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
        (etc / "storage.conf").write_text("method tradspool {\n newsgroups: *\n class: 0\n}\n")
        (etc / "newsfeeds").write_text("ME:*::\n")
        (etc / "incoming.conf").write_text('peer poster {\n hostname: "127.0.0.1"\n}\n')
        (etc / "passwd").write_text(f"{USER}:{_crypt(PASSWORD)}\n")
        (etc / "readers.conf").write_text(
            'auth "readers" {\n hosts: "*"\n'
            f' auth: "ckpasswd -f {etc / "passwd"}"\n}}\n'
            f'access "readers" {{\n users: "{USER}"\n newsgroups: "*"\n}}\n'
        )
        groups = (GROUP, "control", "control.cancel", "junk")
        active = "".join(
            f"{group} 0000000000 0000000001 {'y' if group == GROUP else 'n'}\n" for group in groups
        )
        (self.root / "db" / "active").write_text(active)
        (self.root / "db" / "history").write_text("")
        if os.getuid() == 0:  # INN drops to news: its folder must be news's
            subprocess.run(["chown", "-R", "news:news", str(self.root)], check=True)

    def _wait_for(self, port: int, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"{process.args!r} exited {process.returncode} (INN logs its reasons to syslog)"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(3) in (b"200", b"201"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{process.args!r} did not greet on port {port} within 15 s")
