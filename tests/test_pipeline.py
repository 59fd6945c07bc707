"""The downloader task end to end, in process: test NNTP server → engine → par2 → remux → moto S3,
with the job moving queued → downloading → preparing → ready in the SQLite store."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.domain.dispatch import Candidate, JobMessage
from chalicelib.domain.jobs import JobStatus, decode_skipped
from downloader.errors import JobFailed, NzbError
from downloader.pipeline import TaskContext, run
from downloader.post.par2 import par2_binary
from downloader.post.remux import probe
from downloader.reporter import JobReporter
from downloader.uploader import MIN_PART, Uploader
from downloader.usenet.nzb import Nzb, parse_nzb
from downloader.usenet.servers import parse_server
from sandbox.nntp_server import Knobs, NntpTestServer
from sandbox.posting import Release, make_release
from tests.conftest import R2_BUCKET, objects_on
from tests.seeding import seed_job

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (.ci/run)")
RAR = Path(__file__).parent / "fixtures" / "rar"


@pytest.fixture(scope="module")
def movie_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A 2-second H.264/AAC Matroska movie with a par2 set (20 % recovery in 3 volumes)."""
    folder = tmp_path_factory.mktemp("release")
    video = "-f lavfi -i testsrc=size=320x240:rate=24:duration=2 -f lavfi -i sine=duration=2"
    codecs = "-c:v libx264 -preset ultrafast -b:v 2M -c:a aac"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            *video.split(),
            *codecs.split(),
            str(folder / "Movie.2024.1080p.mkv"),
        ],
        check=True,
    )
    par2 = "c -q -q -r20 -n3 -s4096 Movie.2024.1080p.par2 Movie.2024.1080p.mkv"
    subprocess.run([par2_binary(), *par2.split()], cwd=folder, check=True)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


class RecordingReporter(JobReporter):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.statuses: list[str] = []
        self.percents: list[float] = []

    def _attempt(
        self,
        expected: JobStatus | tuple[JobStatus, ...],
        to: JobStatus,
        *,
        token: str,
        **changes: object,
    ) -> None:
        super()._attempt(expected, to, token=token, **changes)
        self.statuses.append(to.value)
        if to is JobStatus.DOWNLOADING and changes.get("progress") is not None:
            self.percents.append(float(changes["progress"]))  # type: ignore[arg-type]


def start_job(store: JobStore) -> tuple[JobMessage, RecordingReporter]:
    claimed = seed_job(store, JobStatus.DOWNLOADING)
    message = JobMessage(
        job_id=claimed.job_id, movie_id=550, release_id="r1", release_title="Movie.2024.1080p-GRP"
    )
    return message, RecordingReporter(store, claimed, interval=0.0)


def context_for(
    release: Release, s3: S3Client, tmp_path: Path, servers: list[NntpTestServer], **knobs: object
) -> TaskContext:
    server = NntpTestServer(release.articles, Knobs(**knobs)).start()  # type: ignore[arg-type]
    servers.append(server)
    return TaskContext(
        uploader=Uploader(objects_on(s3), part_size=MIN_PART),
        servers=[parse_server(server.url())],
        get_nzb=lambda release_id: parse_nzb(release.nzb),
        work_root=tmp_path / "work",
        retention_hours=168,
        max_release_bytes=10**9,
    )


def test_a_release_becomes_a_ready_playable_movie(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    context = context_for(release, s3, tmp_path, servers)
    message, reporter = start_job(store)

    run(message, context, reporter)

    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.object_key == f"movies/{message.job_id}/movie.mp4"
    assert (job.content_type, job.expires_at is not None) == ("video/mp4", True)
    assert reporter.statuses[-2:] == ["preparing", "ready"]
    assert reporter.percents == sorted(reporter.percents)  # progress only moves forward
    assert reporter.percents[-1] == 100.0
    local = tmp_path / "movie.mp4"
    local.write_bytes(s3.get_object(Bucket=R2_BUCKET, Key=job.object_key)["Body"].read())
    found = probe(local)
    assert found.video_codec == "h264"
    assert [track.codec for track in found.audio] == ["aac"]
    assert found.duration_seconds is not None
    assert 1.9 < found.duration_seconds < 2.2
    assert list((tmp_path / "work").iterdir()) == []  # temporary data removed
    recovery_ids = [
        mid for name, ids in release.message_ids.items() if ".vol" in name for mid in ids
    ]
    assert not any(servers[0].stats.bodies[mid] for mid in recovery_ids)  # intact: none fetched


def test_missing_articles_are_repaired_from_recovery_volumes_fetched_on_demand(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    movie_ids = release.message_ids["Movie.2024.1080p.mkv"]
    missing = {movie_ids[1], movie_ids[len(movie_ids) // 2]}
    context = context_for(release, s3, tmp_path, servers, missing=missing)
    message, reporter = start_job(store)

    run(message, context, reporter)

    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    recovery = [mid for name, ids in release.message_ids.items() if ".vol" in name for mid in ids]
    assert any(servers[0].stats.bodies[mid] for mid in recovery)


def test_too_much_missing_fails_with_the_figures(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    movie_ids = release.message_ids["Movie.2024.1080p.mkv"]
    context = context_for(release, s3, tmp_path, servers, missing=set(movie_ids[::3]))
    message, reporter = start_job(store)

    with pytest.raises(
        JobFailed, match=r"of sampled articles missing and only \d+% recovery data"
    ) as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "missing_articles"
    assert list((tmp_path / "work").iterdir()) == []


def test_a_password_protected_rar_fails_after_its_first_volume(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
) -> None:
    release = make_release({"Movie.2024.part1.rar": (RAR / "rar5-psw.rar").read_bytes()})
    context = context_for(release, s3, tmp_path, servers)
    message, reporter = start_job(store)

    with pytest.raises(JobFailed, match="password-protected archive") as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "password"


def test_a_release_without_a_video_file_says_so(
    store: JobStore, s3: S3Client, tmp_path: Path, servers: list[NntpTestServer]
) -> None:
    release = make_release({"Movie.2024.nfo": b"Greetings to all our friends " * 40})
    context = context_for(release, s3, tmp_path, servers)
    message, reporter = start_job(store)

    with pytest.raises(JobFailed, match="no video file in release") as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "no_video"
    assert list((tmp_path / "work").iterdir()) == []


def test_a_video_no_tool_can_read_fails_as_a_media_error(
    store: JobStore, s3: S3Client, tmp_path: Path, servers: list[NntpTestServer]
) -> None:
    noise = bytes((i * 7919) % 251 for i in range(200_000))
    release = make_release({"Movie.2024.1080p.mkv": noise}, segment_size=16_384)
    context = context_for(release, s3, tmp_path, servers)
    message, reporter = start_job(store)

    with pytest.raises(JobFailed) as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "media"
    assert "Movie.2024.1080p.mkv" in failed.value.message
    assert list((tmp_path / "work").iterdir()) == []
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []


def test_a_release_bigger_than_the_free_disk_fails_before_downloading(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    context = context_for(release, s3, tmp_path, servers)
    message, reporter = start_job(store)
    full = shutil.disk_usage(tmp_path)._replace(free=10_000)
    monkeypatch.setattr("downloader.pipeline.shutil.disk_usage", lambda path: full)

    with pytest.raises(JobFailed, match=r"not enough disk space: .* GB needed") as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "disk"
    assert not any(servers[0].stats.bodies.values())  # nothing was downloaded


def test_bad_usenet_credentials_say_so(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    context = context_for(release, s3, tmp_path, servers, username="u", password="right")
    context.servers = [parse_server(servers[0].url("u", "wrong"))]
    message, reporter = start_job(store)

    with pytest.raises(JobFailed, match="Usenet login failed") as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "usenet_auth"
    assert "wrong" not in failed.value.message


def test_the_lifecycle_is_visible_as_metrics(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    context = context_for(release, s3, tmp_path, servers)
    message, reporter = start_job(store)
    capsys.readouterr()

    run(message, context, reporter)
    reporter.failed("ignored: the job is ready, so this must not count", "internal")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_metric = {name: line for line in lines for name in line if name[0].isupper()}
    assert by_metric["ReleasesDownloaded"]["DownloadBytes"][0] >= len(
        movie_files["Movie.2024.1080p.mkv"]
    )
    assert by_metric["MoviesUploaded"]["UploadThroughput"][0] > 0
    assert 0 <= by_metric["JobsReady"]["TimeToReady"][0] < 60
    assert "JobsFailed" not in by_metric  # a ready job cannot be failed afterwards
    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY


def test_a_failure_is_counted_by_class(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _message, reporter = start_job(store)
    capsys.readouterr()

    reporter.failed("password-protected archive", "password")

    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"JobsFailed"' in x]
    assert (line["error_class"], line["JobsFailed"]) == ("password", [1.0])


def test_auto_mode_moves_on_to_the_next_candidate_and_the_job_says_why(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    movie_files: dict[str, bytes],
) -> None:
    release = make_release(movie_files, segment_size=16_384)
    context = context_for(release, s3, tmp_path, servers)
    good = context.get_nzb("r2")

    def get_nzb(release_id: str) -> Nzb:
        if release_id == "gone":
            raise NzbError("the indexer has no NZB for release gone")
        return good

    context.get_nzb = get_nzb
    message, reporter = start_job(store)
    message = message.model_copy(
        update={
            "release_id": "gone",
            "release_title": "Movie.2024.1080p.BluRay.x264-GONE",
            "candidates": [Candidate(release_id="r2", release_title="Movie.2024.720p.WEB-DL-OK")],
        }
    )

    run(message, context, reporter)

    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert (job.release_id, job.release_title) == ("r2", "Movie.2024.720p.WEB-DL-OK")
    (skipped,) = decode_skipped(job.skipped_releases)
    assert (skipped.release_id, skipped.release_title) == (
        "gone",
        "Movie.2024.1080p.BluRay.x264-GONE",
    )
    assert "has no NZB" in skipped.reason


def test_when_no_candidate_is_usable_the_error_lists_each_and_why(
    store: JobStore, s3: S3Client, tmp_path: Path, servers: list[NntpTestServer]
) -> None:
    release = make_release({"Movie.2024.mkv": b"x" * 1000})
    context = context_for(release, s3, tmp_path, servers)

    def get_nzb(release_id: str) -> Nzb:
        raise NzbError(f"the indexer has no NZB for release {release_id}")

    context.get_nzb = get_nzb
    message, reporter = start_job(store)
    message = message.model_copy(
        update={"candidates": [Candidate(release_id="r2", release_title="Movie.2024.720p-B")]}
    )

    with pytest.raises(JobFailed) as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "indexer"
    assert failed.value.message.startswith("no usable release (")
    assert "release r1" in failed.value.message
    assert "Movie.2024.720p-B: could not get the release's NZB" in failed.value.message
