"""The streaming tail (downloader/streaming/tail.py): remux and upload while downloading, or step aside.

Real tools throughout: a stored RAR5 set written by bench.ready's writer with a par2 set made by
par2cmdline-turbo, served by the NNTP test server, remuxed by ffmpeg, uploaded to moto's S3. Each
case checks what matters to a user (the job is ready and the object plays with the same streams as
the sequential path gives) and to an operator (no multipart upload left open, no files left behind).
No assertion depends on timing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.jobs import JobStatus
from downloader.errors import JobFailed
from downloader.pipeline import TaskContext, run
from downloader.post.ffmpeg import FFmpeg
from downloader.post.par2 import par2_binary
from downloader.post.remux import probe
from downloader.streaming import NotStreamable
from downloader.streaming.rar5_slices import read_slice
from downloader.streaming.tail import StreamOptions
from downloader.streaming.watermark import Watermarks
from downloader.uploader import MIN_PART
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from sandbox.rar import pack_file
from tests.conftest import R2_BUCKET
from tests.test_pipeline import context_for, start_job

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)
RAR = Path(__file__).parent / "fixtures" / "rar"
SEGMENT = 256 * 1024


@pytest.fixture(scope="module")
def stored_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A 6-second H.264/AAC Matroska movie of about 12 MB (more than two 5 MiB upload parts) in
    four stored RAR5 volumes, with 15 % par2 recovery data in article-sized blocks."""
    return build_stored_set(tmp_path_factory.mktemp("stored-set"))


def noisy_movie(
    path: Path, *, seconds: int, bitrate: str = "16M", keyframe_every: int | None = None
) -> None:
    """A 640x360 H.264 + AAC movie of ``seconds`` whose noise keeps it from compressing away (so
    it fills its volumes and articles as real video does); a keyframe every ``keyframe_every``
    frames (24 per second) when given, else x264's default."""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i"),
            f"testsrc2=size=640x360:rate=24:duration={seconds}",
            *("-f", "lavfi", "-i", f"sine=duration={seconds}", "-vf", "noise=alls=40:allf=t"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-b:v", bitrate, "-c:a", "aac"),
            *(("-g", str(keyframe_every)) if keyframe_every is not None else ()),
            str(path),
        ],
        check=True,
    )


def build_stored_set(folder: Path, *, keyframe_every: int = 250) -> dict[str, bytes]:
    """The files of ``stored_set``; ``keyframe_every`` frames (24 per second) start a GOP."""
    source = folder / "source" / "Movie.2024.1080p.mkv"
    source.parent.mkdir()
    noisy_movie(source, seconds=6, keyframe_every=keyframe_every)
    volumes = pack_file(source, folder, volume_size=source.stat().st_size // 4 + 1)
    par2 = ["c", "-q", "-q", "-r15", "-n2", f"-s{SEGMENT}", "Movie.2024.1080p.par2"]
    subprocess.run([par2_binary(), *par2, *(v.name for v in volumes)], cwd=folder, check=True)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def packets(path: Path) -> list[str]:
    """Per-stream hashes of the packets, codecs and durations: what a player gets from the file."""
    hashes = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "streamhash",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = probe(path)
    return [*hashes, str(found.video_codec), *(t.codec for t in found.audio), str(found.container)]


def ready_movie(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    files: dict[str, bytes],
    options: StreamOptions | None,
    adjust: Callable[[TaskContext], None] | None = None,
    **knobs: object,
) -> tuple[Path, list[str]]:
    """Run one job to ``ready``; the object as a local file, and the tail's outcomes.
    ``adjust`` may change the task's context first (servers, engine options)."""
    outcomes: list[str] = []
    release = make_release(files, segment_size=SEGMENT)
    context = context_for(release, s3, tmp_path, servers, **knobs)
    if adjust is not None:
        adjust(context)
    if options is not None:
        context.streaming = StreamOptions(
            tools=options.tools,
            part_size=MIN_PART,
            on_outcome=outcomes.append,
            hls_segment_seconds=options.hls_segment_seconds,
        )
    else:
        context.streaming = None
    message, reporter = start_job(store)

    run(message, context, reporter)

    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.object_key == f"movies/{message.job_id}/movie.mp4"
    assert reporter.statuses[-2:] == ["preparing", "ready"]
    assert reporter.percents == sorted(reporter.percents)  # across the engine's runs too
    assert reporter.percents[-1] == 100.0
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []
    assert list((tmp_path / "work").iterdir()) == []
    local = tmp_path / f"{message.job_id}.mp4"
    local.write_bytes(s3.get_object(Bucket=R2_BUCKET, Key=job.object_key)["Body"].read())
    assert job.size_bytes == local.stat().st_size
    return local, outcomes


@pytest.fixture
def sequential(
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
) -> list[str]:
    """What the sequential path (verify → unpack → remux → upload) makes of the set."""
    return sequential_packets(s3, tmp_path / "sequential", servers, stored_set)


def sequential_packets(
    s3: S3Client, folder: Path, servers: list[NntpTestServer], files: dict[str, bytes]
) -> list[str]:
    """``packets`` of what the sequential path makes of ``files``, run as a job of its own store
    in ``folder`` (one movie has one active job)."""
    folder.mkdir()
    own = JobStore(SqliteExecutor(folder / "jobs.sqlite3"), cache_seconds=0)
    movie, _ = ready_movie(own, s3, folder, servers, files, None)
    return packets(movie)


def test_a_stored_rar_set_is_remuxed_and_uploaded_while_it_downloads(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
    sequential: list[str],
) -> None:
    movie, outcomes = ready_movie(store, s3, tmp_path, servers, stored_set, StreamOptions())

    assert len(outcomes) == 1
    assert outcomes[0].startswith("streamed")
    assert packets(movie) == sequential  # same streams, same packets, same codecs
    duration = probe(movie).duration_seconds
    assert duration is not None
    assert 5.9 < duration < 6.2
    with movie.open("rb") as source:  # the index is at the front: playable before it all arrives
        head = source.read(MIN_PART)
    assert 0 < head.find(b"moov") < head.find(b"mdat")


def test_a_missing_article_mid_stream_is_repaired_and_the_stream_goes_on(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
    sequential: list[str],
) -> None:
    release = make_release(stored_set, segment_size=SEGMENT)
    second = sorted(name for name in release.message_ids if name.endswith(".rar"))[1]
    missing = {release.message_ids[second][2]}

    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, stored_set, StreamOptions(), missing=missing
    )

    assert len(outcomes) == 1
    assert outcomes[0].startswith("streamed")
    assert packets(movie) == sequential  # the repaired bytes, not the downloaded ones
    recovery = [mid for name, ids in release.message_ids.items() if ".vol" in name for mid in ids]
    assert any(servers[-1].stats.bodies[mid] for mid in recovery)  # repaired from recovery data


def test_ffmpeg_failing_mid_stream_falls_back(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
    sequential: list[str],
) -> None:
    broken = tmp_path / "ffmpeg"
    broken.write_text(
        '#!/bin/sh\nhead -c 3000000 >/dev/null\necho "decoder exploded" >&2\nexit 1\n'
    )
    broken.chmod(0o755)

    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, stored_set, StreamOptions(tools=FFmpeg(ffmpeg=str(broken)))
    )

    assert len(outcomes) == 1
    assert outcomes[0].startswith("fallback: ")
    assert "decoder exploded" in outcomes[0]
    assert packets(movie) == sequential


def test_too_little_index_space_falls_back(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
    sequential: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("downloader.streaming.plan.MOOV_BASE", 64)
    monkeypatch.setattr("downloader.streaming.plan.MOOV_PER_SAMPLE", 0)

    movie, outcomes = ready_movie(store, s3, tmp_path, servers, stored_set, StreamOptions())

    assert len(outcomes) == 1
    assert outcomes[0].startswith("fallback: ffmpeg failed")
    assert packets(movie) == sequential


@pytest.mark.parametrize(
    ("fixture", "failure", "outcomes"),
    [
        ("rar5-solid.rar", "no_video", ["not attempted: compressed archive"]),
        ("rar5-psw.rar", "password", ["not attempted: its file is encrypted"]),  # seen in its head
        ("rar5-hpsw.rar", "password", ["not attempted: its headers are encrypted"]),
    ],
)
def test_compressed_or_encrypted_sets_are_not_streamed(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    fixture: str,
    failure: str,
    outcomes: list[str],
) -> None:
    seen: list[str] = []
    release = make_release({"Movie.2024.rar": (RAR / fixture).read_bytes()})
    context = context_for(release, s3, tmp_path, servers)
    context.streaming = StreamOptions(on_outcome=seen.append)
    message, reporter = start_job(store)

    with pytest.raises(JobFailed) as failed:
        run(message, context, reporter)

    assert failed.value.error_class == failure
    assert seen == outcomes
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []


def test_stored_headers_are_read_and_anything_else_refused(stored_set: dict[str, bytes]) -> None:
    names = sorted(name for name in stored_set if name.endswith(".rar"))
    slices = [read_slice(stored_set[name][:65536]) for name in names]
    assert [s.volume_number for s in slices] == list(range(len(names)))
    assert sum(s.data_size for s in slices) == slices[0].file_size
    assert [s.split_after for s in slices] == [True] * (len(names) - 1) + [False]
    for fixture, reason in [
        ("rar5-solid.rar", "compressed"),
        ("rar5-hpsw.rar", "encrypted"),
        ("rar3-old.rar", "not a RAR5"),
    ]:
        with pytest.raises(NotStreamable, match=reason):
            read_slice((RAR / fixture).read_bytes())


def test_the_watermark_is_the_end_of_the_intact_prefix(tmp_path: Path) -> None:
    watch = Watermarks()
    watch.opened(0, tmp_path / "a")
    watch.arrived(0, 200, 300, 400)  # early: beyond a gap
    assert watch.wait(0, -1, timeout=0).mark == 0
    watch.arrived(0, 0, 100, 400)
    assert watch.wait(0, -1, timeout=0).mark == 100
    watch.arrived(0, 100, 200, 400)  # fills the gap: the early part counts now
    assert watch.wait(0, -1, timeout=0).mark == 300
    watch.settled(0, tmp_path / "b", complete=False)  # the last article never came
    state = watch.wait(0, 300, timeout=0)
    assert (state.mark, state.done, state.complete, state.path) == (
        300,
        True,
        False,
        tmp_path / "b",
    )
