"""What a file is, read from its bytes: releases in the wild have random names and no extensions.

Most movies on Usenet are obfuscated: subjects that name nothing, file names that are hashes, no
extension at all. The bytes still say what each file is: RAR4 and RAR5 volumes by their signature,
and their headers say whether a volume is the first of its set, its number, whether the headers are
encrypted and which file it carries; par2 files by their packet magic; 7z and zip by theirs; the
video containers by theirs (Matroska/WebM EBML, MP4/MOV ``ftyp``, AVI ``RIFF``, MPEG-TS sync bytes).
Only the first 64 KiB are read (and, for RAR4's volume number, the last few bytes), which the
download wrote anyway and the page cache still holds.

Layout references: rarlab.com/technote.htm (RAR 5.0), the RAR 2.x to 4.x ``technote.txt`` (RAR4), the
par2 specification, and each container's own.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

HEAD_BYTES = 64 * 1024
RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"
RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"
PAR2_MAGIC = b"PAR2\x00PKT"
_PAR2_RECOVERY = b"PAR 2.0\x00RecvSlic"
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_TS_PACKET = 188


class Kind(StrEnum):
    RAR = "rar"
    PAR2 = "par2"
    SEVEN_ZIP = "7z"
    ZIP = "zip"
    MATROSKA = "matroska"
    MP4 = "mp4"
    AVI = "avi"
    MPEG_TS = "mpegts"
    UNKNOWN = "unknown"


#: The extension a file of each kind is given when its name has none that fits.
EXTENSIONS: dict[Kind, str] = {
    Kind.RAR: ".rar",
    Kind.PAR2: ".par2",
    Kind.SEVEN_ZIP: ".7z",
    Kind.ZIP: ".zip",
    Kind.MATROSKA: ".mkv",
    Kind.MP4: ".mp4",
    Kind.AVI: ".avi",
    Kind.MPEG_TS: ".ts",
}
VIDEO_KINDS = frozenset({Kind.MATROSKA, Kind.MP4, Kind.AVI, Kind.MPEG_TS})


@dataclass(frozen=True)
class RarVolume:
    """What a RAR volume's headers say about its place in the set."""

    version: int  # 4 or 5
    #: The first volume of its set (or a single-volume archive).
    first: bool
    #: 0-based volume number when the headers carry one (RAR5 main header, RAR4 end block).
    number: int | None
    #: Headers encrypted (``rar -hp``): nothing in it can be read without the password.
    encrypted_headers: bool
    #: The name of the first file entry (the one continued across volumes), if readable.
    member: str | None
    #: The volume continues into another one (False on the last volume of a set).
    continues: bool | None
    #: Volumes named ``x.partNN.rar`` (RAR5, and RAR4 with its new-numbering flag), not
    #: ``x.rar``, ``x.r00``…: unpackers look for the next volume by that rule.
    new_numbering: bool = True


@dataclass(frozen=True)
class Sniffed:
    kind: Kind
    rar: RarVolume | None = None
    #: For par2: the file carries recovery slices (a ``.volNN+MM.par2``), not only the index.
    recovery: bool = False
    #: For zip: its first entry is encrypted (the local header's flag bit 0), so it needs a password.
    encrypted: bool = False

    @property
    def is_video(self) -> bool:
        return self.kind in VIDEO_KINDS


class Truncated(Exception):
    """The bytes end inside a header."""


def sniff(path: Path) -> Sniffed:
    """What ``path`` is, from its first bytes (and, for RAR4, its last ones)."""
    try:
        with path.open("rb") as source:
            head = source.read(HEAD_BYTES)
            if head.startswith(RAR4_SIGNATURE):
                size = source.seek(0, 2)
                source.seek(max(0, size - 64))
                return Sniffed(Kind.RAR, rar=_rar4(head, source.read(64)))
    except OSError:
        return Sniffed(Kind.UNKNOWN)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> Sniffed:
    """What a file that starts with ``head`` is (RAR4 volume numbers need ``sniff``)."""
    if head.startswith(RAR5_SIGNATURE):
        return Sniffed(Kind.RAR, rar=_rar5(head))
    if head.startswith(RAR4_SIGNATURE):
        return Sniffed(Kind.RAR, rar=_rar4(head, b""))
    if head.startswith(PAR2_MAGIC):
        return Sniffed(Kind.PAR2, recovery=_PAR2_RECOVERY in head)
    if head.startswith(SEVEN_ZIP_MAGIC):
        return Sniffed(Kind.SEVEN_ZIP)
    if head.startswith(ZIP_MAGICS):
        local = head.startswith(b"PK\x03\x04") and len(head) >= 8
        return Sniffed(Kind.ZIP, encrypted=local and bool(head[6] & 0x1))
    if head.startswith(EBML_MAGIC):
        return Sniffed(Kind.MATROSKA)
    if len(head) >= 12 and head[4:8] in _MP4_BOXES and _mp4_box_sane(head):
        return Sniffed(Kind.MP4)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed(Kind.AVI)
    if _mpeg_ts(head):
        return Sniffed(Kind.MPEG_TS)
    return Sniffed(Kind.UNKNOWN)


def read_vint(data: bytes, at: int) -> tuple[int, int]:
    """RAR5's variable-length number at ``at``: (value, offset after it). ``Truncated`` if the
    bytes end first, ValueError past 64 bits."""
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise Truncated
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("malformed RAR5 number")


# -- RAR5 -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rar5Header:
    """The fields every RAR5 header starts with; ``fields`` is where its type's own fields start."""

    kind: int
    flags: int
    extra_size: int
    data_size: int
    fields: int


def rar5_header(data: bytes, body: int) -> Rar5Header:
    """The common fields of the RAR5 header whose body (after CRC32 and size) starts at ``body``."""
    kind, pos = read_vint(data, body)
    flags, pos = read_vint(data, pos)
    extra = size = 0
    if flags & _R5_HAS_EXTRA:
        extra, pos = read_vint(data, pos)
    if flags & _R5_HAS_DATA:
        size, pos = read_vint(data, pos)
    return Rar5Header(kind, flags, extra, size, pos)


_R5_MAIN, _R5_FILE, _R5_SERVICE, _R5_ENCRYPTION, _R5_END = 1, 2, 3, 4, 5
_R5_HAS_EXTRA, _R5_HAS_DATA, _R5_SPLIT_AFTER = 0x01, 0x02, 0x10
_R5_VOLUME, _R5_HAS_NUMBER = 0x01, 0x02


def _rar5(head: bytes) -> RarVolume:
    """Main header (volume flag and number), then the first file header's name and split flag."""
    at = len(RAR5_SIGNATURE)
    volume, number, member, continues = False, None, None, None
    try:
        for _ in range(64):  # a handful of headers precede the first file; never loop forever
            size, body = read_vint(head, at + 4)  # after the header's CRC32
            end = body + size
            header = rar5_header(head, body)
            kind, flags, data, pos = header.kind, header.flags, header.data_size, header.fields
            if kind == _R5_ENCRYPTION:  # everything after it is ciphertext
                return RarVolume(5, True, None, encrypted_headers=True, member=None, continues=None)
            if kind == _R5_MAIN:
                archive_flags, pos = read_vint(head, pos)
                volume = bool(archive_flags & _R5_VOLUME)
                number = 0
                if archive_flags & _R5_HAS_NUMBER:
                    number, pos = read_vint(head, pos)
            elif kind == _R5_FILE:
                member = _rar5_name(head, pos, end)
                continues = bool(flags & _R5_SPLIT_AFTER)
                break
            elif kind == _R5_END:
                break
            at = end + data
    except (Truncated, ValueError, struct.error):
        pass
    return RarVolume(
        5,
        first=not volume or number in (None, 0),
        number=number if volume else 0,
        encrypted_headers=False,
        member=member,
        continues=continues,
    )


def _rar5_name(head: bytes, pos: int, end: int) -> str | None:
    file_flags, pos = read_vint(head, pos)
    _size, pos = read_vint(head, pos)
    _attributes, pos = read_vint(head, pos)
    pos += 4 if file_flags & 0x02 else 0  # mtime
    pos += 4 if file_flags & 0x04 else 0  # data CRC32
    _compression, pos = read_vint(head, pos)
    _host, pos = read_vint(head, pos)
    length, pos = read_vint(head, pos)
    if pos + length > min(end, len(head)):
        return None
    return head[pos : pos + length].decode("utf-8", "replace")


# -- RAR4 (RAR 2.9 to 4.x volumes) -------------------------------------------------------------------

_R4_MAIN, _R4_FILE, _R4_END = 0x73, 0x74, 0x7B
_R4_VOLUME, _R4_ENCRYPTED_HEADERS, _R4_FIRST_VOLUME = 0x0001, 0x0080, 0x0100
_R4_NEW_NUMBERING = 0x0010
_R4_LONG_BLOCK, _R4_SPLIT_AFTER, _R4_UNICODE_NAME = 0x8000, 0x02, 0x200
_R4_NEXT_VOLUME, _R4_END_HAS_CRC, _R4_END_HAS_NUMBER = 0x0001, 0x0002, 0x0008


def _rar4(head: bytes, tail: bytes) -> RarVolume:
    at = len(RAR4_SIGNATURE)
    flags = member = continues = None
    try:
        while at + 7 <= len(head):
            _crc, kind, block_flags, size = struct.unpack_from("<HBHH", head, at)
            if size < 7:
                break
            added = 0
            if block_flags & _R4_LONG_BLOCK or kind == _R4_FILE:
                (added,) = struct.unpack_from("<I", head, at + 7)
            if kind == _R4_MAIN:
                flags = block_flags
                if block_flags & _R4_ENCRYPTED_HEADERS:
                    break
            elif kind == _R4_FILE:
                (name_size,) = struct.unpack_from("<H", head, at + 26)
                name_at = at + 32 + (8 if block_flags & 0x100 else 0)
                raw = head[name_at : name_at + name_size]
                if block_flags & _R4_UNICODE_NAME:
                    raw = raw.split(b"\x00", 1)[0]
                member = raw.decode("utf-8", "replace") if raw else None
                continues = bool(block_flags & _R4_SPLIT_AFTER)
                break
            at += size + added
    except struct.error:
        pass
    flags = flags or 0
    encrypted = bool(flags & _R4_ENCRYPTED_HEADERS)
    number, last = _rar4_end(tail)
    return RarVolume(
        4,
        first=not flags & _R4_VOLUME or bool(flags & _R4_FIRST_VOLUME) or number == 0,
        number=number if flags & _R4_VOLUME else 0,
        encrypted_headers=encrypted,
        member=member,
        continues=(not last) if last is not None else continues,
        new_numbering=bool(flags & _R4_NEW_NUMBERING),
    )


def _rar4_end(tail: bytes) -> tuple[int | None, bool | None]:
    """(volume number, is the last volume) from the end-of-archive block RAR 3+ writes at the end
    of each volume; (None, None) when there is none (RAR 2.x, or a truncated file)."""
    for at in range(len(tail) - 7, -1, -1):
        if tail[at + 2] != _R4_END:
            continue
        crc, _kind, flags, size = struct.unpack_from("<HBHH", tail, at)
        if size < 7 or at + size > len(tail):
            continue
        if zlib.crc32(tail[at + 2 : at + size]) & 0xFFFF != crc:
            continue
        offset = at + 7 + (4 if flags & _R4_END_HAS_CRC else 0)
        number = None
        if flags & _R4_END_HAS_NUMBER and offset + 2 <= at + size:
            (number,) = struct.unpack_from("<H", tail, offset)
        return number, not flags & _R4_NEXT_VOLUME
    return None, None


# -- containers -----------------------------------------------------------------------------------


def _mp4_box_sane(head: bytes) -> bool:
    size: int = struct.unpack_from(">I", head)[0]
    return size == 1 or size >= 8


def _mpeg_ts(head: bytes) -> bool:
    """Sync bytes every 188 bytes (or 192, M2TS's timestamped packets) for a few packets."""
    for packet, start in ((_TS_PACKET, 0), (192, 4)):
        offsets = range(start, start + packet * 5, packet)
        if len(head) > offsets[-1] and all(head[i] == 0x47 for i in offsets):
            return True
    return False
