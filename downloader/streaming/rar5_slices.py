"""Where a stored (``-m0``) RAR5 volume keeps its slice of the packed file, read from its headers.

In a stored set the packed file is simply cut into slices: each volume is a signature, a main header,
one file header and that volume's slice of the file, verbatim, then an end header. Knowing each
slice's offset and length is enough to read the movie straight out of the volumes while they
download (``tail.py``), with no unpacking. Only what the streaming tail can trust is accepted: RAR5,
no archive encryption, exactly the expected file (same name, same size) split across volumes in
order, method 0, no encryption record. Anything else raises the package's ``NotStreamable`` and the
release takes the ordinary path (unpack with rarfile/unar/bsdtar), so this is a fast path, never a second
unpacker that must handle everything.

Layout reference: https://www.rarlab.com/technote.htm (RAR 5.0 archive format).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from downloader.post.sniff import RAR5_SIGNATURE, Rar5Header, Truncated, rar5_header, read_vint
from downloader.streaming import NotStreamable, PasswordProtected

SIGNATURE = RAR5_SIGNATURE
_MAIN, _FILE, _SERVICE, _ENCRYPTION, _END = 1, 2, 3, 4, 5
_SPLIT_BEFORE, _SPLIT_AFTER = 0x08, 0x10
_HAS_VOLUME_NUMBER = 0x02
_FILE_IS_DIR, _FILE_HAS_MTIME, _FILE_HAS_CRC = 0x01, 0x02, 0x04
_EXTRA_ENCRYPTION = 0x01
#: A header this large is not one a stored movie set writes; refuse rather than read on.
MAX_HEADER = 64 * 1024


#: ``read(offset, length)``: that many bytes of a volume from ``offset`` (fewer at its end).
Read = Callable[[int, int], bytes]


class NeedMore(Exception):
    """The headers continue past the bytes given; call again with more of the volume."""


@dataclass(frozen=True)
class Slice:
    """One volume's piece of the packed file."""

    name: str
    #: The whole file's size (the same in every volume's header).
    file_size: int
    data_offset: int
    data_size: int
    #: CRC32 of this slice (every volume but the last) or of the whole file (the last); None if
    #: the archiver stored a different hash.
    crc: int | None
    split_before: bool
    split_after: bool
    #: 0-based; None for a RAR4 volume after the first, whose number only its end block gives.
    volume_number: int | None


def _header(data: bytes, body: int) -> Rar5Header:
    """``sniff.rar5_header`` in this reader's terms."""
    try:
        return rar5_header(data, body)
    except Truncated:
        raise NeedMore from None
    except ValueError:
        raise NotStreamable("malformed RAR5 number") from None


def _vint(data: bytes, at: int) -> tuple[int, int]:
    """RAR5's variable-length number (``sniff.read_vint``) in this reader's terms."""
    try:
        return read_vint(data, at)
    except Truncated:
        raise NeedMore from None
    except ValueError:
        raise NotStreamable("malformed RAR5 number") from None


def read_slice(head: bytes) -> Slice:
    """The file slice described by the headers at the start of a volume (``head`` is its first
    bytes: enough to hold the headers; ``NeedMore`` when they are not)."""
    if len(head) < len(SIGNATURE):
        raise NeedMore
    if not head.startswith(SIGNATURE):
        raise NotStreamable("not a RAR5 volume")
    at = len(SIGNATURE)
    volume_number = 0
    while True:
        if at + 4 > len(head):
            raise NeedMore
        (crc,) = struct.unpack_from("<I", head, at)
        size, body_at = _vint(head, at + 4)
        if size > MAX_HEADER:
            raise NotStreamable("oversized RAR5 header")
        end = body_at + size
        if end > len(head):
            raise NeedMore
        if zlib.crc32(head[at + 4 : end]) != crc:
            raise NotStreamable("damaged RAR5 header")
        header = _header(head, body_at)
        kind, flags, extra, data, pos = (
            header.kind,
            header.flags,
            header.extra_size,
            header.data_size,
            header.fields,
        )
        if kind == _ENCRYPTION:
            raise PasswordProtected("its headers are encrypted")
        if kind == _MAIN:
            main_flags, pos = _vint(head, pos)
            if main_flags & _HAS_VOLUME_NUMBER:
                volume_number, pos = _vint(head, pos)
        elif kind == _FILE:
            return _file_slice(head, pos, flags, end, extra, data, volume_number)
        elif kind != _SERVICE:
            raise NotStreamable(f"unexpected RAR5 header type {kind} before the file")
        at = end + data  # service headers (comments, quick-open) may carry data: skip it


def _file_slice(
    head: bytes, pos: int, flags: int, end: int, extra: int, data: int, volume_number: int
) -> Slice:
    file_flags, pos = _vint(head, pos)
    file_size, pos = _vint(head, pos)
    _attributes, pos = _vint(head, pos)
    if file_flags & _FILE_IS_DIR:
        raise NotStreamable("the first entry is a folder")
    if file_flags & _FILE_HAS_MTIME:
        pos += 4
    crc = None
    if file_flags & _FILE_HAS_CRC:
        if pos + 4 > end:
            raise NotStreamable("truncated RAR5 file header")
        (crc,) = struct.unpack_from("<I", head, pos)
        pos += 4
    compression, pos = _vint(head, pos)
    _host, pos = _vint(head, pos)
    name_length, pos = _vint(head, pos)
    name = head[pos : pos + name_length].decode("utf-8", "replace")
    pos += name_length
    if pos > end or (extra and end - extra < pos):
        raise NotStreamable("malformed RAR5 file header")
    record_at = end - extra
    while record_at < end:  # extra records: refuse encryption, ignore times, hashes, owners…
        record_size, body = _vint(head, record_at)
        record_type, _ = _vint(head, body)
        if record_type == _EXTRA_ENCRYPTION:
            raise PasswordProtected("its file is encrypted")
        record_at = body + record_size
    if (compression >> 7) & 0x07:  # after the encryption check: a password says more
        raise NotStreamable("compressed archive")
    return Slice(
        name=name,
        file_size=file_size,
        data_offset=end,
        data_size=data,
        crc=crc,
        split_before=bool(flags & _SPLIT_BEFORE),
        split_after=bool(flags & _SPLIT_AFTER),
        volume_number=volume_number,
    )


def check_next(previous: Slice | None, current: Slice, volume_size: int, number: int) -> None:
    """Refuse a volume that does not continue the set exactly where ``previous`` left it."""
    if current.data_offset + current.data_size > volume_size:
        raise NotStreamable(f"volume {number + 1} is shorter than its header says")
    if current.volume_number is not None and current.volume_number != number:
        raise NotStreamable(f"volume {number + 1} says it is volume {current.volume_number + 1}")
    if previous is None:
        if current.split_before:
            raise NotStreamable("the first volume continues an earlier one")
        return
    if not previous.split_after or not current.split_before:
        raise NotStreamable(f"volume {number + 1} does not continue the file")
    if (current.name, current.file_size) != (previous.name, previous.file_size):
        raise NotStreamable(f"volume {number + 1} holds a different file")


def read_tail(read: Read, at: int, size: int) -> None:
    """Refuse a last volume with anything after the movie's data (which ends at ``at``) but
    service headers (a recovery record, quick-open data, a comment) and the end-of-archive
    header: another file would change what unpacking gives. ``read`` gives the volume's bytes;
    a service header's data is stepped over, not read (a recovery record is megabytes)."""
    while True:
        tail = read(at, min(MAX_HEADER + 16, size - at))
        try:
            if len(tail) < 5:
                raise NeedMore
            header_size, body_at = _vint(tail, 4)
            end = body_at + header_size
            if end > len(tail) or zlib.crc32(tail[4:end]) != struct.unpack_from("<I", tail)[0]:
                raise NotStreamable("damaged RAR5 header after the movie")
            header = _header(tail, body_at)
        except NeedMore:
            raise NotStreamable("the last volume does not end after the movie") from None
        if header.kind == _END:
            return
        if header.kind != _SERVICE:
            raise NotStreamable("the archive holds more than the movie")
        at += end + header.data_size
