"""Command line of the downloader: ``fetch`` for people and benchmarks; ``run`` for the Fargate task.

``python -m downloader fetch --nzb FILE --server URL [--server URL …] --out DIR`` downloads every file
of an NZB into DIR with a progress bar. Servers come from ``--server`` or ``NNTP_SERVERS``. Exit
status: 0 complete, 3 finished with articles missing (par2 may still repair them), 1 failed, 2 usage;
failures print one line naming the reason, never a password.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from downloader.errors import DownloadError
from downloader.usenet.engine import DownloadResult, Engine, EngineOptions
from downloader.usenet.nzb import MAX_NZB_BYTES, parse_nzb
from downloader.usenet.progress import Progress, human_bytes, render_bar
from downloader.usenet.servers import parse_server, parse_servers

USAGE = """usage: python -m downloader COMMAND

commands:
  fetch   download an NZB to a folder (for people and benchmarks)
  run     the Fargate task: process the job named by the environment (JOB_MESSAGE)
"""


def main(argv: list[str]) -> int:
    if argv and argv[0] == "fetch":
        return fetch(argv[1:])
    if argv and argv[0] == "run":
        from downloader.task import main as run_task

        return run_task()
    print(USAGE, file=sys.stderr if argv else sys.stdout, end="")
    return 2 if argv else 0


def fetch(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m downloader fetch")
    parser.add_argument("--nzb", required=True, type=Path, help="the NZB file (plain or gzipped)")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        help="nntp[s]://user:pass@host:port?connections=N&priority=P[&ca_file=PATH] "
        "(repeatable; default: $NNTP_SERVERS). connections: 1-100 (8); priority: lower is asked "
        "first, higher numbers are backups (0); ca_file: a PEM bundle to trust instead of the "
        "system's certificates, for a server with a private CA",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the downloaded files")
    parser.add_argument("--pipeline", type=int, default=EngineOptions.pipeline)
    parser.add_argument("--timeout", type=float, default=EngineOptions.timeout)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        servers = (
            [parse_server(url) for url in args.server]
            if args.server
            else parse_servers(os.environ.get("NNTP_SERVERS", ""))
        )
        if args.nzb.stat().st_size > MAX_NZB_BYTES:
            raise DownloadError(f"{args.nzb.name} is larger than {MAX_NZB_BYTES >> 20} MiB")
        nzb = parse_nzb(args.nzb.read_bytes())
        bar = None if args.quiet or not sys.stderr.isatty() else _draw
        options = EngineOptions(pipeline=max(1, args.pipeline), timeout=args.timeout)
        result = Engine(servers, options, on_progress=bar).download(nzb.files, args.out)
    except (DownloadError, OSError) as exc:
        if not args.quiet and sys.stderr.isatty():
            print(file=sys.stderr)
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nerror: interrupted", file=sys.stderr)
        return 130
    if bar is not None:
        print(file=sys.stderr)
    return _report(result)


def _draw(progress: Progress) -> None:
    print("\r" + render_bar(progress), end="", file=sys.stderr, flush=True)


def _report(result: DownloadResult) -> int:
    speed = result.bytes / result.seconds if result.seconds > 0 else 0.0
    print(
        f"downloaded {len(result.files)} files, {human_bytes(result.bytes)} in "
        f"{result.seconds:.1f} s ({human_bytes(speed)}/s)"
    )
    broken = [f for f in result.files if not f.complete]
    if not broken:
        return 0
    parts = [f"{f.name}: {len(f.missing)} missing, {len(f.corrupt)} corrupt" for f in broken]
    print(f"incomplete: {'; '.join(parts)} (par2 may repair them)", file=sys.stderr)
    return 3


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
