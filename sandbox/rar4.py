"""A minimal RAR4 (RAR 2.9 to 4.x format) writer: one file, stored (``-m0``), split into volumes.

Scene releases and a great many Usenet posts are stored RAR4 sets, ``x.rar, x.r00, x.r01…`` (or
``x.partNN.rar`` with new numbering), and no RAR writer exists in Debian main or on PyPI. Per
volume: the marker block, the archive header (volume flags; ``FIRST_VOLUME`` on the first), one
file header whose data area is the next slice of the file, and the end-of-archive block that carries
the volume's number (RAR 3.0 and later write it; it is the only place a RAR4 volume says which one
it is). Layout per RAR's ``technote.txt`` (RAR 2.x to 4.x). Every header carries the low 16 bits of its
CRC32. The tests check what this writes with unar, bsdtar and rarfile, and its reader against
volumes made by the real ``rar`` (rarfile's fixtures).
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path
from typing import BinaryIO

from sandbox import rar as rar5
from sandbox.rar import copy_slice

MARKER = b"Rar!\x1a\x07\x00"
_MAIN, _FILE, _END = 0x73, 0x74, 0x7B
_VOLUME, _NEW_NUMBERING, _FIRST_VOLUME = 0x0001, 0x0010, 0x0100
_SPLIT_BEFORE, _SPLIT_AFTER, _LARGE, _LONG_BLOCK = 0x0001, 0x0002, 0x0100, 0x8000
_NEXT_VOLUME, _HAS_NUMBER = 0x0001, 0x0008
_HOST_UNIX, _VERSION_29, _STORE = 3, 29, 0x30
_MODE = 0o100644


def _block(kind: int, flags: int, fields: bytes) -> bytes:
    """HEAD_CRC (low 16 bits of the CRC32 of everything after it), type, flags, size, fields."""
    body = struct.pack("<BHH", kind, flags, 7 + len(fields)) + fields
    return struct.pack("<H", zlib.crc32(body) & 0xFFFF) + body


def _dos_time(seconds: int) -> int:
    t = time.gmtime(seconds)
    date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return (date << 16) | (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)


def _file_header(name: str, size: int, part: int, crc: int, flags: int, mtime: int) -> bytes:
    encoded = name.encode()
    large = size >= 1 << 32 or part >= 1 << 32
    fields = struct.pack(
        "<IIBIIBBHI",
        part & 0xFFFFFFFF,
        size & 0xFFFFFFFF,
        _HOST_UNIX,
        crc,
        _dos_time(mtime),
        _VERSION_29,
        _STORE,
        len(encoded),
        _MODE,
    )
    if large:
        fields += struct.pack("<II", part >> 32, size >> 32)
    return _block(_FILE, flags | _LONG_BLOCK | (_LARGE if large else 0), fields + encoded)


def volume_names(stem: str, count: int, *, new_numbering: bool) -> list[str]:
    """``stem.rar, stem.r00, stem.r01…``, or ``stem.part1.rar…`` (zero-padded like RAR)."""
    if new_numbering:
        return rar5.volume_names(stem, count)
    return [f"{stem}.rar"] + [f"{stem}.r{number:02d}" for number in range(count - 1)]


def write_stored(
    source: BinaryIO,
    size: int,
    folder: Path,
    stem: str,
    *,
    member: str,
    volume_data: int,
    new_numbering: bool = False,
    mtime: int = 1_700_000_000,
) -> list[Path]:
    """Store ``size`` bytes of ``source`` as ``member``, at most ``volume_data`` of them per volume.
    As RAR does, each volume's file header holds the CRC32 of its own slice but the last's, which
    holds the whole file's (patched in once the slice is written: same length, nothing moves)."""
    if volume_data <= 0:
        raise ValueError("volume_data must be positive")
    count = max(1, -(-size // volume_data))
    paths = [folder / name for name in volume_names(stem, count, new_numbering=new_numbering)]
    folder.mkdir(parents=True, exist_ok=True)
    whole = 0
    for index, path in enumerate(paths):
        last = index == count - 1
        part = min(volume_data, size - index * volume_data)
        archive = (
            _VOLUME | (_NEW_NUMBERING if new_numbering else 0) | (0 if index else _FIRST_VOLUME)
        )
        split = (_SPLIT_BEFORE if index else 0) | (0 if last else _SPLIT_AFTER)
        with path.open("wb") as out:
            out.write(MARKER + _block(_MAIN, archive, bytes(6)))
            header_at = out.tell()
            out.write(_file_header(member, size, part, 0, split, mtime))
            crc, whole = copy_slice(source, out, part, whole, member)
            end_flags = _HAS_NUMBER | (0 if last else _NEXT_VOLUME)
            out.write(_block(_END, end_flags, struct.pack("<H", index)))
            out.seek(header_at)
            out.write(_file_header(member, size, part, whole if last else crc, split, mtime))
    return paths


def write_volumes(name: str, data: bytes, folder: Path, stem: str, volume_size: int) -> list[Path]:
    """``data`` as member ``name`` in volumes of at most ``volume_size`` data bytes each."""
    return write_stored(
        io.BytesIO(data), len(data), folder, stem, member=name, volume_data=volume_size
    )


def pack_file(
    source: Path, folder: Path, volume_size: int, *, new_numbering: bool = False
) -> list[Path]:
    """``source`` packed into stored RAR4 volumes of about ``volume_size`` bytes, named after it."""
    overhead = len(MARKER) + 13 + 32 + len(source.name.encode()) + 9
    with source.open("rb") as reader:
        return write_stored(
            reader,
            source.stat().st_size,
            folder,
            source.stem,
            member=source.name,
            volume_data=max(1, volume_size - overhead),
            new_numbering=new_numbering,
        )
