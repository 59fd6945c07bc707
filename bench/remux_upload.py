"""The sequential path's last two steps: remux then upload, against uploading while ffmpeg writes.

    python -m bench.remux_upload [--size 256MiB] [--uplink MB/s] [--runs 5]

bench/ready.py's Matroska movie (``make_movie``) is made browser-playable by ``remux.prepare`` and
stored in moto's S3 server (``bench/standins.py``, a process of its own), alternately:

- ``after``: remux with ``+faststart`` (the index moved to the front once the file is written),
  then ``Uploader.upload``: what the sequential path did before;
- ``while``: ``prepare`` with ``UploadWhileRemuxing``: the index reserved up front, every part past
  it sent as ffmpeg writes, the first part last.

Printed: medians of ``--runs`` of each, with and without moto's CompleteMultipartUpload (moto
assembles the object in Python on the same cores; R2 does it on its own machines), and
``while_vs_after`` (after's time over while's, without the assembly: above 1 is faster).

Without ``--uplink`` the parts go to moto at loopback speed, so ffmpeg, moto and the uploader are
all CPU-bound on the same cores and overlapping them can gain little. ``--uplink`` paces the parts
(one token bucket over all workers, in the client: it costs no CPU) to model the task's link to R2,
which is what a real upload waits on.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.download import MIB, parse_size
from bench.ready import make_movie
from bench.standins import local_r2
from chalicelib.adapters.objects import ObjectStore
from downloader.post.remux import prepare
from downloader.streaming.growing_upload import UploadWhileRemuxing
from downloader.uploader import Uploader

KEY = "movies/bench/movie.mp4"


def paced(objects: ObjectStore, rate: float) -> None:
    """Parts leave no faster than ``rate`` bytes per second in all (a shared token bucket)."""
    lock, free_at = threading.Lock(), [0.0]
    send = objects.send_part

    def send_part(key: str, upload_id: str, number: int, body: bytes) -> str:
        with lock:
            free_at[0] = max(time.monotonic(), free_at[0]) + len(body) / rate
            until = free_at[0]
        time.sleep(max(0.0, until - time.monotonic()))
        return send(key, upload_id, number, body)

    objects.send_part = send_part  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.remux_upload", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--size", type=parse_size, default=256 * MIB, help="movie size (256MiB)")
    parser.add_argument("--uplink", type=float, default=0.0, help="MB/s to the store (0: loopback)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (median)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-remux-upload-"))
    source = work / "Movie.2024.mkv"
    make_movie(source, args.size)
    s3, objects = local_r2()
    if args.uplink:
        paced(objects, args.uplink * 1e6)
    uploader = Uploader(objects)
    complete, assembly = uploader.complete, [0.0]

    def timed_complete(*arguments: object, **keywords: object) -> None:
        started = time.perf_counter()
        complete(*arguments, **keywords)  # type: ignore[arg-type]
        assembly[0] = time.perf_counter() - started

    uploader.complete = timed_complete  # type: ignore[method-assign]
    runs: dict[str, list[tuple[float, float]]] = {"after": [], "while": []}
    try:
        for _ in range(args.runs):
            for mode in runs:
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                started = time.perf_counter()
                if mode == "after":
                    made = prepare(source, out)
                    uploader.upload(made.path, KEY, content_type=made.content_type)
                else:
                    follower = UploadWhileRemuxing(uploader, KEY, {})
                    prepare(source, out, follower=follower)
                    if follower.uploaded is None:
                        raise SystemExit("the upload did not follow the remux")
                runs[mode].append((time.perf_counter() - started, assembly[0]))
                objects.delete(KEY)
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    line = f"{args.uplink:g} MB/s paced" if args.uplink else "loopback"
    print(f"movie {args.size / MIB:.0f} MiB, uplink {line}, {args.runs} runs of each")
    without = {}
    for mode, timed in runs.items():
        total = statistics.median(seconds for seconds, _ in timed)
        without[mode] = statistics.median(seconds - spent for seconds, spent in timed)
        shown = ", ".join(f"{seconds:.2f}" for seconds, _ in timed)
        print(
            f"{mode}: {total:.2f} s (runs {shown}), without the store's assembly {without[mode]:.2f} s"
        )
    print(f"while_vs_after: {without['after'] / without['while']:.2f} (without the assembly)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
