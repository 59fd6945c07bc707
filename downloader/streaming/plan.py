"""Deciding whether a release can take the streaming tail, and how much MP4 index to reserve.

Both are read before the first byte is streamed, from the bytes, never the names: obfuscated
releases call their volumes ``a8f3e1…`` with no extension and list them in any order, so each data
file's first bytes (its head, fetched before anything else: ``Scheduler``) say what it is. The
movie is either one stored, unencrypted RAR5 set holding a single Matroska file, its volumes put in
order by the numbers in their own headers (or a RAR4 set: its first volume, then the others for the
reader to order by their ends), or one plain Matroska file. Samples and other small files
beside it are left to the sequential path's unpacking; anything that could be a second movie, or
an archive the tail cannot read that is big enough to hold the movie, raises ``NotStreamable`` and
the sequential path does the job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from downloader.post.par2 import RepairError, md5_16k_of, parse_index
from downloader.post.sniff import RAR4_SIGNATURE, Kind, sniff_bytes
from downloader.streaming import NotStreamable, PasswordProtected
from downloader.streaming.rar5_slices import Slice
from downloader.streaming.slices import read_slice
from downloader.volume_names import volume_number

#: Index bytes reserved per sample (stsz 4, ctts 8, stco/stsc per chunk…: about twice the need).
MOOV_PER_SAMPLE = 24
MOOV_BASE = 64 * 1024
#: ``x.mkv.001``: a piece of a file posted split.
_PIECE = re.compile(r"(.+)\.(\d{3})")
_EBML_ID, _SEGMENT_ID = b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67"
#: Another video (or unreadable archive) at least this share of the movie's size could be the
#: real movie: the tail then steps aside rather than guess (a sample is a few percent).
RIVAL_SHARE = 0.5


@dataclass(frozen=True)
class Source:
    """NZB file indexes holding the movie, in order: one plain file, the pieces of a file posted
    split (read one after the other), or, with ``rar``, the volumes of a stored RAR set.
    ``numbered`` is False for a RAR4 set, whose volumes after the first say their numbers only
    at their ends. ``files`` then lists them in the order the par2 index names them
    (``par2_order``: the reader streams them as they arrive and checks each one's end after it),
    or else the first volume and the others in the NZB's order, a guess the reader checks (and
    corrects) before it streams each one."""

    files: tuple[int, ...]
    rar: bool
    numbered: bool = True
    par2_order: bool = False


@dataclass(frozen=True)
class Head:
    """A data file's first bytes (for a RAR5 volume: all of its headers) and its decoded size.
    A file whose first article is missing or damaged has no ``data`` and the NZB's size."""

    index: int
    data: bytes
    size: int

    @property
    def missing(self) -> bool:
        return not self.data


def plan_source(heads: Sequence[Head]) -> Source:
    """Where the movie is, if the release is one the tail can read; else ``NotStreamable``, or
    ``PasswordProtected`` as soon as any head shows an encrypted archive (as ``refuse_passwords``
    would after the download). A file without its head (par2 will repair it) takes the one place
    it can have in the set: its only missing volume number, or the end of a set that goes on."""
    sets: dict[tuple[str, int], list[tuple[Slice, Head]]] = {}
    videos: list[Head] = []
    unreadable: list[tuple[NotStreamable, Head]] = []  # archives the tail cannot read
    unknown = [head for head in heads if head.missing]
    described: dict[tuple[bytes, int], str] = {}  # (MD5 of the first 16 KiB, size) → par2's name
    for head in heads:
        if head.missing:
            continue
        sniffed = sniff_bytes(head.data)
        if sniffed.kind is Kind.PAR2:
            described |= _described(head.data)
            continue
        if sniffed.encrypted or (sniffed.rar is not None and sniffed.rar.encrypted_headers):
            raise PasswordProtected(
                "its headers are encrypted" if sniffed.rar else "its first entry is encrypted"
            )
        if sniffed.kind is Kind.RAR:
            try:
                piece = read_slice(head.data)
            except PasswordProtected:
                raise
            except NotStreamable as exc:
                unreadable.append((exc, head))
                continue
            sets.setdefault((piece.name, piece.file_size), []).append((piece, head))
        elif sniffed.kind in (Kind.SEVEN_ZIP, Kind.ZIP):
            unreadable.append((NotStreamable(f"a {sniffed.kind} archive"), head))
        elif sniffed.is_video:
            videos.append(head)
    # Each file by the name the par2 index gives it (matched by its first 16 KiB and its size).
    named = {
        head.index: name
        for head in heads
        if not head.missing and (name := described.get((md5_16k_of(head.data), head.size)))
    }
    pieces = _split_movie(heads, named)
    if pieces:  # its first piece is no movie of its own
        videos = [head for head in videos if head.index != pieces[0]]
    # Every candidate for the movie with its size: a set by the file it packs, a video by its own.
    movies: list[tuple[int, tuple[str, int] | None, Head | None]] = [
        (key[1], key, None) for key in sets
    ]
    movies += [(head.size, None, head) for head in videos]
    by_index = {head.index: head for head in heads}
    if pieces:
        movies.append((sum(by_index[index].size for index in pieces), None, None))
    movies.sort(key=lambda movie: movie[0], reverse=True)
    packed = sum(head.size for _, head in unreadable)
    if not movies or packed >= RIVAL_SHARE * movies[0][0]:
        if unreadable:  # what it holds could be the movie: say why the tail cannot read it
            raise unreadable[0][0]
        raise NotStreamable("no video file or RAR set in the release")
    size, key, video = movies[0]
    if any(other >= RIVAL_SHARE * size for other, _, _ in movies[1:]):
        raise NotStreamable("more than one file that could be the movie")
    if video is not None:
        if unknown:  # it could be the movie's first piece, or another movie
            raise NotStreamable("the first article of a file is missing or damaged")
        if sniff_bytes(video.data).kind is not Kind.MATROSKA:
            raise NotStreamable("the movie is not a Matroska file")
        claimed = matroska_size(video.data)
        if claimed is not None and claimed > video.size:
            raise NotStreamable("the movie is split into pieces that no par2 index names")
        return Source((video.index,), rar=False)
    if key is None:
        return Source(tuple(pieces), rar=False)
    return _volumes(sets[key], unknown, named)


def _volumes(
    pieces: list[tuple[Slice, Head]],
    unknown: Sequence[Head],
    named: dict[int, str],
) -> Source:
    """The set's files in volume order, when its headers number them 0, 1, 2… with none missing,
    or with one missing where the one file without a head can go (its headers are checked when the
    reader gets there, after par2's repair)."""
    if not _packs_matroska(pieces):
        raise NotStreamable("the archive holds no Matroska video")
    if pieces[0][1].data.startswith(RAR4_SIGNATURE):  # numbers only at the ends, even of one
        return _unnumbered(pieces, unknown, named)
    pieces.sort(key=lambda item: item[0].volume_number or 0)
    numbers = [piece.volume_number or 0 for piece, _ in pieces]
    if len(set(numbers)) != len(numbers):
        raise NotStreamable("two volumes of the RAR set say they are the same one")
    holes = sorted(set(range(numbers[-1] + 1)) - set(numbers))
    places = holes + ([numbers[-1] + 1] if pieces[-1][0].split_after and unknown else [])
    files = {number: head.index for number, (_, head) in zip(numbers, pieces, strict=True)}
    if holes or (unknown and len(places) == 1):
        if len(places) != 1 or len(unknown) != 1:
            raise NotStreamable("the RAR set's volumes are not numbered 1 to n")
        files[places[0]] = unknown[0].index
    return Source(tuple(files[number] for number in sorted(files)), rar=True)


def _packs_matroska(pieces: Sequence[tuple[Slice, Head]]) -> bool:
    """Whether the packed file is a Matroska video, by its first bytes in the first volume's head
    (an obfuscated release may call it ``a8f3e1`` inside the archive too); by its name only when
    the head ends before the file's data starts."""
    for piece, head in pieces:
        if piece.volume_number == 0 and len(head.data) > piece.data_offset + 4:
            return sniff_bytes(head.data[piece.data_offset :]).kind is Kind.MATROSKA
    return PurePath(pieces[0][0].name).suffix.lower() in (".mkv", ".webm")


def _unnumbered(
    pieces: list[tuple[Slice, Head]],
    unknown: Sequence[Head],
    named: dict[int, str],
) -> Source:
    """A RAR4 set. When the par2 index (its head) names every volume (``named``: found by the MD5
    of its first 16 KiB and its size), and those names number them 0 to n with the flagged
    first volume first, that is the order. Else: the first volume, then the others in the NZB's
    order, which is the order they were posted in more often than not; the reader then reads
    each one's number from its end before it streams it (a wrong guess costs waiting)."""
    if unknown:
        raise NotStreamable("the first article of a file is missing or damaged")
    firsts = [head.index for piece, head in pieces if piece.volume_number == 0]
    if len(firsts) != 1:
        raise NotStreamable("the RAR set does not have exactly one first volume")
    by_number: dict[int, int] = {}
    for _, head in pieces:
        number = volume_number(named.get(head.index, ""))
        if number is not None:
            by_number[number] = head.index
    if sorted(by_number) == list(range(len(pieces))) and by_number[0] == firsts[0]:
        order = tuple(by_number[n] for n in sorted(by_number))
        return Source(order, rar=True, numbered=False, par2_order=True)
    rest = sorted(head.index for piece, head in pieces if piece.volume_number is None)
    return Source((firsts[0], *rest), rar=True, numbered=False)


def _split_movie(heads: Sequence[Head], named: dict[int, str]) -> list[int]:
    """The pieces of a movie posted split (``x.mkv.001``, ``x.mkv.002``…), in order: only the
    first has a header, so the order is the one the par2 index's names give them (``named``),
    numbered 1 to n with none missing, the first a Matroska file. Empty when there is no such
    movie."""
    groups: dict[str, dict[int, Head]] = {}
    for head in heads:
        found = _PIECE.fullmatch(named.get(head.index, ""))
        if found:
            groups.setdefault(found.group(1), {})[int(found.group(2))] = head
    for group in groups.values():
        numbers = sorted(group)
        first = group.get(1)
        whole = len(numbers) > 1 and numbers == list(range(1, len(numbers) + 1))
        if whole and first is not None and sniff_bytes(first.data).kind is Kind.MATROSKA:
            return [group[number].index for number in numbers]
    return []


def matroska_size(data: bytes) -> int | None:
    """The bytes a Matroska file says it has (its EBML header and Segment element), from its
    first bytes; None when the Segment's size is unknown (live muxing) or cannot be read."""
    try:
        at = len(_EBML_ID)
        size, at = _ebml_size(data, at)
        at += size
        if data[at : at + 4] != _SEGMENT_ID:
            return None
        size, at = _ebml_size(data, at + 4)
    except (IndexError, ValueError):
        return None
    return None if size < 0 else at + size


def _ebml_size(data: bytes, at: int) -> tuple[int, int]:
    """An EBML variable-length size at ``at`` and where its element's data starts; -1 for the
    "unknown" size (all value bits set)."""
    first = data[at]
    length = 9 - first.bit_length()
    if not 1 <= length <= 8:
        raise ValueError("not an EBML size")
    value = first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = value << 8 | byte
    if at + length > len(data):
        raise IndexError
    return (-1 if value == (1 << (7 * length)) - 1 else value), at + length


def _described(data: bytes) -> dict[tuple[bytes, int], str]:
    """What a par2 file's first bytes say of each file: (MD5 of its first 16 KiB, size) → name."""
    try:
        index = parse_index(data)
    except RepairError:
        return {}
    return index.names_by_hash()


def moov_estimate(data: dict[str, Any]) -> int:
    """Bytes to reserve for the MP4 index, from the duration and each stream's sample rate, about
    twice what the muxer needs: too little costs the whole fast path (ffmpeg then fails)."""
    duration = float((data.get("format") or {}).get("duration") or 0)
    if duration <= 0:
        raise NotStreamable("the movie's duration is unknown")
    per_second = 0.0
    for stream in data.get("streams") or []:
        if stream.get("codec_type") == "video":
            rates = (stream.get("avg_frame_rate"), stream.get("r_frame_rate"))
            per_second += max(_rate(str(rate or "0/1")) for rate in rates)
        elif stream.get("codec_type") == "audio":
            per_second += float(stream.get("sample_rate") or 48000) / 960  # Opus: shortest frames
    return MOOV_BASE + int(duration * per_second * MOOV_PER_SAMPLE)


def _rate(fraction: str) -> float:
    """Frames per second from ffprobe's ``num/den``: at most 120 (Matroska may say 1000/1), 60
    when unknown."""
    number, _, denominator = fraction.partition("/")
    try:
        value = float(number) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        value = 0.0
    return min(value, 120.0) if value > 0 else 60.0
