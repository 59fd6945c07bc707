"""The Fargate entry point itself, ``downloader.task.main()``, configured only by its environment.

Everything the task touches is real and local: the job in a SQLite store (set to ``downloading`` as
the dispatcher leaves it), the NZB from an HTTP indexer on 127.0.0.1, articles from the asyncio NNTP
test server, a stored RAR5 set with par2 built with real tools, unpacking, ffmpeg, and moto's S3 in
R2's place. What the tests read back is what a user or an operator would see: the exit status, the
job row, the object, and an empty work folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.domain.jobs import JobStatus
from chalicelib.domain.server_figures import decode_servers
from downloader.post.par2 import par2_binary
from downloader.post.remux import probe
from downloader.task import main
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from sandbox.rar import pack_file
from tests.conftest import R2_BUCKET, ROOT
from tests.downloader.conftest import INDEXER_KEY, Task, open_uploads

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)

MOVIE = "Movie.2024.1080p.mkv"


@pytest.fixture(scope="module")
def rar_release_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A 2-second H.264/AAC Matroska movie in three stored RAR5 volumes, with 10 % par2 recovery
    data over the volumes: how movies are posted."""
    folder = tmp_path_factory.mktemp("rar-release")
    source = folder / "source" / MOVIE
    source.parent.mkdir()
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i"),
            "testsrc=size=320x240:rate=24:duration=2",
            *("-f", "lavfi", "-i", "sine=duration=2"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-c:a", "aac", str(source)),
        ],
        check=True,
    )
    volumes = pack_file(source, folder, volume_size=source.stat().st_size // 3 + 1)
    assert len(volumes) >= 3
    names = [volume.name for volume in volumes]
    par2 = ["c", "-q", "-q", "-r10", "-n2", "Movie.2024.1080p.par2", *names]
    subprocess.run([par2_binary(), *par2], cwd=folder, check=True)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def test_the_task_turns_a_claimed_job_into_a_ready_movie(
    task: Task, s3: S3Client, tmp_path: Path, rar_release_files: dict[str, bytes]
) -> None:
    release = make_release(rar_release_files, segment_size=16_384)
    server = task.serve(release)
    message = task.claimed_job()

    assert main() == 0

    job = task.job(message)
    assert job.status is JobStatus.READY
    assert job.object_key == f"movies/{message.job_id}/movie.mp4"
    assert (job.content_type, job.progress, job.error_message) == ("video/mp4", 100.0, None)
    stored = s3.get_object(Bucket=R2_BUCKET, Key=job.object_key)
    assert stored["ContentLength"] == job.size_bytes
    local = tmp_path / "movie.mp4"
    local.write_bytes(stored["Body"].read())
    found = probe(local)
    assert (found.video_codec, [t.codec for t in found.audio]) == ("h264", ["aac"])
    assert task.leftovers() == []
    assert open_uploads(s3) == []
    assert [q["id"] for q in task.indexer.requests] == [["r1"]]
    recovery = [mid for name, ids in release.message_ids.items() if ".vol" in name for mid in ids]
    assert not any(server.stats.bodies[mid] for mid in recovery)  # intact: no recovery fetched


def test_missing_articles_are_repaired_through_the_entry_point(
    task: Task, s3: S3Client, rar_release_files: dict[str, bytes]
) -> None:
    release = make_release(rar_release_files, segment_size=16_384)
    second_volume = sorted(name for name in release.message_ids if name.endswith(".rar"))[1]
    server = task.serve(release, missing={release.message_ids[second_volume][2]})
    message = task.claimed_job()

    assert main() == 0

    assert task.job(message).status is JobStatus.READY
    assert task.leftovers() == []
    recovery = [mid for name, ids in release.message_ids.items() if ".vol" in name for mid in ids]
    assert any(server.stats.bodies[mid] for mid in recovery)  # repaired from fetched recovery


def test_the_job_ends_with_what_each_news_server_did(
    task: Task,
    s3: S3Client,
    rar_release_files: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Figures per server in the job's record and as ``ServerArticles`` metrics by server and
    outcome; the server is its host:port, never its credentials."""
    release = make_release(rar_release_files, segment_size=16_384)
    volume = sorted(name for name in release.message_ids if name.endswith(".rar"))[0]
    lacking = set(release.message_ids[volume][:2])
    primary = task.serve(release, username="u", password="pw-s3cret", missing=lacking)
    backup = task.serve(release)
    task.env.setenv("NNTP_SERVERS", f"{primary.url('u', 'pw-s3cret')},{backup.url(priority=1)}")
    message = task.claimed_job()
    capsys.readouterr()

    assert main() == 0

    job = task.job(message)
    first, second = decode_servers(job.servers)
    assert (first.server, second.server) == (
        f"127.0.0.1:{primary.port}",
        f"127.0.0.1:{backup.port}",
    )
    assert (first.articles_missing, second.articles_fetched) == (2, 2)
    assert min(first.articles_fetched, first.bytes, first.seconds) > 0
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    articles = {
        (line["server"], line["outcome"]): line["ServerArticles"][0]
        for line in lines
        if "ServerArticles" in line
    }
    assert articles[(first.server, "missing")] == 2.0
    assert articles[(second.server, "fetched")] == 2.0
    assert articles[(first.server, "fetched")] == first.articles_fetched
    assert "s3cret" not in output
    assert "s3cret" not in (job.servers or "")


@pytest.mark.parametrize(
    ("setup", "error", "error_class"),
    [
        ("wrong_password", "Usenet login failed", "usenet_auth"),
        ("unknown_release", "could not get the release's NZB", "indexer"),
        ("no_servers", "the downloader is misconfigured", "config"),
        ("too_much_missing", "recovery data", "missing_articles"),
    ],
)
def test_a_failure_exits_1_with_the_reason_in_the_job(
    task: Task,
    s3: S3Client,
    rar_release_files: dict[str, bytes],
    setup: str,
    error: str,
    error_class: str,
) -> None:
    release = make_release(rar_release_files, segment_size=16_384)
    missing: set[str] = set()
    if setup == "too_much_missing":  # every other article of every RAR volume
        volumes = [ids for name, ids in release.message_ids.items() if name.endswith(".rar")]
        missing = {mid for ids in volumes for mid in ids[::2]}
    server = task.serve(release, username="u", password="right", missing=missing)
    task.env.setenv(
        "NNTP_SERVERS", server.url("u", "wrong" if setup == "wrong_password" else "right")
    )
    if setup == "unknown_release":
        task.indexer.nzbs.clear()
    if setup == "no_servers":
        task.env.setenv("NNTP_SERVERS", "")
    message = task.claimed_job()

    assert main() == 1

    job = task.job(message)
    assert job.status is JobStatus.ERROR
    assert job.error_message is not None
    assert error in job.error_message
    assert job.error_class == error_class
    assert "wrong" not in job.error_message
    assert INDEXER_KEY not in job.error_message
    assert task.leftovers() == []
    assert open_uploads(s3) == []


@pytest.mark.parametrize("message", ["", "{}", '{"job_id": "../etc", "movie_id": 1}', "not json"])
def test_a_malformed_job_message_exits_2_without_touching_any_job(task: Task, message: str) -> None:
    claimed = task.claimed_job()
    task.env.setenv("JOB_MESSAGE", message)

    assert main() == 2

    assert task.job(claimed).status is JobStatus.DOWNLOADING


def test_a_job_not_claimed_for_this_task_is_left_alone(task: Task) -> None:
    message = task.claimed_job(JobStatus.QUEUED)

    assert main() == 1

    assert task.job(message).status is JobStatus.QUEUED


def test_a_second_task_for_one_claim_leaves_the_job_to_the_first(task: Task) -> None:
    """Two tasks for one claim (an ECS reply lost, a Lambda timing out after RunTask): the one
    that took the job keeps it; the other exits before downloading a byte or writing anything."""
    server = task.serve(make_release({"Movie.2024.mkv": b"x" * 1000}))
    message = task.claimed_job()
    first = task.store.take(message.job_id, worker="first-task", now="2026-12-02T10:00:00Z")
    assert first is not None

    assert main() == 1

    job = task.job(message)
    assert (job.status, job.worker, job.updated_at) == (
        JobStatus.DOWNLOADING,
        "first-task",
        first.updated_at,
    )
    assert server.stats.bodies == {}
    assert task.indexer.requests == []  # not even the NZB was fetched


def wait_for_first_article(server: NntpTestServer, child: subprocess.Popen[bytes] | None) -> None:
    """Block until the downloader has asked for an article (it is then inside the download)."""
    deadline = time.monotonic() + 60
    while not server.stats.bodies:
        if child is not None and child.poll() is not None:
            raise AssertionError(f"the task ended early with status {child.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("the task never started downloading")
        time.sleep(0.02)


def test_sigterm_during_the_download_marks_the_job_stopped_and_exits_nonzero(
    task: Task, s3: S3Client, rar_release_files: dict[str, bytes]
) -> None:
    """In process: SIGTERM reaches the handler ``main()`` installed while the download is blocked
    on a slow server; the job says "stopped" and ``main()`` ends with SystemExit(143)."""
    release = make_release(rar_release_files, segment_size=16_384)
    server = task.serve(release, delay=0.2)
    task.env.setenv("NNTP_SERVERS", server.url(connections=1))
    message = task.claimed_job()

    def stop() -> None:
        wait_for_first_article(server, None)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=stop, daemon=True)
    killer.start()
    with pytest.raises(SystemExit) as exited:
        main()
    killer.join(timeout=5)

    assert exited.value.code == 143
    job = task.job(message)
    assert job.status is JobStatus.ERROR
    assert (job.error_class, job.error_message) == (
        "stopped",
        "stopped: the download task was shut down",
    )
    assert task.leftovers() == []


def test_sigterm_stops_the_real_process_with_status_143(
    task: Task, rar_release_files: dict[str, bytes]
) -> None:
    """``python -m downloader run`` as Fargate starts it, stopped the way Fargate stops it."""
    release = make_release(rar_release_files, segment_size=16_384)
    server = task.serve(release, delay=0.2)
    task.env.setenv("NNTP_SERVERS", server.url(connections=1))
    message = task.claimed_job()
    child = subprocess.Popen(
        [sys.executable, "-m", "downloader", "run"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_first_article(server, child)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.stderr is not None

    assert child.returncode == 143, child.stderr.read().decode(errors="replace")
    job = task.job(message)
    assert (job.status, job.error_class) == (JobStatus.ERROR, "stopped")
    assert task.leftovers() == []
