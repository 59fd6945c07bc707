"""Where a stored RAR4 volume (RAR 2.9 to 4.x format) keeps its slice of the packed file.

Scene releases and many Usenet posts are stored RAR4 sets (``x.rar, x.r00…`` or ``x.partNN.rar``).
Like a stored RAR5 set (``rar5_slices.py``) each volume is a marker, an archive header, one file
header and that volume's slice of the file, verbatim, then an end-of-archive block, so the movie can
be read straight out of the volumes while they download. One difference shapes the reader: a RAR4
volume says which one it is only in that end block, after its data (RAR 3.0 and later write the
number there; the archive header only flags the first volume). So the first volume is known from its
head, and the others' order comes from the par2 index's names when it has them (``plan.py``), or
else from each end block, read before the volume is streamed (``movie_bytes.py``). Only what the
tail can trust is accepted: no encryption, the same file split across volumes in order, method
"store"; anything else raises ``NotStreamable`` and the release takes the ordinary path.

Layout reference: RAR's ``technote.txt`` for RAR 2.x to 4.x (blocks: a 16-bit header CRC, type, flags,
size; file headers and blocks with ``LONG_BLOCK`` add a 32-bit data size).
"""

from __future__ import annotations

import struct
import zlib

from downloader.post.sniff import RAR4_SIGNATURE
from downloader.streaming import NotStreamable, PasswordProtected
from downloader.streaming.rar5_slices import MAX_HEADER, NeedMore, Read, Slice

SIGNATURE = RAR4_SIGNATURE
_MAIN, _FILE, _END = 0x73, 0x74, 0x7B
#: Blocks a volume may hold besides its file: old comments, authenticity, subblocks, and the
#: service headers of RAR 3 (comment, recovery record, quick open).
_SKIPPABLE = {0x75, 0x76, 0x77, 0x78, 0x79, 0x7A}
_VOLUME, _ENCRYPTED_HEADERS, _FIRST_VOLUME = 0x0001, 0x0080, 0x0100
_SPLIT_BEFORE, _SPLIT_AFTER, _ENCRYPTED_FILE = 0x0001, 0x0002, 0x0004
_DIRECTORY, _LARGE, _UNICODE, _LONG_BLOCK = 0x00E0, 0x0100, 0x0200, 0x8000
_NEXT_VOLUME, _END_HAS_CRC, _END_HAS_NUMBER = 0x0001, 0x0002, 0x0008
_STORE = 0x30
_FILE_FIELDS = struct.Struct("<IIBIIBBHI")  # pack and unpacked size, host, CRC, time, version…


def _block(data: bytes, at: int) -> tuple[int, int, int, int]:
    """(type, flags, end of the header, bytes of data after it) of the block at ``at``, its CRC
    checked; ``NeedMore`` when the header runs past ``data``."""
    if at + 7 > len(data):
        raise NeedMore
    crc, kind, flags, size = struct.unpack_from("<HBHH", data, at)
    if size < 7 or size > MAX_HEADER:
        raise NotStreamable("malformed RAR4 header")
    added = 0
    if flags & _LONG_BLOCK or kind == _FILE:
        if at + 11 > len(data):
            raise NeedMore
        (added,) = struct.unpack_from("<I", data, at + 7)
    end = at + size
    if end > len(data):
        raise NeedMore
    if zlib.crc32(data[at + 2 : end]) & 0xFFFF != crc:
        raise NotStreamable("damaged RAR4 header")
    return kind, flags, end, added


def read_slice(head: bytes) -> Slice:
    """The file slice described by the headers at the start of a RAR4 volume. Its
    ``volume_number`` is 0 for the first volume and None for the others (their end block says)."""
    if len(head) < len(SIGNATURE):
        raise NeedMore
    if not head.startswith(SIGNATURE):
        raise NotStreamable("not a RAR4 volume")
    at, number = len(SIGNATURE), None
    while True:
        kind, flags, end, added = _block(head, at)
        if kind == _MAIN:
            if flags & _ENCRYPTED_HEADERS:
                raise PasswordProtected("its headers are encrypted")
            number = 0 if flags & _FIRST_VOLUME or not flags & _VOLUME else None
        elif kind == _FILE:
            return _file_slice(head, at, flags, end, number)
        elif kind not in _SKIPPABLE:
            raise NotStreamable(f"unexpected RAR4 header type {kind:#x} before the file")
        at = end + (added if flags & _LONG_BLOCK else 0)


def _file_slice(head: bytes, at: int, flags: int, end: int, number: int | None) -> Slice:
    if end < at + 7 + _FILE_FIELDS.size:
        raise NotStreamable("truncated RAR4 file header")
    packed, size, _host, crc, _time, _version, method, name_size, _attributes = (
        _FILE_FIELDS.unpack_from(head, at + 7)
    )
    name_at = at + 7 + _FILE_FIELDS.size
    if flags & _LARGE:
        high_packed, high_size = struct.unpack_from("<II", head, name_at)
        packed, size, name_at = packed | high_packed << 32, size | high_size << 32, name_at + 8
    raw = head[name_at : name_at + name_size]
    if flags & _UNICODE:
        raw = raw.split(b"\x00", 1)[0]  # the OEM name; the Unicode one is encoded after it
    if flags & _ENCRYPTED_FILE:
        raise PasswordProtected("its file is encrypted")
    if flags & _DIRECTORY == _DIRECTORY:
        raise NotStreamable("the first entry is a folder")
    if method != _STORE:
        raise NotStreamable("compressed archive")
    return Slice(
        name=raw.decode("utf-8", "replace").replace("\\", "/"),
        file_size=size,
        data_offset=end,
        data_size=packed,
        crc=crc,
        split_before=bool(flags & _SPLIT_BEFORE),
        split_after=bool(flags & _SPLIT_AFTER),
        volume_number=number,
    )


def read_end(read: Read, at: int, size: int) -> tuple[int | None, bool]:
    """(volume number, is it the last volume) from what follows a volume's slice (which ends at
    ``at``): service blocks (a recovery record, a comment), stepped over without reading their
    data, and the end-of-archive block. The number is None when the block has none (an archive
    that is not a volume set; RAR 2.x volumes). Refuses a volume with another file after the
    movie, or with no end block."""
    while True:
        after = read(at, min(MAX_HEADER, size - at))
        try:
            kind, flags, end, added = _block(after, 0)
        except NeedMore:
            raise NotStreamable("a RAR4 volume does not end after the movie") from None
        if kind == _END:
            offset = 7 + (4 if flags & _END_HAS_CRC else 0)
            if not flags & _END_HAS_NUMBER or offset + 2 > end:
                return None, not flags & _NEXT_VOLUME
            (number,) = struct.unpack_from("<H", after, offset)
            return number, not flags & _NEXT_VOLUME
        if kind == _FILE:
            raise NotStreamable("the archive holds more than the movie")
        if kind not in _SKIPPABLE:
            raise NotStreamable(f"unexpected RAR4 header type {kind:#x} after the movie")
        at += end + (added if flags & _LONG_BLOCK else 0)
