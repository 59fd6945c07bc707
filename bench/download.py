"""Download benchmark: our engine against NZBGet on the same server, NZB and connection count.

    python -m bench.download [--size 1GiB] [--connections 8] [--runs 3] [--tls]

A random payload is served by ``nzbget --nserv`` (bound to 127.0.0.1, on-disk cache, warmed by one
untimed download first) when nzbget is installed, else by our asyncio test server. Both clients run as
child processes so wall time, CPU seconds and peak RSS are measured the same way (``wait4``); the
output's SHA-256 must equal the payload's. Prints medians and ``ratio_vs_nzbget`` (our wall time over
NZBGet's: below 1 means we are faster). Targets: ratio ≤ 1.0 at 1 GiB / 8 connections, peak RSS
≤ 256 MiB whatever the payload size.

``--tls`` also downloads over TLS from the same files, with a throw-away CA the client is given by
``ca_file``: from a second ``nzbget --nserv`` serving TLS itself (``-s cert key``; one thread per
connection, like a provider's front) when nzbget is installed, else through ``stunnel`` (Debian
``stunnel4``, one process) in front of our test server. Once with sabctools' GIL-free TLS reads (the
default) and once with Python's ``ssl`` reads (``NNTP_TLS_READS=python``), and prints
``tls_vs_plain`` (our plain wall time over our TLS wall time: 1.0 means TLS costs nothing; target
≥ 0.85) and ``unlocked_vs_python_ssl``; with nzbget, NZBGet downloads through the same TLS front
(``Server1.Encryption``, the same CA) for ``ratio_tls_vs_nzbget_tls``.
Because the TLS server runs on the same cores, it also prints what TLS costs in CPU on each side
(``cpu_s_per_GB``, the server's read from ``/proc`` around each run) and ``tls_vs_plain_ceiling``:
plain wall time over the TLS runs' client + server CPU spread on every core, the best ratio that
work allows here.

Every mode also runs ``bench/raw_fetch.py`` (a reader that only receives the BODY replies, same
server, connections and pipelining) and prints ``ours_vs_raw_fetch`` (raw wall time over ours;
target ≥ 0.85), over TLS too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import sabctools

from bench.news_servers import cpu_seconds, serve_with_nzbget, throwaway_ca, tls_front

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
UNITS = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_rss: int  # bytes
    server_cpu: float = 0.0  # what the news server spent meanwhile (``served_by``)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text} (e.g. 256MiB, 1GiB)")
    return int(match.group(1)) * UNITS[match.group(2).upper()]


def make_payload(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 16 * MIB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(16 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def measured(command: list[str], **kwargs: object) -> Run:
    """Run a child process to completion; wall time, user+system CPU and peak RSS from wait4."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit status {child.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def served_by(servers: Sequence[int], run: Callable[[], Run]) -> Run:
    """``run()``, with the CPU seconds the server processes ``servers`` spent while it ran."""
    before = sum(cpu_seconds(pid) for pid in servers)
    done = run()
    return replace(done, server_cpu=sum(cpu_seconds(pid) for pid in servers) - before)


def ours(
    nzb: Path,
    port: int,
    connections: int,
    out: Path,
    *,
    ca_file: Path | None = None,
    python_ssl: bool = False,
) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    url = f"nntp://127.0.0.1:{port}?connections={connections}"
    if ca_file is not None:
        url = f"nntps://127.0.0.1:{port}?connections={connections}&ca_file={ca_file}"
    command = [sys.executable, "-m", "downloader", "fetch", "--quiet", "--nzb", str(nzb)]
    env = {**os.environ, "NNTP_TLS_READS": "python" if python_ssl else "unlocked"}
    return measured([*command, "--server", url, "--out", str(out)], cwd=ROOT, env=env)


def raw_fetch(nzb: Path, port: int, connections: int, *, ca_file: Path | None = None) -> Run:
    """The receive-only reference (``bench/raw_fetch.py``) on the same server and connections."""
    command = [sys.executable, "-m", "bench.raw_fetch", "--nzb", str(nzb), "--port", str(port)]
    command += ["--connections", str(connections)]
    return measured(command + (["--ca-file", str(ca_file)] if ca_file else []), cwd=ROOT)


def nzbget_client(
    nzb: Path, port: int, connections: int, work: Path, *, ca_file: Path | None = None
) -> Run:
    shutil.rmtree(work, ignore_errors=True)
    tls: dict[str, object] = (
        # The throw-away certificate names "localhost" (NZBGet checks the name, not the address).
        {
            "Server1.Encryption": "yes",
            "Server1.Host": "localhost",
            "CertStore": ca_file,
            "CertCheck": "yes",
        }
        if ca_file
        else {}
    )
    options: dict[str, object] = {
        "MainDir": work,
        "DestDir": work / "dst",
        "InterDir": work / "inter",
        "TempDir": work / "tmp",
        "QueueDir": work / "queue",
        "NzbDir": work / "nzb",
        "LogFile": work / "nzbget.log",
        "WebDir": "",
        "ConfigTemplate": "",
        "ScriptDir": "",
        "OutputMode": "log",
        "Server1.Host": "127.0.0.1",
        "Server1.Port": port,
        "Server1.Connections": connections,
        "ParCheck": "manual",
        "Unpack": "no",
        "DirectWrite": "yes",
        "CrcCheck": "yes",
        "ArticleCache": 200,
        "DupeCheck": "no",
        "HealthCheck": "none",
        "DirectRename": "no",
        **tls,
    }
    command = ["nzbget", "-n"]
    for name, value in options.items():
        command += ["-o", f"{name}={value}"]
    return measured([*command, str(nzb)], stderr=subprocess.DEVNULL)


class FileArticles:
    """Articles cut from the payload file and encoded on request (nothing held in memory)."""

    def __init__(self, payload: Path, segment: int) -> None:
        self.payload, self.segment = payload, segment
        self.size = payload.stat().st_size
        self.parts = -(-self.size // segment)

    def get(self, message_id: str, /) -> bytes | None:
        from sandbox.posting import yenc_article

        match = re.fullmatch(r"part(\d+)@bench", message_id)
        if not match or not 1 <= int(match.group(1)) <= self.parts:
            return None
        part = int(match.group(1))
        begin = (part - 1) * self.segment
        with self.payload.open("rb") as source:
            source.seek(begin)
            data = source.read(self.segment)
        return yenc_article(
            data,
            name=self.payload.name,
            part=part,
            parts=self.parts,
            begin=begin,
            file_size=self.size,
            fast=True,
        )

    def nzb(self) -> bytes:
        segments = "".join(
            f'<segment bytes="{min(self.segment, self.size - (n - 1) * self.segment)}" '
            f'number="{n}">part{n}@bench</segment>'
            for n in range(1, self.parts + 1)
        )
        return (
            '<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">'
            f'<file poster="bench" date="0" subject="&quot;{self.payload.name}&quot; yEnc (1/{self.parts})">'
            f"<groups><group>alt.binaries.test</group></groups><segments>{segments}</segments></file></nzb>"
        ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.download", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--size", type=parse_size, default=1024 * MIB, help="payload size (1GiB)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--segment", type=int, default=768_000, help="article size in bytes")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per client (median)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument(
        "--test-server", action="store_true", help="use our server even with nzbget"
    )
    parser.add_argument("--tls", action="store_true", help="also download over TLS and compare")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-download-"))
    data, payload = work / "data", work / "data" / "release" / "payload.bin"
    print(
        f"payload {args.size / MIB:.0f} MiB, {args.connections} connections, "
        f"sabctools {sabctools.__version__} ({sabctools.simd})"
    )
    expected = make_payload(payload, args.size)
    use_nzbget = shutil.which("nzbget") is not None and not args.test_server
    try:
        if use_nzbget:
            server, port = serve_with_nzbget(data, work / "cache", args.segment)
            nzb, stop, plain_pids = data / "release.nzb", server.terminate, [server.pid]
            print("server: nzbget --nserv (warming its cache)")
        else:
            from sandbox.nntp_server import NntpTestServer

            articles = FileArticles(payload, args.segment)
            test_server = NntpTestServer(articles).start()
            port, nzb, stop = test_server.port, work / "release.nzb", test_server.stop
            plain_pids = [os.getpid()]  # the server is this process's thread; the clients are not
            nzb.write_bytes(articles.nzb())
            print("server: sandbox/nntp_server.py (nzbget not installed, or --test-server)")
        ours(nzb, port, args.connections, work / "out")  # warms the server's cache
        runs = [
            served_by(plain_pids, lambda: ours(nzb, port, args.connections, work / "out"))
            for _ in range(args.runs)
        ]
        got = sha256_of(work / "out" / "payload.bin")
        raw_runs = [
            served_by(plain_pids, lambda: raw_fetch(nzb, port, args.connections))
            for _ in range(args.runs)
        ]
        theirs = (
            [nzbget_client(nzb, port, args.connections, work / "nzbget") for _ in range(args.runs)]
            if use_nzbget
            else []
        )
        tls_runs: list[Run] = []
        python_ssl_runs: list[Run] = []
        raw_tls_runs: list[Run] = []
        nzbget_tls_runs: list[Run] = []
        tls_ok = True
        if args.tls:
            if use_nzbget:
                ca_file, cert, key = throwaway_ca(work / "tls")
                tls_args = (cert, key)
                front, tls_port = serve_with_nzbget(
                    data, work / "cache-tls", args.segment, tls=tls_args
                )
                front_name, tls_pids = "nzbget --nserv -s (its own TLS)", [front.pid]
            else:
                front, tls_port, ca_file = tls_front(port, work / "tls")
                front_name, tls_pids = "stunnel", [front.pid, *plain_pids]
            try:
                # warms the TLS server's cache
                ours(nzb, tls_port, args.connections, work / "out-tls", ca_file=ca_file)
                out = work / "out-tls"
                for _ in range(args.runs):
                    tls_runs.append(
                        served_by(
                            tls_pids,
                            lambda: ours(nzb, tls_port, args.connections, out, ca_file=ca_file),
                        )
                    )
                    tls_ok = tls_ok and sha256_of(out / "payload.bin") == expected
                    python_ssl_runs.append(
                        ours(nzb, tls_port, args.connections, out, ca_file=ca_file, python_ssl=True)
                    )
                    raw_tls_runs.append(
                        served_by(
                            tls_pids,
                            lambda: raw_fetch(nzb, tls_port, args.connections, ca_file=ca_file),
                        )
                    )
                    if use_nzbget:
                        nzbget_tls_runs.append(
                            nzbget_client(
                                nzb, tls_port, args.connections, work / "nzbget", ca_file=ca_file
                            )
                        )
            finally:
                front.terminate()
                front.wait()
    finally:
        stop()
    wall = statistics.median(run.wall for run in runs)
    print(f"ours: wall {wall:.2f} s (runs {', '.join(f'{r.wall:.2f}' for r in runs)})")
    print(f"ours_MB_per_s: {args.size / 1e6 / wall:.0f}")
    print(f"ours_cpu_s_per_GB: {statistics.median(r.cpu for r in runs) / (args.size / 1e9):.2f}")
    print(f"ours_peak_rss_MiB: {max(r.peak_rss for r in runs) / MIB:.0f}")
    print(f"sha256_ok: {got == expected}")
    raw_wall = statistics.median(run.wall for run in raw_runs)
    print(f"raw_fetch: wall {raw_wall:.2f} s (receive only: no decode, no writes)")
    print(f"ours_vs_raw_fetch: {raw_wall / wall:.2f}")
    if theirs:
        their_wall = statistics.median(run.wall for run in theirs)
        print(
            f"nzbget: wall {their_wall:.2f} s (runs {', '.join(f'{r.wall:.2f}' for r in theirs)})"
        )
        print(
            f"nzbget_cpu_s_per_GB: {statistics.median(r.cpu for r in theirs) / (args.size / 1e9):.2f}"
        )
        print(f"nzbget_peak_rss_MiB: {max(r.peak_rss for r in theirs) / MIB:.0f}")
        print(f"ratio_vs_nzbget: {wall / their_wall:.2f}")
    if tls_runs:
        tls_wall = statistics.median(run.wall for run in tls_runs)
        python_wall = statistics.median(run.wall for run in python_ssl_runs)
        shown = ", ".join(f"{r.wall:.2f}" for r in tls_runs)
        print(f"ours_tls: wall {tls_wall:.2f} s (runs {shown}), via {front_name}")
        print(f"ours_tls_MB_per_s: {args.size / 1e6 / tls_wall:.0f}")
        cpu = statistics.median(r.cpu for r in tls_runs) / (args.size / 1e9)
        print(f"ours_tls_cpu_s_per_GB: {cpu:.2f}")
        print(f"ours_tls_peak_rss_MiB: {max(r.peak_rss for r in tls_runs) / MIB:.0f}")
        python_rss = max(r.peak_rss for r in python_ssl_runs) / MIB
        print(f"ours_tls_python_ssl: wall {python_wall:.2f} s, peak RSS {python_rss:.0f} MiB")
        print(f"tls_sha256_ok: {tls_ok}")
        raw_tls_wall = statistics.median(run.wall for run in raw_tls_runs)
        print(f"raw_fetch_tls: wall {raw_tls_wall:.2f} s")
        print(f"ours_tls_vs_raw_fetch_tls: {raw_tls_wall / tls_wall:.2f}")
        if nzbget_tls_runs:
            nzbget_tls_wall = statistics.median(run.wall for run in nzbget_tls_runs)
            nzbget_tls_rss = max(r.peak_rss for r in nzbget_tls_runs) / MIB
            print(f"nzbget_tls: wall {nzbget_tls_wall:.2f} s, peak RSS {nzbget_tls_rss:.0f} MiB")
            print(f"ratio_tls_vs_nzbget_tls: {tls_wall / nzbget_tls_wall:.2f}")
        print("sabnzbd: not measured (no Debian package, not on PyPI: not installable here)")
        print(f"tls_vs_plain: {wall / tls_wall:.2f}")
        print(
            f"raw_fetch_tls_vs_plain: {raw_wall / raw_tls_wall:.2f} (the receive-only reader's own)"
        )
        _print_tls_ceiling(args.size, runs, tls_runs)
        print(f"unlocked_vs_python_ssl: {tls_wall / python_wall:.2f}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if got == expected and tls_ok else 1


def _print_tls_ceiling(size: int, plain: Sequence[Run], tls: Sequence[Run]) -> None:
    """What TLS costs the client and the server in CPU, and the best ``tls_vs_plain`` that cost
    allows on this machine's cores: when both run here, the server's encryption and the client's
    decryption share them, and no client can finish before that work has been done."""
    gb, cores = size / 1e9, os.cpu_count() or 1

    def cpu_per_gb(runs: Sequence[Run]) -> str:
        client = statistics.median(r.cpu for r in runs) / gb
        return (
            f"ours {client:.2f} + server {statistics.median(r.server_cpu for r in runs) / gb:.2f}"
        )

    print(f"cpu_s_per_GB: plain {cpu_per_gb(plain)}; TLS {cpu_per_gb(tls)}")
    plain_wall = statistics.median(r.wall for r in plain)
    floor = statistics.median(r.cpu + r.server_cpu for r in tls) / cores
    print(
        f"tls_vs_plain_ceiling: {plain_wall / max(plain_wall, floor):.2f} (plain wall over the TLS "
        f"runs' client + server CPU spread on all {cores} cores)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
