"""Releases as they are really posted: the streaming tail finds the movie from the bytes, and the
engine then fetches it in order.

Obfuscated releases give every file a random name with no extension (in the subject and in the
yEnc header alike) and list them in any order. The tail reads each file's first bytes (fetched
first), puts the stored RAR5 volumes in order by their own headers and has the scheduler fetch them
in that order. Real tools: ffmpeg makes the movie, ``rar``-compatible stored volumes from
``sandbox.rar``, par2cmdline-turbo, the NNTP test server, moto's S3.
"""

from __future__ import annotations

import random
import shutil
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from downloader.errors import JobFailed
from downloader.pipeline import TaskContext, run
from downloader.streaming import NotStreamable
from downloader.streaming.plan import Head, plan_source
from downloader.streaming.tail import StreamOptions
from downloader.usenet.engine import EngineOptions
from downloader.usenet.nzb import parse_nzb
from downloader.usenet.scheduler import Scheduler, ServerState
from downloader.usenet.servers import parse_server
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from sandbox.rar import write_volumes
from sandbox.rar4 import write_volumes as write_rar4_volumes
from tests.conftest import R2_BUCKET
from tests.test_pipeline import context_for, start_job
from tests.test_streaming import RAR, packets, ready_movie
from tests.test_streaming import sequential as sequential
from tests.test_streaming import stored_set as stored_set

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)
SEGMENT = 256 * 1024


def obfuscated(files: dict[str, bytes], seed: int = 7) -> tuple[dict[str, bytes], dict[str, str]]:
    """The same files under random names without extensions, listed in a shuffled order; and
    each random name → the real one."""
    shuffle = random.Random(seed)
    names = list(files)
    shuffle.shuffle(names)
    hidden = {f"{zlib.crc32(name.encode()) ^ shuffle.getrandbits(32):08x}": name for name in names}
    return {secret: files[real] for secret, real in hidden.items()}, hidden


def one_connection(servers: list[NntpTestServer]) -> Callable[[TaskContext], None]:
    """One connection with two requests in flight (and the test's latency): the request order
    shows the scheduler's order, not a race between connections."""

    def adjust(context: TaskContext) -> None:
        context.servers = [parse_server(servers[-1].url(connections=1))]
        context.engine_options = EngineOptions(pipeline=2)

    return adjust


def longest_rising(positions: Sequence[int]) -> int:
    """Length of the longest increasing run (not necessarily contiguous) of ``positions``."""
    tails: list[int] = []
    for value in positions:
        at = next((i for i, tail in enumerate(tails) if tail >= value), len(tails))
        tails[at : at + 1] = [value]
    return len(tails)


def test_an_obfuscated_stored_set_is_streamed_with_its_volumes_fetched_in_order(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
    sequential: list[str],
) -> None:
    files, real = obfuscated(stored_set)
    assert not any("." in name for name in files)  # nothing for a name-reader to go by
    volumes = sorted((n for n in files if real[n].endswith(".rar")), key=lambda n: real[n])
    assert list(files)[: len(volumes)] != volumes  # the NZB does not list them in order
    release = make_release(files, segment_size=SEGMENT)  # the articles ready_movie serves

    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, files, StreamOptions(), one_connection(servers), delay=0.01
    )

    assert len(outcomes) == 1, outcomes
    assert outcomes[0].startswith("streamed"), outcomes
    assert packets(movie) == sequential
    asked = list(servers[-1].stats.bodies)  # first request of each article, in order
    heads = {ids[0] for ids in release.message_ids.values()}
    assert set(asked[: len(heads)]) == heads  # every file's head before anything else
    wanted = [mid for name in volumes for mid in release.message_ids[name][1:]]
    place = {mid: position for position, mid in enumerate(wanted)}
    order = [place[mid] for mid in asked if mid in place]
    # Before the tail has read the heads, a request or two may still follow the NZB's order;
    # after that every volume article is asked for in sequence.
    assert longest_rising(order) >= len(wanted) - 4
    others = [mid for name in files if name not in volumes for mid in release.message_ids[name][1:]]
    last_volume_article = max(asked.index(mid) for mid in wanted)
    early = [mid for mid in asked[:last_volume_article] if mid in others]
    assert len(early) <= 4  # the par2 files wait for the movie


def test_the_scheduler_fetches_heads_first_then_the_prioritised_files_in_order() -> None:
    release = make_release({f"file{n}": bytes([n]) * 5000 for n in range(3)}, segment_size=1000)
    nzb = parse_nzb(release.nzb)
    server = ServerState(0, parse_server("nntp://127.0.0.1:119?connections=1"))
    scheduler = Scheduler(nzb.files, [server])

    def take(count: int) -> list[tuple[int, int]]:
        taken = [scheduler.take(server, block=False) for _ in range(count)]
        return [(a.file_index, a.segment.number) for a in taken if a is not None]

    assert take(3) == [(0, 1), (1, 1), (2, 1)]  # each file's head
    assert take(2) == [(0, 2), (0, 3)]  # then the NZB's order
    scheduler.prioritise([2, 0])
    assert take(12) == [(2, n) for n in range(2, 6)] + [(0, 4), (0, 5)] + [
        (1, n) for n in range(2, 6)
    ]


def head_of(index: int, data: bytes) -> Head:
    return Head(index, data[: 64 * 1024], len(data))


def test_the_plan_goes_by_the_bytes_and_steps_aside_when_it_cannot_be_sure(
    stored_set: dict[str, bytes],
) -> None:
    volumes = [stored_set[name] for name in sorted(stored_set) if name.endswith(".rar")]
    par2 = next(data for name, data in stored_set.items() if name.endswith(".par2"))
    order = list(range(len(volumes)))
    random.Random(3).shuffle(order)
    shuffled = [par2] + [volumes[number] for number in order]  # file i + 1 is volume order[i]
    plan = plan_source([head_of(i, data) for i, data in enumerate(shuffled)])
    assert plan.rar
    assert [order[i - 1] for i in plan.files] == list(range(len(volumes)))

    total = sum(len(v) for v in volumes)
    sample = b"\x1a\x45\xdf\xa3" + bytes(total // 50)  # a small Matroska file: a sample
    plan = plan_source([head_of(i, d) for i, d in enumerate([*volumes, sample])])
    assert plan.files == tuple(range(len(volumes)))

    rival = b"\x1a\x45\xdf\xa3" + bytes(total)  # as big as the movie: which is it?
    with pytest.raises(NotStreamable, match="more than one"):
        plan_source([head_of(i, d) for i, d in enumerate([*volumes, rival])])
    with pytest.raises(NotStreamable, match="numbered"):
        plan_source([head_of(i, d) for i, d in enumerate(volumes[:2] + volumes[3:])])
    loose = plan_source([head_of(0, par2), head_of(1, rival)])
    assert (loose.files, loose.rar) == ((1,), False)
    mp4 = (20).to_bytes(4, "big") + b"ftypisom" + bytes(total)
    with pytest.raises(NotStreamable, match="not a Matroska"):
        plan_source([head_of(0, mp4)])


def test_what_an_archive_packs_is_told_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    """Inside an obfuscated set the movie may be called ``a8f3e1…`` too; an ``.mkv`` that holds
    something else is not taken for a Matroska movie."""
    matroska = b"\x1a\x45\xdf\xa3" + bytes(300_000)
    avi = b"RIFF" + bytes(4) + b"AVI LIST" + bytes(300_000)
    for writer in (write_volumes, write_rar4_volumes):
        hidden = writer(
            "a8f3e1c9b2", matroska, tmp_path / f"hidden-{writer.__module__}", "x", 100_000
        )
        plan = plan_source([head_of(i, path.read_bytes()) for i, path in enumerate(hidden)])
        assert plan.rar
        misnamed = writer(
            "Movie.2024.mkv", avi, tmp_path / f"avi-{writer.__module__}", "y", 100_000
        )
        with pytest.raises(NotStreamable, match="no Matroska"):
            plan_source([head_of(i, path.read_bytes()) for i, path in enumerate(misnamed)])


def test_a_volume_whose_head_is_missing_takes_the_one_place_left_for_it(
    stored_set: dict[str, bytes],
) -> None:
    """par2 repairs it after the download; planning cannot wait for that, so it places the file."""
    volumes = [stored_set[name] for name in sorted(stored_set) if name.endswith(".rar")]
    assert len(volumes) >= 4
    heads = [head_of(i, data) for i, data in enumerate(volumes)]
    heads[2] = Head(2, b"", len(volumes[2]))  # volume 3's first article did not arrive
    files = list(reversed(heads))  # files come in any order; the bytes say where each goes
    assert plan_source(files).files == tuple(range(len(volumes)))

    last = len(volumes) - 1
    heads = [head_of(i, d) for i, d in enumerate(volumes)]
    heads[last] = Head(last, b"", len(volumes[last]))  # the last one: the set goes on past 2…
    assert plan_source(heads).files == tuple(range(len(volumes)))

    heads[1] = Head(1, b"", len(volumes[1]))  # two headless files: which goes where?
    with pytest.raises(NotStreamable, match="numbered"):
        plan_source(heads)
    sample = b"\x1a\x45\xdf\xa3" + bytes(1000)
    with pytest.raises(NotStreamable, match="first article"):
        plan_source([head_of(0, sample), Head(1, b"", 10**9)])


@pytest.mark.parametrize(
    ("fixture", "why"),
    [("rar5-hpsw.rar", "its headers are encrypted"), ("rar5-psw.rar", "its file is encrypted")],
)
def test_an_obfuscated_password_protected_release_fails_as_soon_as_its_heads_arrive(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    fixture: str,
    why: str,
) -> None:
    """No name says which file is the first volume, so it cannot be fetched alone first; its
    head, fetched before the rest, shows the password and the download stops there."""
    padding = {f"{n:08x}": random.Random(n).randbytes(1_000_000) for n in range(4)}
    files, _ = obfuscated({"Movie.2024.rar": (RAR / fixture).read_bytes(), **padding})
    release = make_release(files, segment_size=100_000)
    context = context_for(release, s3, tmp_path, servers, delay=0.05)
    context.servers = [parse_server(servers[-1].url(connections=1))]
    context.engine_options = EngineOptions(pipeline=2)
    message, reporter = start_job(store)

    with pytest.raises(JobFailed) as failed:
        run(message, context, reporter)

    assert failed.value.error_class == "password"
    assert str(failed.value) == f"password-protected archive ({why})"
    asked = sum(servers[-1].stats.bodies.values())
    assert asked <= len(files) + 4 < len(release.articles) / 2  # the heads, and a few more
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.parametrize("damaged", [False, True], ids=["intact", "one-article-missing"])
def test_obfuscated_recovery_volumes_are_fetched_only_when_par2_needs_them(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    stored_set: dict[str, bytes],
    sequential: list[str],
    damaged: bool,
) -> None:
    """Names cannot tell an obfuscated par2 recovery volume (5-15 % of a release) from a movie
    volume; its first article can. Intact, the rest of it is never fetched; with an article
    missing, par2 asks for recovery blocks and they are fetched then, under names par2 finds."""
    files, real = obfuscated(stored_set, seed=11)
    release = make_release(files, segment_size=SEGMENT)
    recovery = [name for name in files if ".vol" in real[name]]
    assert recovery
    assert all(len(release.message_ids[name]) > 1 for name in recovery)
    volume = next(n for n in sorted(files, key=lambda n: real[n]) if real[n].endswith(".rar"))
    lost = release.message_ids[volume][len(release.message_ids[volume]) // 2]

    # A real release has thousands of articles, far more than the connections hold in flight;
    # this one has 61, so one connection with two requests in flight keeps most of them queued.
    movie, outcomes = ready_movie(
        store,
        s3,
        tmp_path,
        servers,
        files,
        StreamOptions(),
        one_connection(servers),
        missing={lost} if damaged else set(),
        delay=0.01,
    )

    assert packets(movie) == sequential
    bodies = servers[-1].stats.bodies
    rest = [mid for name in recovery for mid in release.message_ids[name][1:]]
    if damaged:
        assert any(bodies[mid] for mid in rest)  # fetched for the repair
    else:
        assert outcomes[0].startswith("streamed"), outcomes
        fetched = [mid for mid in rest if bodies[mid]]
        assert len(fetched) <= 2, f"{len(fetched)} of {len(rest)}"  # their heads, hardly more
