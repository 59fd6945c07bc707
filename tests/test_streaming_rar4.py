"""Stored RAR4 sets, the format of scene releases (``x.rar, x.r00…``): streamed while they download.

A RAR4 volume says which one it is only in the end block after its data, so the tail streams the
first volume at once (its head flags it) and each later one once its end has said its number.
Real things: the reader is held against volumes made by the real ``rar`` (rarfile's fixtures, one
set with old and one with new volume naming); our writer's volumes are checked by unar, bsdtar and
rarfile; the movie comes from ffmpeg, the par2 set from par2cmdline-turbo, the whole pipeline runs
against the NNTP test server and moto's S3.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import rarfile
from mypy_boto3_s3 import S3Client

from chalicelib.adapters.store import JobStore
from chalicelib.domain.jobs import JobStatus
from downloader.pipeline import run
from downloader.post.par2 import par2_binary
from downloader.streaming import NotStreamable, PasswordProtected
from downloader.streaming.movie_bytes import movie_bytes
from downloader.streaming.plan import Head, Source, plan_source
from downloader.streaming.rar4_slices import read_end
from downloader.streaming.rar5_slices import Slice, read_tail
from downloader.streaming.slices import read_slice
from downloader.streaming.tail import StreamOptions
from downloader.uploader import MIN_PART
from sandbox import rar as rar5
from sandbox.nntp_server import NntpTestServer
from sandbox.posting import make_release
from sandbox.rar4 import _block as rar4_block
from sandbox.rar4 import pack_file
from tests.conftest import R2_BUCKET
from tests.test_hls import hls_objects, recorded_context
from tests.test_pipeline import start_job
from tests.test_streaming import (
    RAR,
    SEGMENT,
    build_stored_set,
    noisy_movie,
    packets,
    ready_movie,
    sequential_packets,
)
from tests.test_streaming_order import obfuscated, one_connection

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="needs ffmpeg and ffprobe (.ci/run installs them)",
)
REAL_SETS = {
    "old naming": ["rar3-old.rar", "rar3-old.r00", "rar3-old.r01"],
    "new naming": ["rar3-vols.part1.rar", "rar3-vols.part2.rar", "rar3-vols.part3.rar"],
}


def end_of(volume: bytes) -> tuple[int | None, bool]:
    """What the end of a whole RAR4 volume says (``read_end`` after its slice)."""
    piece = read_slice(volume)
    end = piece.data_offset + piece.data_size
    return read_end(lambda offset, length: volume[offset : offset + length], end, len(volume))


@pytest.mark.parametrize("names", REAL_SETS.values(), ids=REAL_SETS.keys())
def test_volumes_made_by_rar_give_their_slices_and_their_numbers(names: list[str]) -> None:
    """rarfile's fixtures, written by RAR 3: a 205,000-byte file stored across three volumes,
    then a small second file in the last one."""
    whole = 0
    for number, name in enumerate(names):
        volume = (RAR / name).read_bytes()
        piece = read_slice(volume)
        data = volume[piece.data_offset : piece.data_offset + piece.data_size]
        whole = zlib.crc32(data, whole)

        assert (piece.name, piece.file_size) == ("vols/bigfile.txt", 205_000)
        assert piece.volume_number == (0 if number == 0 else None)  # only the first says so
        assert (piece.split_before, piece.split_after) == (number > 0, number < 2)
        assert piece.crc == (zlib.crc32(data) if piece.split_after else whole)
        if number < 2:
            assert end_of(volume) == (number, False)  # the end block says the number
        else:  # the second file follows the movie: the tail must not stream this set
            with pytest.raises(NotStreamable, match="more than the movie"):
                end_of(volume)
    assert whole == piece.crc


def test_what_our_writer_makes_real_readers_unpack(tmp_path: Path) -> None:
    payload = zlib.compress(bytes(range(256)) * 4000, 0)[:900_000]  # stored: no compression
    source = tmp_path / "Movie.2024.mkv"
    source.write_bytes(payload)
    for new_numbering in (False, True):
        folder = tmp_path / f"new-{new_numbering}"
        volumes = pack_file(source, folder, 250_000, new_numbering=new_numbering)

        assert len(volumes) == 4
        listed = subprocess.run(["lsar", "-t", str(volumes[0])], capture_output=True, text=True)
        assert listed.returncode == 0, listed.stdout
        assert "Movie.2024.mkv... OK" in listed.stdout, listed.stdout
        names = subprocess.run(["bsdtar", "-tf", str(volumes[0])], capture_output=True, text=True)
        assert names.stdout.split() == ["Movie.2024.mkv"], names.stderr
        with rarfile.RarFile(volumes[0]) as archive:
            assert archive.read("Movie.2024.mkv") == payload
        for number, volume in enumerate(volumes):
            assert end_of(volume.read_bytes()) == (number, number == len(volumes) - 1)


def head_of(index: int, path: Path) -> Head:
    data = path.read_bytes()
    return Head(index, data[:65536], len(data))


def test_the_plan_takes_a_rar4_set_first_volume_first_and_checks_the_rest_later(
    tmp_path: Path,
) -> None:
    source = tmp_path / "Movie.2024.mkv"
    source.write_bytes(b"\x1aE\xdf\xa3" + bytes(600_000))
    volumes = pack_file(source, tmp_path / "set", 200_000)
    shuffled = [volumes[2], volumes[0], volumes[3], volumes[1]]  # as an obfuscated NZB lists them

    planned = plan_source([head_of(i, path) for i, path in enumerate(shuffled)])

    assert planned.rar
    assert not planned.numbered
    assert not planned.par2_order
    assert planned.files == (1, 0, 2, 3)  # the flagged first volume, then the NZB's order
    with pytest.raises(NotStreamable, match="exactly one first volume"):
        plan_source([head_of(i, path) for i, path in enumerate(volumes[1:])])
    missing = [head_of(i, path) for i, path in enumerate(volumes)] + [Head(9, b"", 200_000)]
    with pytest.raises(NotStreamable, match="first article"):
        plan_source(missing)
    encrypted = bytearray(volumes[0].read_bytes()[:65536])
    encrypted[10] |= 0x80  # the archive header's "headers are encrypted" flag…
    encrypted[7:9] = (zlib.crc32(bytes(encrypted[9:20])) & 0xFFFF).to_bytes(2, "little")
    with pytest.raises(PasswordProtected):  # …seen in the head, before any download
        plan_source([Head(0, bytes(encrypted), 200_000)])


def par2_index(folder: Path, volumes: list[Path]) -> Path:
    """par2cmdline-turbo's index over ``volumes`` (as named in ``folder``)."""
    command = [par2_binary(), "c", "-q", "-q", "-r5", "-n1", "index.par2"]
    subprocess.run([*command, *(v.name for v in volumes)], cwd=folder, check=True)
    return folder / "index.par2"


def test_the_par2_index_gives_an_obfuscated_rar4_set_its_order_at_once(tmp_path: Path) -> None:
    """par2 describes each volume by the MD5 of its first 16 KiB and names it: matched by those
    bytes, the names put the shuffled volumes in order before any of them is whole."""
    source = tmp_path / "Movie.2024.mkv"
    source.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 2400)
    volumes = pack_file(source, tmp_path / "set", 200_000)
    index = par2_index(tmp_path / "set", volumes)
    shuffled = [volumes[2], index, volumes[0], volumes[3], volumes[1]]  # names are not read

    planned = plan_source([head_of(i, path) for i, path in enumerate(shuffled)])

    assert planned.par2_order
    assert planned.files == (2, 4, 0, 3)

    # An index that names another volume first than the one whose head says so is not believed.
    misnamed = tmp_path / "misnamed"
    misnamed.mkdir()
    for volume, name in zip(volumes, ["a.r00", "a.rar", "a.r01", "a.r02"], strict=True):
        shutil.copy(volume, misnamed / name)
    wrong = par2_index(misnamed, sorted(misnamed.iterdir()))
    heads = [head_of(i, path) for i, path in enumerate([*shuffled[:1], wrong, *shuffled[2:]])]
    assert not plan_source(heads).par2_order


@pytest.fixture(scope="module")
def rar4_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The movie of ``test_streaming.stored_set`` in four stored RAR4 volumes (``.rar, .r00…``),
    with 15 % par2 recovery data in article-sized blocks."""
    return build_rar4_set(tmp_path_factory.mktemp("rar4-set"))


def build_rar4_set(folder: Path) -> dict[str, bytes]:
    (folder / "rar5").mkdir()
    build_stored_set(folder / "rar5")
    movie = folder / "rar5" / "source" / "Movie.2024.1080p.mkv"
    out = folder / "rar4"
    volumes = pack_file(movie, out, volume_size=movie.stat().st_size // 4 + 1)
    par2 = ["c", "-q", "-q", "-r15", "-n2", f"-s{SEGMENT}", "Movie.2024.1080p.par2"]
    subprocess.run([par2_binary(), *par2, *(v.name for v in volumes)], cwd=out, check=True)
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


@pytest.fixture
def rar4_sequential(
    s3: S3Client, tmp_path: Path, servers: list[NntpTestServer], rar4_set: dict[str, bytes]
) -> list[str]:
    """What the sequential path (rarfile unpacking the stored set) makes of it."""
    return sequential_packets(s3, tmp_path / "sequential", servers, rar4_set)


@needs_ffmpeg
def test_a_named_rar4_set_is_streamed_while_it_downloads(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    rar4_set: dict[str, bytes],
    rar4_sequential: list[str],
) -> None:
    """Listed as an NZB sorted by subject lists them, ``x.r00`` … ``x.rar``: the first volume
    last. Its data is still asked for first, before the heads have even been read."""
    volumes = [name for name in rar4_set if ".r" in name]
    assert volumes[0] == "Movie.2024.1080p.r00"
    assert volumes[-1] == "Movie.2024.1080p.rar"
    release = make_release(rar4_set, segment_size=SEGMENT)  # the articles ready_movie serves

    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, rar4_set, StreamOptions(), one_connection(servers)
    )

    assert len(outcomes) == 1, outcomes
    assert outcomes[0].startswith("streamed"), outcomes
    assert packets(movie) == rar4_sequential  # the same streams and packets as unpacking gives
    heads = {ids[0] for ids in release.message_ids.values()}
    asked = [mid for mid in servers[-1].stats.bodies if mid not in heads]
    first = set(release.message_ids["Movie.2024.1080p.rar"])
    assert asked[0] in first, asked[:3]


@needs_ffmpeg
@pytest.mark.parametrize("par2", [True, False], ids=["par2 names the order", "ends say it"])
def test_an_obfuscated_shuffled_rar4_set_is_streamed_in_order(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    rar4_set: dict[str, bytes],
    rar4_sequential: list[str],
    par2: bool,
) -> None:
    """With the par2 index among the heads its names give the order at once; without par2 the
    reader reads each volume's number from its end before streaming it."""
    posted = {name: data for name, data in rar4_set.items() if par2 or ".par2" not in name}
    files, real = obfuscated(posted, seed=3)
    later = [name for name in files if ".r0" in real[name]]  # as the NZB lists them
    assert later != sorted(later, key=real.__getitem__)  # not in volume order
    assert not any("." in name for name in files)  # and no name to go by

    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, files, StreamOptions(), one_connection(servers), delay=0.01
    )

    assert len(outcomes) == 1, outcomes
    assert outcomes[0].startswith("streamed"), outcomes
    assert packets(movie) == rar4_sequential


@needs_ffmpeg
def test_a_rar4_volume_with_a_missing_article_is_streamed_after_par2_repairs_it(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    rar4_set: dict[str, bytes],
    rar4_sequential: list[str],
) -> None:
    """The reader waits for the whole of ``x.r00`` (its end block says its number), which only
    par2's repair makes whole; then it streams the repaired bytes and goes on."""
    release = make_release(rar4_set, segment_size=SEGMENT)
    missing = {release.message_ids["Movie.2024.1080p.r00"][1]}

    movie, outcomes = ready_movie(
        store, s3, tmp_path, servers, rar4_set, StreamOptions(), missing=missing
    )

    assert len(outcomes) == 1, outcomes
    assert outcomes[0].startswith("streamed"), outcomes
    assert packets(movie) == rar4_sequential  # the repaired bytes, not the downloaded ones
    recovery = [mid for name, ids in release.message_ids.items() if ".vol" in name for mid in ids]
    assert any(servers[-1].stats.bodies[mid] for mid in recovery)  # repaired from recovery data


class VolumeFiles:
    """``GrowingFiles`` over whole files in memory, noting where each read starts."""

    def __init__(self, volumes: list[bytes]) -> None:
        self.volumes = volumes
        self.reads: list[tuple[int, int]] = []

    def slice(self, index: int) -> tuple[Slice, int]:
        return read_slice(self.volumes[index][:65536]), len(self.volumes[index])

    def range(self, index: int, offset: int, length: int) -> Iterator[bytes]:
        self.reads.append((index, offset))
        yield self.volumes[index][offset : offset + length]


def first_read_of(files: VolumeFiles, index: int) -> str:
    piece, _ = files.slice(index)
    offset = next(offset for read, offset in files.reads if read == index)
    return "data" if offset == piece.data_offset else "end"


def test_the_reader_streams_in_par2_order_at_once_and_checks_each_end_after(
    tmp_path: Path,
) -> None:
    payload = bytes(range(256)) * 3000
    source = tmp_path / "Movie.2024.mkv"
    source.write_bytes(payload)
    volumes = [path.read_bytes() for path in pack_file(source, tmp_path / "set", 200_000)]

    def read(files: tuple[int, ...], *, par2_order: bool) -> tuple[bytes, VolumeFiles]:
        plan = Source(files, rar=True, numbered=False, par2_order=par2_order)
        reader = VolumeFiles(volumes)
        return b"".join(movie_bytes(reader, None, plan)), reader  # type: ignore[arg-type]

    streamed, reader = read((0, 1, 2, 3), par2_order=True)
    assert streamed == payload
    assert first_read_of(reader, 1) == "data"  # streamed as it arrives, its end checked after

    streamed, reader = read((0, 2, 1, 3), par2_order=False)  # the NZB's order, wrong
    assert streamed == payload  # put right by the ends, each read before its volume's data
    assert first_read_of(reader, 1) == "end"

    with pytest.raises(NotStreamable, match="end does not match"):  # an index that lied
        read((0, 2, 1, 3), par2_order=True)


def test_a_movie_stored_in_one_rar4_archive_is_streamed_to_its_end(tmp_path: Path) -> None:
    """``movie.rar`` alone: one volume, or an archive that is no volume set at all (whose end
    block has no number to say)."""
    payload = b"\x1aE\xdf\xa3" + bytes(range(256)) * 1200
    source = tmp_path / "Movie.2024.mkv"
    source.write_bytes(payload)
    [volume] = pack_file(source, tmp_path / "one", 10**6)
    alone = volume.read_bytes()
    plain = bytearray(alone)  # the same archive, not a volume set: no volume flags, no number
    plain[10:12] = (0).to_bytes(2, "little")
    plain[7:9] = (zlib.crc32(bytes(plain[9:20])) & 0xFFFF).to_bytes(2, "little")
    end = len(plain) - 9
    plain[end + 3 : end + 5] = (0).to_bytes(2, "little")  # the end block's flags
    plain[end : end + 2] = (zlib.crc32(bytes(plain[end + 2 :])) & 0xFFFF).to_bytes(2, "little")

    for data in (alone, bytes(plain)):
        planned = plan_source([Head(0, data[:65536], len(data))])
        assert b"".join(movie_bytes(VolumeFiles([data]), None, planned)) == payload  # type: ignore[arg-type]
    assert end_of(bytes(plain)) == (None, True)


def with_recovery_record(volume: Path, block: bytes, end_size: int) -> None:
    """Put ``block`` (a service header and its data) just before the volume's end block, where
    RAR writes a recovery record."""
    data = volume.read_bytes()
    volume.write_bytes(data[:-end_size] + block + data[-end_size:])


def test_a_recovery_record_after_the_movie_is_stepped_over(tmp_path: Path) -> None:
    """RAR writes a recovery record (``-rr``) after the file in every volume: megabytes, more
    than the tail reads at once. Its header says how long it is, and the reader steps over it
    to the end block, for RAR4 and RAR5 alike; unar still lists the sets as sound."""
    payload = bytes(range(256)) * 2000
    source = tmp_path / "Movie.2024.mkv"
    source.write_bytes(payload)
    record = bytes(300_000)  # more than the 64 KiB read at a time
    fields4 = struct.pack(
        "<IIBIIBBHI", len(record), len(record), 3, zlib.crc32(record), 0, 29, 0x30, 2, 0
    )
    rar4_volumes = pack_file(source, tmp_path / "rar4", 200_000)
    for volume in rar4_volumes:  # a RAR3 "RR" subblock: a service header (0x7A) with data
        with_recovery_record(volume, rar4_block(0x7A, 0x8000, fields4 + b"RR") + record, 9)
    rar5_volumes = rar5.pack_file(source, tmp_path / "rar5", 200_000)
    fields5 = rar5.vint(0) + rar5.vint(len(record)) + rar5.vint(0) + rar5.vint(0) + rar5.vint(1)
    service = rar5._block(3, 0, fields5 + rar5.vint(2) + b"RR", data_size=len(record)) + record
    with_recovery_record(rar5_volumes[-1], service, len(rar5._block(5, 0, rar5.vint(0))))

    for volumes in (rar4_volumes, rar5_volumes):
        listed = subprocess.run(["lsar", "-t", str(volumes[0])], capture_output=True, text=True)
        assert "1 passed, 0 failed" in listed.stdout, listed.stdout
    for number, volume in enumerate(rar4_volumes):
        assert end_of(volume.read_bytes()) == (number, number == len(rar4_volumes) - 1)
    last = rar5_volumes[-1].read_bytes()
    piece = read_slice(last)
    at = piece.data_offset + piece.data_size
    read_tail(lambda offset, length: last[offset : offset + length], at, len(last))  # no raise
    other = rar5._block(2, 0, fields5 + rar5.vint(2) + b"XX", data_size=0)  # another file
    with_recovery_record(rar5_volumes[-1], other, len(rar5._block(5, 0, rar5.vint(0))))
    again = rar5_volumes[-1].read_bytes()
    with pytest.raises(NotStreamable, match="more than the movie"):  # is still refused
        read_tail(lambda offset, length: again[offset : offset + length], at, len(again))


@needs_ffmpeg
def test_a_par2_index_that_misnames_the_volumes_takes_down_what_was_published(
    store: JobStore,
    s3: S3Client,
    tmp_path: Path,
    servers: list[NntpTestServer],
    rar4_set: dict[str, bytes],
) -> None:
    """The index names ``x.r00`` what is really ``x.r01``: the tail streams in that order, the
    volume's end then says another place and the stream stops there (``WrongBytes``: whatever
    it had published comes down); the movie comes by the sequential path, which names volumes
    by their ends."""
    folder = tmp_path / "misnamed"
    folder.mkdir()
    swapped = {
        "Movie.2024.1080p.r00": "Movie.2024.1080p.r01",
        "Movie.2024.1080p.r01": "Movie.2024.1080p.r00",
    }
    volumes = [name for name in rar4_set if ".par2" not in name]
    for name in volumes:
        (folder / swapped.get(name, name)).write_bytes(rar4_set[name])
    index = par2_index(folder, sorted(folder.iterdir()))
    posted, _ = obfuscated({**{n: rar4_set[n] for n in volumes}, "index.par2": index.read_bytes()})
    outcomes: list[str] = []
    context, _ = recorded_context(posted, s3, tmp_path, servers)
    context.streaming = StreamOptions(
        part_size=MIN_PART, hls_segment_seconds=1, on_outcome=outcomes.append
    )
    message, reporter = start_job(store)

    run(message, context, reporter)

    assert outcomes == ["fallback: volume 2's end does not match its place in the set"]
    assert hls_objects(s3, message.job_id) == {}
    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.playable_at is None
    assert s3.list_multipart_uploads(Bucket=R2_BUCKET).get("Uploads", []) == []


def test_segments_published_from_a_lying_index_are_taken_down(
    store: JobStore, s3: S3Client, tmp_path: Path, servers: list[NntpTestServer]
) -> None:
    """As above, on a movie long enough for the viewer to have been shown segments (20 s with a
    keyframe every second, each volume 5 s of it) and a line slow enough for them to go up before
    the lie is caught: what went up comes down, and the job is ready with no HLS to offer."""
    source = tmp_path / "source" / "Movie.2024.1080p.mkv"
    source.parent.mkdir()
    noisy_movie(source, seconds=20, bitrate="4M", keyframe_every=24)
    folder = tmp_path / "misnamed"
    volumes = pack_file(source, folder, volume_size=source.stat().st_size // 4 + 1)
    names = {v.name: v.read_bytes() for v in volumes}
    (folder / "Movie.2024.1080p.r00").write_bytes(names["Movie.2024.1080p.r01"])
    (folder / "Movie.2024.1080p.r01").write_bytes(names["Movie.2024.1080p.r00"])
    index = par2_index(folder, sorted(folder.iterdir()))
    outcomes: list[str] = []
    files = {**names, "index.par2": index.read_bytes()}
    context, sent = recorded_context(files, s3, tmp_path, servers, delay=0.1)
    one_connection(servers)(context)  # about 2.5 s a volume: time for the publisher's rounds
    context.streaming = StreamOptions(
        part_size=MIN_PART, hls_segment_seconds=1, on_outcome=outcomes.append
    )
    message, reporter = start_job(store)

    run(message, context, reporter)

    assert outcomes == ["fallback: volume 2's end does not match its place in the set"]
    published = [name for name, _ in sent if name.endswith(".m4s")]
    assert published  # the viewer could have been watching these
    assert hls_objects(s3, message.job_id) == {}
    job = store.get_job(message.job_id)
    assert job is not None
    assert job.status is JobStatus.READY
    assert job.playable_at is None
