"""Time-to-ready benchmark: NZB in → movie object in a local S3 endpoint, against pure download time.

    python -m bench.ready [--size 256MiB] [--volume 50MiB] [--connections 8] [--runs 3]
                          [--line-rate MB/s] [--missing 0.03] [--recovery 0.05]

A release is built the way movies are posted: an H.264/AAC Matroska file of ``--size`` (a short
encoded clip looped with ``-c copy``), packed into stored RAR5 volumes (``-m0``, what movie releases
use; written by ``sandbox.rar`` because no RAR writer exists in Debian main or on PyPI,
and checked with unar's ``lsar -t`` and bsdtar) and protected by par2 with ``--recovery`` recovery
data. Our asyncio test server serves it on loopback and moto's S3 server stands in for R2, each in a
process of its own (``bench/standins.py``: in production neither shares the downloader's process,
or its GIL); the job lives in a SQLite store.

Printed figures (medians of ``--runs`` after one untimed warm-up of each):

- ``download_s``: the engine alone fetching what any client must fetch (data volumes + par2 index)
  from the same server: the reference.
- ``ready_s``: ``downloader.pipeline.run`` from the NZB to the job being ``ready`` with the object
  uploaded (availability probe, download, verify, unpack, remux, upload), with a per-stage split.
- ``upload_s``: the uploader alone sending a file of the release's size to the same endpoint, a
  second reference: moto runs in Python on the same cores, so it is far slower than the download.
- ``ratio``: ``ready_s / download_s``; the target is ≤ 1.2. ``ratio_vs_download_plus_upload``
  shows what the pipeline adds beyond the two transfers it cannot avoid.
- ``sequential_ratio``: the sequential path (no streaming tail: what a compressed or
  otherwise unstreamable release gets) over ``download_s``; the target is ≤ 1.8.
- ``repair``: the same pipeline with ``--missing`` of the data articles absent from the server: the
  object must be byte-identical to the intact run's by the same path (the streaming tail waits at
  the first gap and reads on after par2's repair; the sequential run if it stepped aside) (yes/no),
  and the time and the tail's outcome are printed.

``--line-rate`` throttles the server (MB/s over all connections, by delaying each article reply) to
model a real Usenet line; without it the loopback runs at memory speed, which makes every stage after
the download look expensive in comparison (see bench/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import sabctools

from bench.download import MIB, parse_size
from bench.standins import ServedRelease, local_r2
from chalicelib.adapters.objects import ObjectStore
from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import Job, JobStatus, new_job_id, to_iso, utcnow
from chalicelib.logs import logger
from downloader import pipeline
from downloader.post.par2 import par2_binary
from downloader.reporter import JobReporter
from downloader.streaming.tail import StreamOptions
from downloader.uploader import Uploader
from downloader.usenet.engine import Engine
from downloader.usenet.nzb import Nzb, parse_nzb
from downloader.usenet.servers import ServerConfig, parse_server
from downloader.volume_names import volume_number
from sandbox import rar
from sandbox import rar4 as rar_4
from sandbox.nntp_server import Knobs

SEGMENT = 768_000  # a typical article: 750 KiB of data

# -- the release -------------------------------------------------------------------------------


def make_movie(path: Path, size: int) -> None:
    """An H.264/AAC Matroska file of about ``size`` bytes: noisy 720p at 40 Mbit/s, so that it
    neither compresses away nor repeats (looped content would hand par2 duplicate blocks, which
    real movies do not have); x264's ultrafast preset makes about 30 MB/s of it here."""
    seconds = size * 8 / 40e6 + 5
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"),
            f"testsrc2=size=1280x720:rate=24:duration={seconds:.0f}",
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:.0f}"),
            *("-vf", "noise=alls=30:allf=t", "-c:v", "libx264", "-preset", "ultrafast"),
            *("-b:v", "40M", "-c:a", "aac", "-fs", str(size), str(path)),
        ],
        check=True,
    )


def is_volume(name: str) -> bool:
    """A RAR volume's name (``x.partN.rar``, ``x.rar``, ``x.r00``…), as the downloader reads it."""
    return volume_number(name) is not None


def make_release(
    folder: Path, size: int, volume: int, recovery: float, segment: int, *, rar4: bool = False
) -> list[Path]:
    """Stored RAR5 volumes of the movie (RAR4 ones, ``x.rar, x.r00…``, with ``rar4``) plus a par2
    set whose block size is the article size, as posting tools choose it, so one missing article
    costs one recovery block (with par2's default of 2000 blocks, a 1 GiB release has 537 KB blocks
    and a lost 750 KB article ruins two or three).
    Reused when an earlier run left it complete."""
    done = folder / "complete"
    if done.exists():
        return sorted(path for path in folder.iterdir() if _release_file(path))
    shutil.rmtree(folder, ignore_errors=True)
    source = folder / "source" / "Movie.2024.1080p.BluRay.x264-BENCH.mkv"
    source.parent.mkdir(parents=True)
    make_movie(source, size)
    volumes = (rar_4 if rar4 else rar).pack_file(source, folder, volume)
    for tool in (["lsar", "-t"], ["bsdtar", "-tf"]):  # real readers accept what we wrote
        if shutil.which(tool[0]):
            subprocess.run([*tool, str(volumes[0])], check=True, capture_output=True)
    shutil.rmtree(source.parent)
    percent = max(1, round(recovery * 100))
    par2 = [par2_binary(), "c", "-q", "-q", f"-s{segment}", f"-r{percent}", "-n8"]
    par2.append(f"{source.stem}.par2")
    subprocess.run([*par2, *(v.name for v in volumes)], cwd=folder, check=True)
    done.touch()
    return sorted(path for path in folder.iterdir() if _release_file(path))


def _release_file(path: Path) -> bool:
    return is_volume(path.name) or path.suffix == ".par2"


@dataclass(frozen=True)
class Segment:
    path: Path
    part: int
    parts: int
    begin: int
    size: int


class ReleaseArticles:
    """The release's files as yEnc articles, encoded on first request and then served from memory,
    so timed runs measure the client, not the encoder."""

    def __init__(self, files: Sequence[Path], segment: int) -> None:
        self.files = list(files)
        self.segment = segment
        self.index: dict[str, Segment] = {}
        self.ids: dict[str, list[str]] = {}
        for number, path in enumerate(self.files, start=1):
            size = path.stat().st_size
            parts = max(1, -(-size // segment))
            ids = [f"p{part}.f{number}@bench" for part in range(1, parts + 1)]
            for part, message_id in enumerate(ids, start=1):
                begin = (part - 1) * segment
                self.index[message_id] = Segment(path, part, parts, begin, size)
            self.ids[path.name] = ids
        self._cache: dict[str, bytes] = {}

    def get(self, message_id: str, /) -> bytes | None:
        body = self._cache.get(message_id)
        if body is not None:
            return body
        found = self.index.get(message_id)
        if found is None:
            return None
        with found.path.open("rb") as source:
            source.seek(found.begin)
            data = source.read(self.segment)
        encoded, crc = sabctools.yenc_encode(data)
        head = (
            f"=ybegin part={found.part} total={found.parts} line=128 size={found.size} "
            f"name={found.path.name}\r\n=ypart begin={found.begin + 1} end={found.begin + len(data)}\r\n"
        )
        tail = f"\r\n=yend size={len(data)} part={found.part} pcrc32={crc:08x}"
        body = head.encode() + encoded + tail.encode()
        self._cache[message_id] = body
        return body

    def _length(self, message_id: str) -> int:
        found = self.index[message_id]
        return min(self.segment, found.size - found.begin)

    def nzb(self) -> Nzb:
        entries = []
        for number, path in enumerate(self.files, start=1):
            ids = self.ids[path.name]
            segments = "".join(
                f'<segment bytes="{self._length(mid)}" number="{n}">{mid}</segment>'
                for n, mid in enumerate(ids, start=1)
            )
            subject = f'[{number}/{len(self.files)}] - "{path.name}" yEnc (1/{len(ids)})'
            entries.append(
                f'<file poster="bench" date="0" subject={quoteattr(subject)}>'
                f"<groups><group>alt.binaries.test</group></groups><segments>{segments}</segments></file>"
            )
        xml = '<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">' + "".join(entries) + "</nzb>"
        return parse_nzb(xml.encode())


# -- timing ------------------------------------------------------------------------------------

#: pipeline.run's stages, by the names it calls them through (module attributes we can wrap).
STAGES = {
    "probe": "probe",
    "download": "_download",
    "verify": "_ensure_intact",
    "unpack": "unpack_release",
    "remux": "prepare",
    "tail": "_stream_upload",  # the streaming tail's last parts and completion
}


@dataclass
class Timings:
    stages: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds


@contextmanager
def timed_stages(timings: Timings, uploader: Uploader) -> Iterator[None]:
    """Wrap each stage pipeline.run calls (and the upload) with a stopwatch, for the split only."""
    originals: dict[str, Any] = {}

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings.add(name, time.perf_counter() - started)

        return timed

    for stage, attribute in STAGES.items():
        if hasattr(pipeline, attribute):
            originals[attribute] = getattr(pipeline, attribute)
            setattr(pipeline, attribute, wrap(stage, originals[attribute]))
    upload, complete = uploader.upload, uploader.complete
    uploader.upload = wrap("upload", upload)  # type: ignore[method-assign]
    # The store assembling the parts (inside "upload" or "tail"): moto does it in Python, R2 does not.
    uploader.complete = wrap("store_complete", complete)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for attribute, original in originals.items():
            setattr(pipeline, attribute, original)
        uploader.upload, uploader.complete = upload, complete  # type: ignore[method-assign]


# -- the runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    seconds: float
    sha256: str
    size: int
    stages: dict[str, float]
    #: The streaming tail's outcome ("streamed …", "fallback: …"), empty on the sequential path.
    outcome: str = ""


class Bench:
    def __init__(self, work: Path, nzb: Nzb, objects: ObjectStore) -> None:
        self.work = work
        self.nzb = nzb
        self.objects = objects
        self.uploader = Uploader(objects)
        (work / "jobs.sqlite3").unlink(missing_ok=True)
        self.store = JobStore(SqliteExecutor(work / "jobs.sqlite3"), cache_seconds=0)
        self.movies = 0

    def download(self, servers: list[ServerConfig]) -> float:
        """The reference: the engine alone, fetching what any client must (data + par2 index)."""
        out = self.work / "reference"
        shutil.rmtree(out, ignore_errors=True)
        wanted = [f for f in self.nzb.files if not f.is_par2_recovery]
        started = time.perf_counter()
        result = Engine(servers).download(wanted, out)
        seconds = time.perf_counter() - started
        if not result.complete:
            raise SystemExit("the reference download is incomplete")
        shutil.rmtree(out, ignore_errors=True)
        return seconds

    def upload(self, files: Sequence[Path]) -> float:
        """A second reference: the uploader alone sending a file of the release's size to the same
        endpoint, so the figures show what is left once both transfers are accounted for."""
        joined = self.work / "upload-reference.bin"
        if not joined.exists():
            with joined.open("wb") as out:
                for path in files:
                    with path.open("rb") as source:
                        shutil.copyfileobj(source, out, 8 * MIB)
        key = "reference/upload.bin"
        started = time.perf_counter()
        self.uploader.upload(joined, key, content_type="application/octet-stream")
        seconds = time.perf_counter() - started
        self.objects.client.delete_object(Bucket=self.objects.bucket, Key=key)
        return seconds

    def ready(
        self,
        servers: list[ServerConfig],
        *,
        stream: bool = True,
        reporter: type[JobReporter] = JobReporter,
    ) -> Ready:
        """NZB in → object uploaded and the job ``ready``, through ``pipeline.run`` (with the
        streaming tail unless ``stream`` is False; ``reporter``: the job's reporter class)."""
        now = utcnow()
        self.movies += 1  # a ready job stays the movie's active job: each run is another movie
        job = Job(new_job_id(now), self.movies, JobStatus.QUEUED, to_iso(now), to_iso(now))
        self.store.create_job(job)
        claimed = self.store.transition(
            job.job_id, from_statuses=[JobStatus.QUEUED], to=JobStatus.DOWNLOADING, now=to_iso(now)
        )
        assert claimed is not None
        message = JobMessage(
            job_id=job.job_id,
            movie_id=job.movie_id,
            release_id="bench",
            release_title="Movie.2024-BENCH",
        )
        context = pipeline.TaskContext(
            uploader=self.uploader,
            servers=servers,
            get_nzb=lambda _release_id: self.nzb,
            work_root=self.work / "jobs",
            retention_hours=168,
            max_release_bytes=10**13,
        )
        outcomes: list[str] = []
        context.streaming = StreamOptions(on_outcome=outcomes.append) if stream else None
        timings = Timings()
        with timed_stages(timings, self.uploader), redirect_stdout(io.StringIO()):  # EMF lines
            started = time.perf_counter()
            pipeline.run(message, context, reporter(self.store, claimed))
            seconds = time.perf_counter() - started
        done = self.store.get_job(job.job_id)
        if done is None or done.status is not JobStatus.READY or done.object_key is None:
            raise SystemExit(f"the job did not become ready: {done}")
        digest = hashlib.sha256()
        client, bucket = self.objects.client, self.objects.bucket
        body = client.get_object(Bucket=bucket, Key=done.object_key)["Body"]
        for chunk in iter(lambda: body.read(8 * MIB), b""):
            digest.update(chunk)
        client.delete_object(Bucket=bucket, Key=done.object_key)  # moto keeps objects in memory
        outcome = "; ".join(outcomes)
        return Ready(seconds, digest.hexdigest(), done.size_bytes or 0, timings.stages, outcome)


def pick_missing(articles: ReleaseArticles, share: float, seed: int) -> set[str]:
    """``share`` of the RAR volumes' articles, chosen at random (seeded), for the server to lack;
    none of the first volume's, whose headers the streaming tail reads before it starts (with a gap
    there it is not attempted, and the run would time the sequential path again)."""
    volumes = sorted((n for n in articles.ids if is_volume(n)), key=lambda n: volume_number(n) or 0)
    data = [mid for name in volumes for mid in articles.ids[name]]
    later = [mid for name in volumes[1:] for mid in articles.ids[name]]
    return set(random.Random(seed).sample(later, max(1, round(len(data) * share))))


def median_runs(label: str, values: list[float]) -> float:
    middle = statistics.median(values)
    print(f"{label}: {middle:.2f} (runs {', '.join(f'{v:.2f}' for v in values)})")
    return middle


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ready", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--size", type=parse_size, default=256 * MIB, help="movie size (256MiB)")
    parser.add_argument("--volume", type=parse_size, default=50 * MIB, help="RAR volume size")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--segment", type=int, default=SEGMENT, help="article size in bytes")
    parser.add_argument("--runs", type=int, default=3, help="timed runs each (median)")
    parser.add_argument("--line-rate", type=float, default=0.0, help="server MB/s (0: loopback)")
    parser.add_argument("--missing", type=float, default=0.03, help="share missing for repair")
    parser.add_argument("--recovery", type=float, default=0.05, help="par2 recovery share")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--rar4", action="store_true", help="RAR4 volumes (x.rar, x.r00…)")
    parser.add_argument("--work", type=Path, help="working folder, kept (default: temporary)")
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)  # the job's own log lines would bury the figures
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # and so would one EMF line per R2 call
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-ready-"))
    work.mkdir(parents=True, exist_ok=True)
    built = time.perf_counter()
    key = f"release-{args.size}-{args.volume}-{args.recovery}-{args.segment}"
    key += "-rar4" if args.rar4 else ""
    files = make_release(
        work / key, args.size, args.volume, args.recovery, args.segment, rar4=args.rar4
    )
    articles = ReleaseArticles(files, args.segment)
    nzb = articles.nzb()
    volumes = [path for path in files if is_volume(path.name)]
    delay = args.connections * args.segment / (args.line_rate * 1e6) if args.line_rate else 0.0
    print(
        f"release: {args.size / MIB:.0f} MiB movie in {len(volumes)} stored "
        f"{'RAR4' if args.rar4 else 'RAR5'} volumes + par2 "
        f"{args.recovery:.0%}; {len(articles.index)} articles of {args.segment} B; "
        f"{args.connections} connections; line: "
        + (f"{args.line_rate:g} MB/s" if args.line_rate else "loopback, unthrottled")
        + f" (built in {time.perf_counter() - built:.0f} s)"
    )
    missing = pick_missing(articles, args.missing, args.seed)
    intact = ServedRelease(articles, Knobs(delay=delay))  # forked before any thread starts
    damaged = ServedRelease(articles, Knobs(delay=delay, missing=missing))
    s3, objects = local_r2()
    bench = Bench(work, nzb, objects)
    try:
        options = f"?connections={args.connections}"
        servers = [parse_server(intact.url() + options)]
        bench.download(servers)  # warm-up: encodes every article once
        first = bench.ready(servers)
        downloads = [bench.download(servers) for _ in range(args.runs)]
        uploads = [bench.upload(volumes) for _ in range(args.runs)]
        readies = [bench.ready(servers) for _ in range(args.runs)]
        sequentials = [bench.ready(servers, stream=False) for _ in range(args.runs)]
        repaired = bench.ready([parse_server(damaged.url() + options)])
    finally:
        intact.stop()
        damaged.stop()
        s3.stop()
    download_s = median_runs("download_s", downloads)
    upload_s = median_runs("upload_s", uploads)
    ready_s = median_runs("ready_s", [r.seconds for r in readies])
    split = {
        name: statistics.median(r.stages.get(name, 0.0) for r in readies)
        for name in (*STAGES, "upload")
    }
    split["other"] = ready_s - sum(split.values())
    assembly = statistics.median(r.stages.get("store_complete", 0.0) for r in readies)
    print("stages_s: " + ", ".join(f"{name} {value:.2f}" for name, value in split.items()))
    print(f"of which the store assembling the parts (CompleteMultipartUpload): {assembly:.2f}")
    print(f"ratio: {ready_s / download_s:.2f} (target <= 1.2)")
    print(f"ratio_without_store_assembly: {(ready_s - assembly) / download_s:.2f}")
    print(f"ratio_vs_download_plus_upload: {ready_s / (download_s + upload_s):.2f}")
    same = all(r.sha256 == first.sha256 for r in readies)
    print(
        f"object: {first.size / MIB:.0f} MiB MP4, identical across runs: {'yes' if same else 'no'}"
    )
    print(f"tail: {readies[0].outcome or 'sequential'}")
    sequential_s = median_runs("sequential ready_s", [r.seconds for r in sequentials])
    print(f"sequential_ratio: {sequential_s / download_s:.2f} (target <= 1.8)")
    stages = {name for r in sequentials for name in r.stages}
    print(
        "sequential stages_s (medians): "
        + ", ".join(
            f"{name} {statistics.median(r.stages.get(name, 0.0) for r in sequentials):.2f}"
            for name in sorted(stages)
        )
    )
    # The tail waits at the first gap and reads on from par2's repaired files: the object must be
    # the intact release's by the same path (streamed, or sequential if the tail stepped aside).
    reference = first if repaired.outcome.startswith("streamed") else sequentials[0]
    identical = repaired.sha256 == reference.sha256
    print(
        f"repair: {len(missing)} of {sum(len(i) for n, i in articles.ids.items() if is_volume(n))} "
        f"data articles missing ({args.missing:.0%}), {args.recovery:.0%} recovery: "
        f"byte_identical {'yes' if identical else 'no'}, ready_s {repaired.seconds:.2f} "
        f"(verify/repair {repaired.stages.get('verify', 0.0):.2f}); "
        f"tail: {repaired.outcome or 'sequential'}"
    )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if identical and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
