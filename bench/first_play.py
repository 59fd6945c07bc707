"""First play: how soon a viewer can start watching, against how soon the movie is ready.

    python -m bench.first_play [--size 1GiB] [--line-rate 50] [--runs 3] [--obfuscate] [--rar4]

The release is bench/ready.py's (an H.264/AAC Matroska movie in stored RAR5 volumes of 50 MiB with
par2), served by our NNTP test server at ``--line-rate`` MB/s over 8 connections, with moto's S3
server as R2; ``downloader.pipeline.run`` takes it from the NZB to ``ready``. ``--obfuscate`` posts
it the way releases are posted today: every file (volumes and par2) under a random name with no
extension, listed in a shuffled order, so the tail must find and order the volumes by their bytes;
``--rar4`` packs it in stored RAR4 volumes (``x.rar, x.r00…``), whose numbers are in their ends.
Printed, medians of
``--runs`` (each run is a new job):

- ``first_play_s``: from the job's start until its first HLS segments and playlist are up and the
  job says so (``playable_at``), i.e. until ``GET /movies/{id}/stream`` can hand out ``hls_url``;
- ``ready_s``: until the job is ``ready`` (the MP4 uploaded);
- ``first_play_vs_ready``: their ratio, and whether the target holds: first play at most 10 % of
  time to ready plus 10 s, both measured in the same run.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.download import MIB, parse_size
from bench.ready import SEGMENT, Bench, ReleaseArticles, make_release
from bench.standins import ServedRelease, local_r2
from chalicelib.logs import logger
from downloader.reporter import JobReporter
from downloader.usenet.servers import parse_server
from sandbox.nntp_server import Knobs

#: When the job under way first recorded itself playable (perf_counter), per run.
_playable: list[float] = []


class TimedReporter(JobReporter):
    """The job's reporter, noting when ``playable`` first succeeds."""

    def playable(self) -> bool:
        before = self.job.playable_at
        done = super().playable()
        if before is None and self.job.playable_at is not None:
            _playable.append(time.perf_counter())
        return done


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_play", description=__doc__)
    parser.add_argument("--size", type=parse_size, default=1024 * MIB, help="movie size (1GiB)")
    parser.add_argument("--line-rate", type=float, default=50.0, help="server MB/s")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, help="working folder, kept (default: temporary)")
    parser.add_argument("--obfuscate", action="store_true", help="random names, shuffled order")
    parser.add_argument("--rar4", action="store_true", help="RAR4 volumes (x.rar, x.r00…)")
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-first-play-"))
    work.mkdir(parents=True, exist_ok=True)
    name = f"release-{args.size}" + ("-rar4" if args.rar4 else "")
    files = make_release(work / name, args.size, 50 * MIB, 0.05, SEGMENT, rar4=args.rar4)
    if args.obfuscate:
        files = obfuscated(files, work / f"obfuscated-{args.size}")
    articles = ReleaseArticles(files, SEGMENT)
    delay = args.connections * SEGMENT / (args.line_rate * 1e6)
    server = ServedRelease(articles, Knobs(delay=delay))  # forked before any thread starts
    s3, objects = local_r2()
    bench = Bench(work, articles.nzb(), objects)
    firsts: list[float] = []
    readies: list[float] = []
    outcomes: list[str] = []
    try:
        servers = [parse_server(f"{server.url()}?connections={args.connections}")]
        for _ in range(args.runs):
            _playable.clear()
            started = time.perf_counter()
            ready = bench.ready(servers, reporter=TimedReporter)
            if not _playable:
                raise SystemExit(f"the job never became playable ({ready.outcome})")
            firsts.append(_playable[0] - started)
            readies.append(ready.seconds)
            outcomes.append(ready.outcome)
    finally:
        server.stop()
        s3.stop()
    first, ready_s = statistics.median(firsts), statistics.median(readies)
    print(
        f"release: {args.size / MIB:.0f} MiB movie, line {args.line_rate:g} MB/s, "
        f"{args.connections} connections, {args.runs} runs"
    )
    print(f"first_play_s: {first:.2f} (runs {', '.join(f'{v:.2f}' for v in firsts)})")
    print(f"ready_s: {ready_s:.2f} (runs {', '.join(f'{v:.2f}' for v in readies)})")
    print(f"tail: {'; '.join(sorted(set(outcomes)))}")
    target = 0.1 * ready_s + 10
    print(f"first_play_vs_ready: {first / ready_s:.2f}")
    print(f"target (first play <= 10 % of ready + 10 s = {target:.1f} s): {first <= target}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if first <= target else 1


def obfuscated(files: list[Path], folder: Path) -> list[Path]:
    """The same files (hard links) under random hexadecimal names, in a shuffled order."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    order = random.Random(len(files)).sample(files, len(files))
    hidden = []
    for path in order:
        target = folder / f"{random.getrandbits(64):016x}"
        os.link(path, target)
        hidden.append(target)
    return hidden


if __name__ == "__main__":
    raise SystemExit(main())
