"""After a repair the stream goes on (downloader/streaming/resume.py and the tail's wait at a gap).

Real tools as in tests/test_streaming.py and tests/test_hls.py: a stored RAR5 set (and the same movie
as a plain Matroska file) with a par2 set made by par2cmdline-turbo, the NNTP test server dropping
or corrupting articles, ffmpeg, moto's S3. The repair is held until the tail's reader is waiting at
the gap and segments are up, so what a viewer had by then is known exactly; nothing asserts a time.
What a viewer notices: playback up to the gap while the movie downloads, then the whole movie (the
playlist ends, its segments decode as six seconds), the same packets in the MP4; when the repair
cannot be made, the job fails and nothing is left to play.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.domain.hls import COMPLETE, playlist_files
from chalicelib.domain.jobs import JobStatus, decode_media
from downloader import pipeline, verification
from downloader.errors import JobFailed
from downloader.pipeline import run
from downloader.post.par2 import par2_binary
from downloader.post.remux import probe
from downloader.streaming.resume import after_repair, before_repair
from downloader.streaming.tail import StreamOptions
from downloader.streaming.watermark import FileMark, Watermarks
from downloader.uploader import MIN_PART
from downloader.usenet.availability import sample_ids
from downloader.usenet.nzb import parse_nzb
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from tests.conftest import R2_BUCKET
from tests.test_hls import hls_objects, recorded_context
from tests.test_pipeline import start_job
from tests.test_streaming import SEGMENT, build_stored_set, packets

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)
MOVIE = "Movie.2024.1080p.mkv"


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The 6-second movie (a keyframe a second) as a stored RAR5 set and as a plain .mkv, each
    with 15 % par2 recovery data in article-sized blocks."""
    folder = tmp_path_factory.mktemp("repair-sets")
    stored = build_stored_set(folder, keyframe_every=24)
    plain = folder / "plain"
    plain.mkdir()
    shutil.copy(folder / "source" / MOVIE, plain / MOVIE)
    par2 = ["c", "-q", "-q", "-r15", "-n2", f"-s{SEGMENT}", "Movie.2024.1080p.par2", MOVIE]
    subprocess.run([par2_binary(), *par2], cwd=plain, check=True)
    files = {path.name: path.read_bytes() for path in sorted(plain.iterdir())}
    return {"rar": stored, "mkv": files, "mkv-disagreeing": disagreeing(plain, folder / "other")}


def disagreeing(plain: Path, folder: Path) -> dict[str, bytes]:
    """The plain release with a par2 set made from a movie one byte away from the posted one, 30 %
    into the file (inside a video frame: the remux does not mind): the articles and the par2 set
    disagree, as when a poster's volume was posted again with other bytes."""
    folder.mkdir()
    data = bytearray((plain / MOVIE).read_bytes())
    data[len(data) * 3 // 10] ^= 0xFF
    (folder / MOVIE).write_bytes(data)
    par2 = ["c", "-q", "-q", "-r15", "-n2", f"-s{SEGMENT}", "Movie.2024.1080p.par2", MOVIE]
    subprocess.run([par2_binary(), *par2], cwd=folder, check=True)
    files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())}
    return {**files, MOVIE: (plain / MOVIE).read_bytes()}


@dataclass
class Watched:
    """One job run with its repair held until the reader waits at the gap."""

    job_id: str
    outcomes: list[str]
    #: Every HLS object sent, in order (name, body).
    sent: list[tuple[str, bytes]]
    #: The HLS objects up when the repair began, and the job's status then.
    before: dict[str, bytes] = field(default_factory=dict)
    status_then: JobStatus | None = None
    playable_then: bool = False


def movie_articles(files: dict[str, bytes]) -> tuple[list[str], Callable[[int], list[str]]]:
    """The movie's files in order (volumes or the .mkv) and their message-ids by file number."""
    release = make_release(files, segment_size=SEGMENT)
    names = sorted(name for name in release.message_ids if name.endswith((".rar", ".mkv")))
    return names, lambda number: release.message_ids[names[number]]


def watch_with_a_gap(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    **knobs: object,
) -> tuple[Watched, BaseException | None]:
    context, sent = recorded_context(files, s3, tmp_path, servers, **knobs)
    message, reporter = start_job(store)
    watched = Watched(message.job_id, [], sent)
    context.streaming = StreamOptions(
        part_size=MIN_PART, hls_segment_seconds=1, on_outcome=watched.outcomes.append
    )
    at_gap = threading.Event()
    waiting = Watermarks.wait

    def spying(self: Watermarks, index: int, beyond: int, timeout: float = 1.0) -> FileMark:
        state = waiting(self, index, beyond, timeout)
        if state.done and not state.complete and state.mark <= beyond:
            at_gap.set()  # settled with a gap right where the reader is
        return state

    repair = verification.ensure_intact

    def held(*args: object, **kwargs: object) -> object:
        assert at_gap.wait(60), "the reader never waited at the gap"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _segment_then_playlist(sent):
            time.sleep(0.1)
        watched.before = hls_objects(s3, message.job_id)
        job = store.get_job(message.job_id)
        assert job is not None
        watched.status_then, watched.playable_then = job.status, job.playable_at is not None
        return repair(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Watermarks, "wait", spying)
    monkeypatch.setattr(pipeline, "ensure_intact", held)
    failure: list[BaseException] = []

    def job() -> None:
        try:
            run(message, context, reporter)
        except BaseException as exc:  # handed to the test
            failure.append(exc)

    runner = threading.Thread(target=job)
    runner.start()
    runner.join(240)
    assert not runner.is_alive(), "the job hung"
    return watched, (failure[0] if failure else None)


def _segment_then_playlist(sent: list[tuple[str, bytes]]) -> bool:
    """A segment is up and so is a playlist sent after it (the publisher sends the segments a
    playlist names, then the playlist: between the two, R2 holds segments but no playlist)."""
    names = [name for name, _ in sent]
    first = next((at for at, name in enumerate(names) if name.endswith(".m4s")), None)
    return first is not None and "index.m3u8" in names[first:]


def assert_nothing_left(s3: S3Client, tmp_path: Path) -> None:
    """No multipart upload left open, no work files left behind."""
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []
    assert list((tmp_path / "work").iterdir()) == []


def playlist_of(objects: dict[str, bytes]) -> tuple[str, list[str]]:
    text = objects["index.m3u8"].decode()
    return text, playlist_files(text)


def decoded_seconds(path: Path) -> float:
    """The duration ffmpeg decodes from ``path`` (every frame), failing on any decoding error."""
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (decoded.returncode, decoded.stderr) == (0, "")
    duration = probe(path).duration_seconds
    assert duration is not None
    return duration


@pytest.mark.parametrize("kind", ["rar", "mkv", "rar-head"])
def test_after_a_missing_article_is_repaired_the_stream_goes_on_to_the_end(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    releases: dict[str, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    files = releases[kind.removesuffix("-head")]
    _, ids = movie_articles(files)
    third = ids(2) if kind == "rar" else ids(0)[len(ids(0)) // 2 :]  # past ffprobe's first 4 MiB
    missing = third[len(third) // 2]
    if kind == "rar-head":  # volume 3's first article: its headers come only with the repair
        missing = ids(2)[0]
        assert missing not in sample_ids(parse_nzb(make_release(files, segment_size=SEGMENT).nzb))
    watched, failure = watch_with_a_gap(
        store, s3, tmp_path, servers, files, monkeypatch, missing={missing}
    )
    assert failure is None

    # While it downloaded: segments up to the gap, an open playlist, a playable job.
    assert watched.status_then is JobStatus.DOWNLOADING
    assert watched.playable_then
    early, early_names = playlist_of(watched.before)
    assert "#EXT-X-ENDLIST" not in early
    assert any(name.endswith(".m4s") for name in early_names)
    assert set(early_names) <= set(watched.before)
    # Then the whole movie, by the streamed path.
    assert len(watched.outcomes) == 1
    # (planning sees the headless file settle first, so the repair may come before the reader
    # gets to volume 3: it does not always wait there)
    gap = r"(, [0-9.]+ s at a gap)?" if kind == "rar-head" else r", [0-9.]+ s at a gap"
    assert re.fullmatch(rf"streamed \(.*{gap}\)", watched.outcomes[0])
    job = store.get_job(watched.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    published = hls_objects(s3, watched.job_id)
    playlist, names = playlist_of(published)
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    assert set(names) | {"index.m3u8"} == set(published)
    assert len(names) > len(early_names)
    assert all(published[name] == watched.before[name] for name in early_names)  # none changed
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", playlist)]
    assert 5.9 < sum(durations) < 6.2
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(b"".join(published[name] for name in names))
    assert 5.9 < decoded_seconds(joined) < 6.2
    sent_names = [name for name, _ in watched.sent]
    for at, (name, body) in enumerate(watched.sent):  # each playlist names only files up before it
        if name == "index.m3u8":
            assert set(playlist_files(body.decode())) <= set(sent_names[:at])
    # The MP4 holds the movie's own packets, and is playable.
    movie, source = tmp_path / "movie.mp4", tmp_path / MOVIE
    movie.write_bytes(s3.get_object(Bucket=R2_BUCKET, Key=str(job.object_key))["Body"].read())
    source.write_bytes(releases["mkv"][MOVIE])
    assert packets(movie)[:-1] == packets(source)[:-1]  # all but the container's name
    assert 5.9 < decoded_seconds(movie) < 6.2
    recovery = [
        mid
        for name, mids in make_release(files, segment_size=SEGMENT).message_ids.items()
        if ".vol" in name
        for mid in mids
    ]
    assert any(servers[-1].stats.bodies[mid] for mid in recovery)  # repaired from recovery data
    assert_nothing_left(s3, tmp_path)


def test_when_the_repair_cannot_be_made_the_job_fails_and_leaves_nothing_to_play(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    releases: dict[str, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Articles of the last two volumes are missing, more than the par2 set can rebuild; none that
    the availability probe samples, so the release is downloaded (and streamed up to the gap)."""
    files = releases["rar"]
    _, ids = movie_articles(files)
    sampled = set(sample_ids(parse_nzb(make_release(files, segment_size=SEGMENT).nzb)))
    missing = set(ids(2)[1:] + ids(3)) - sampled
    assert len(missing) * SEGMENT > 0.15 * sum(len(data) for data in files.values())

    watched, failure = watch_with_a_gap(
        store, s3, tmp_path, servers, files, monkeypatch, missing=missing
    )

    assert isinstance(failure, JobFailed)
    assert failure.error_class == "missing_articles"
    assert any(name.endswith(".m4s") for name in watched.before)  # it played up to the gap
    assert watched.outcomes == ["fallback: the job stopped"]
    assert hls_objects(s3, watched.job_id) == {}
    assert_nothing_left(s3, tmp_path)


def test_a_repair_that_changes_bytes_already_streamed_ends_the_stream_and_its_hls(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    releases: dict[str, dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """par2 rebuilds the movie with a byte the reader had already streamed otherwise: the segments
    published from it must not stay up, and the movie comes by the sequential path."""
    files = releases["mkv-disagreeing"]
    _, ids = movie_articles(files)
    half = ids(0)[len(ids(0)) // 2 :]

    watched, failure = watch_with_a_gap(
        store, s3, tmp_path, servers, files, monkeypatch, missing={half[len(half) // 2]}
    )

    assert failure is None
    assert any(name.endswith(".m4s") for name in watched.before)  # played up to the gap
    assert watched.outcomes == [
        "fallback: par2 repaired the download, but no repaired file holds the bytes already streamed"
    ]
    assert hls_objects(s3, watched.job_id) == {}
    job = store.get_job(watched.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert decode_media(job.media)[COMPLETE] is False  # so the stream answer gives no hls_url
    assert job.playable_at is None  # nor did it while the MP4 came by the sequential path
    movie = tmp_path / "movie.mp4"
    movie.write_bytes(s3.get_object(Bucket=R2_BUCKET, Key=str(job.object_key))["Body"].read())
    assert 5.9 < (probe(movie).duration_seconds or 0) < 6.2
    assert_nothing_left(s3, tmp_path)


def test_files_are_found_again_after_the_repair_by_their_bytes(tmp_path: Path) -> None:
    """A renamed intact file and a rebuilt damaged one are told to the reader; a rebuilt file whose
    verified prefix differs, an intact one rewritten, or a damaged one left as it was are not."""
    intact, damaged = tmp_path / "a.bin", tmp_path / "b.bin"
    intact.write_bytes(b"A" * 1000)
    damaged.write_bytes(b"B" * 400 + bytes(200) + b"B" * 400)  # a hole at 400-600
    watch = Watermarks()
    for index, path in enumerate((intact, damaged)):
        watch.opened(index, path)
        watch.arrived(index, 0, 400, 1000)
        watch.arrived(index, 600, 1000, 1000)
    watch.arrived(0, 400, 600, 1000)
    watch.settled(0, intact, complete=True)
    watch.settled(1, damaged, complete=False)

    def repaired(rebuilt: bytes, *, rewrite_intact: bool = False) -> tuple[str | None, Watermarks]:
        told = Watermarks()
        for index, mark in watch.marks().items():
            told.opened(index, mark.path or tmp_path)
        downloaded = before_repair(watch)
        renamed = intact.rename(tmp_path / "movie.part1.rar")  # as par2 restores a name
        if rewrite_intact:
            renamed.unlink()
            renamed.write_bytes(b"A" * 1000)
        damaged.rename(tmp_path / "b.bin.1")  # par2 sets the damaged file aside...
        new = tmp_path / "movie.part2.rar"
        new.write_bytes(rebuilt)  # ...and writes the whole one
        refused = after_repair(told, downloaded, [renamed, new])
        renamed.rename(intact)
        new.unlink()
        (tmp_path / "b.bin.1").rename(damaged)
        return refused, told

    refused, told = repaired(b"B" * 1000)
    assert refused is None
    marks = told.marks()
    assert (marks[0].path, marks[0].mark, marks[0].complete) == (
        tmp_path / "movie.part1.rar",
        1000,
        True,
    )
    assert (marks[1].path, marks[1].mark, marks[1].version) == (
        tmp_path / "movie.part2.rar",
        1000,
        1,
    )
    refused, told = repaired(b"B" * 399 + b"C" + b"B" * 600)
    assert refused == "no repaired file holds the bytes already streamed"
    assert told.marks()[1].version == 0  # nothing told
    refused, _ = repaired(b"B" * 1000, rewrite_intact=True)
    assert refused == "the repair rewrote or removed a file whose articles were all intact"
    downloaded = before_repair(watch)
    assert after_repair(Watermarks(), downloaded, [intact, damaged]) == (
        "no repaired file holds the bytes already streamed"  # par2 vouched for no new file
    )


def test_a_reader_at_a_gap_waits_for_the_repaired_file_or_the_end(tmp_path: Path) -> None:
    """Settled with a gap, a file keeps its reader waiting (no busy loop, no give-up) until par2's
    repaired file is final; with no repair coming, ``over`` (and ``cancel``) end the wait."""
    outcomes: list[FileMark] = []

    def waiting_reader(watch: Watermarks) -> threading.Thread:
        watch.opened(0, tmp_path / "a")
        watch.arrived(0, 0, 300, 400)
        watch.settled(0, tmp_path / "a", complete=False)
        reader = threading.Thread(target=lambda: outcomes.append(watch.wait(0, 300, timeout=60)))
        reader.start()
        time.sleep(0.2)
        assert outcomes == []  # still waiting at the gap
        return reader

    repaired = Watermarks()
    reader = waiting_reader(repaired)
    repaired.final(0, tmp_path / "a.repaired", 400)
    reader.join(10)
    state = outcomes.pop()
    assert (state.mark, state.complete, state.path, state.version) == (
        400,
        True,
        tmp_path / "a.repaired",
        1,
    )

    unrepaired = Watermarks()
    reader = waiting_reader(unrepaired)
    unrepaired.over()
    reader.join(10)
    state = outcomes.pop()
    assert (state.mark, state.complete, state.over) == (300, False, True)
