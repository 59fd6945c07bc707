"""A minimal RAR5 writer: one file, stored (``-m0``), split into volumes ``x.part1.rar``, ``x.part2.rar``…

No RAR writer exists in Debian main or on PyPI, yet movie releases are almost always stored RAR sets,
and the downloader's unpack path (rarfile reading stored volumes itself) is worth running for real in
the sandbox. Stored volumes are simple: per volume a signature, a main header, one file header whose
data area is the next slice of the file, and an end-of-archive header. Layout and field meanings follow
the published RAR 5.0 archive format (rarlab.com/technote.htm); every header carries its CRC32.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"Rar!\x1a\x07\x01\x00"

_MAIN, _FILE, _END = 1, 2, 5
_HAS_EXTRA, _HAS_DATA, _SPLIT_BEFORE, _SPLIT_AFTER = 0x01, 0x02, 0x08, 0x10
_ARCHIVE_IS_VOLUME, _ARCHIVE_HAS_NUMBER = 0x01, 0x02
_FILE_HAS_MTIME, _FILE_HAS_CRC = 0x02, 0x04
_END_NOT_LAST = 0x01
_HOST_UNIX = 1
_MODE = 0o100644


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


def _file_header(name: str, data: bytes, part: bytes, crc: int, flags: int, mtime: int) -> bytes:
    encoded = name.encode()
    fields = (
        vint(_FILE_HAS_MTIME | _FILE_HAS_CRC)
        + vint(len(data))
        + vint(_MODE)
        + struct.pack("<II", mtime, crc)
        + vint(0)  # compression: version 0, method 0 (store), no solid, no dictionary
        + vint(_HOST_UNIX)
        + vint(len(encoded))
        + encoded
    )
    return _block(_FILE, flags, fields, data_size=len(part))


def volume_names(stem: str, count: int) -> list[str]:
    """``stem.part1.rar`` … with the zero padding RAR uses once there are 10 or more volumes."""
    width = len(str(count))
    return [f"{stem}.part{number:0{width}d}.rar" for number in range(1, count + 1)]


def write_volumes(
    name: str, data: bytes, folder: Path, stem: str, volume_size: int, mtime: int = 1_700_000_000
) -> list[Path]:
    """Store ``data`` as member ``name`` in volumes of at most ``volume_size`` data bytes each.

    Like RAR, the last volume's file header holds the CRC32 of the whole file and the earlier ones the
    CRC32 of their own slice, so a reader verifies the member once it has read every part.
    """
    if volume_size <= 0:
        raise ValueError("volume_size must be positive")
    slices = [data[i : i + volume_size] for i in range(0, len(data), volume_size)] or [b""]
    paths = []
    folder.mkdir(parents=True, exist_ok=True)
    for index, (filename, part) in enumerate(
        zip(volume_names(stem, len(slices)), slices, strict=True)
    ):
        last = index == len(slices) - 1
        archive_flags = _ARCHIVE_IS_VOLUME | (_ARCHIVE_HAS_NUMBER if index else 0)
        main = _block(_MAIN, 0, vint(archive_flags) + (vint(index) if index else b""))
        split = (_SPLIT_BEFORE if index else 0) | (0 if last else _SPLIT_AFTER)
        crc = zlib.crc32(data) if last else zlib.crc32(part)
        header = _file_header(name, data, part, crc, split, mtime)
        end = _block(_END, 0, vint(0 if last else _END_NOT_LAST))
        path = folder / filename
        path.write_bytes(SIGNATURE + main + header + part + end)
        paths.append(path)
    return paths
