"""A minimal RAR5 writer: one file, stored (``-m0``), split into volumes ``x.part1.rar``, ``x.part2.rar``…

No RAR writer exists in Debian main or on PyPI, yet movie releases are almost always stored RAR sets,
and the downloader's unpack path (rarfile reading stored volumes itself) is worth running for real in
the sandbox. Stored volumes are simple: per volume a signature, a main header, one file header whose
data area is the next slice of the file, and an end-of-archive header. Layout and field meanings follow
the published RAR 5.0 archive format (rarlab.com/technote.htm); every header carries its CRC32.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

SIGNATURE = b"Rar!\x1a\x07\x01\x00"

_MAIN, _FILE, _END = 1, 2, 5
_HAS_EXTRA, _HAS_DATA, _SPLIT_BEFORE, _SPLIT_AFTER = 0x01, 0x02, 0x08, 0x10
_ARCHIVE_IS_VOLUME, _ARCHIVE_HAS_NUMBER = 0x01, 0x02
_FILE_HAS_MTIME, _FILE_HAS_CRC = 0x02, 0x04
_END_NOT_LAST = 0x01
_HOST_UNIX = 1
_MODE = 0o100644
_COPY = 4 * 1024 * 1024


def vint(value: int) -> bytes:
    """RAR5's variable-length integer: 7 bits per byte, low bits first, high bit = more follows."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _block(kind: int, flags: int, fields: bytes, data_size: int | None = None) -> bytes:
    """One header: CRC32, size, type, flags, [data size], type-specific fields."""
    if data_size is not None:
        flags |= _HAS_DATA
    body = vint(kind) + vint(flags) + (vint(data_size) if data_size is not None else b"") + fields
    sized = vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(sized)) + sized


def _file_header(name: str, size: int, part: int, crc: int, flags: int, mtime: int) -> bytes:
    encoded = name.encode()
    fields = (
        vint(_FILE_HAS_MTIME | _FILE_HAS_CRC)
        + vint(size)
        + vint(_MODE)
        + struct.pack("<II", mtime, crc)
        + vint(0)  # compression: version 0, method 0 (store), no solid, no dictionary
        + vint(_HOST_UNIX)
        + vint(len(encoded))
        + encoded
    )
    return _block(_FILE, flags, fields, data_size=part)


def copy_slice(
    source: BinaryIO, out: BinaryIO, part: int, whole: int, member: str
) -> tuple[int, int]:
    """Copy ``part`` bytes of ``source`` to ``out``; (CRC32 of them, ``whole`` CRC32 continued)."""
    crc, left = 0, part
    while left:
        chunk = source.read(min(_COPY, left))
        if not chunk:
            raise OSError(f"{member} ended {left} bytes early while being packed")
        crc, whole = zlib.crc32(chunk, crc), zlib.crc32(chunk, whole)
        out.write(chunk)
        left -= len(chunk)
    return crc, whole


def volume_names(stem: str, count: int) -> list[str]:
    """``stem.part1.rar`` … with the zero padding RAR uses once there are 10 or more volumes."""
    width = len(str(count))
    return [f"{stem}.part{number:0{width}d}.rar" for number in range(1, count + 1)]


def write_stored(
    source: BinaryIO,
    size: int,
    folder: Path,
    stem: str,
    *,
    member: str,
    volume_data: int,
    mtime: int = 1_700_000_000,
) -> list[Path]:
    """Store ``size`` bytes read from ``source`` as ``member``, at most ``volume_data`` bytes of it
    per volume, in one pass (a 1 GiB benchmark release never sits in memory).

    Like RAR, every volume's file header holds the CRC32 of its own slice except the last, which
    holds the whole file's; each header is written first with a zero CRC and patched once its slice
    is written (same length, so nothing moves).
    """
    if volume_data <= 0:
        raise ValueError("volume_data must be positive")
    count = max(1, -(-size // volume_data))
    paths = [folder / name for name in volume_names(stem, count)]
    folder.mkdir(parents=True, exist_ok=True)
    whole = 0
    for index, path in enumerate(paths):
        last = index == count - 1
        part = min(volume_data, size - index * volume_data)
        archive_flags = _ARCHIVE_IS_VOLUME | (_ARCHIVE_HAS_NUMBER if index else 0)
        main = _block(_MAIN, 0, vint(archive_flags) + (vint(index) if index else b""))
        split = (_SPLIT_BEFORE if index else 0) | (0 if last else _SPLIT_AFTER)
        with path.open("wb") as out:
            out.write(SIGNATURE + main)
            header_at = out.tell()
            out.write(_file_header(member, size, part, 0, split, mtime))
            crc, whole = copy_slice(source, out, part, whole, member)
            out.write(_block(_END, 0, vint(0 if last else _END_NOT_LAST)))
            out.seek(header_at)
            out.write(_file_header(member, size, part, whole if last else crc, split, mtime))
    return paths


def write_volumes(
    name: str, data: bytes, folder: Path, stem: str, volume_size: int, mtime: int = 1_700_000_000
) -> list[Path]:
    """``data`` as member ``name`` in volumes of at most ``volume_size`` data bytes each."""
    return write_stored(
        io.BytesIO(data), len(data), folder, stem, member=name, volume_data=volume_size, mtime=mtime
    )


def pack_file(source: Path, folder: Path, volume_size: int) -> list[Path]:
    """``source`` packed into volumes of about ``volume_size`` bytes on disk, named after it."""
    overhead = len(SIGNATURE) + 64 + len(source.name.encode())
    with source.open("rb") as reader:
        return write_stored(
            reader,
            source.stat().st_size,
            folder,
            source.stem,
            member=source.name,
            volume_data=max(1, volume_size - overhead),
        )
