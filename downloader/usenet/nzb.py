"""Reading NZB files: which articles make up which file, and what kind of file each one is.

NZBs come from indexers and are hostile input. They are parsed with defusedxml (entity declarations,
the XML-bomb vector, are refused), capped in size before and after gunzipping, and every message-id is
checked before it can reach an NNTP command line (a CR/LF in one would inject commands). Real NZBs are
sloppy, so we accept what the other downloaders accept: gzip, a UTF-8 BOM, no namespace, segments out
of order, duplicate segment numbers (the first wins), and gaps (recorded, so par2 knows what to repair).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Protocol
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from chalicelib.errors import IndexerFailure, NzbUnavailable
from downloader.errors import IndexerError, NzbError
from downloader.volume_names import volume_number

MAX_NZB_BYTES = 64 * 1024 * 1024  # the largest real NZBs (4K remuxes) are a few MiB
MAX_SEGMENTS = 2_000_000
_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_MESSAGE_ID = re.compile(r"[!-~]{1,250}")  # printable ASCII, no spaces: safe on a command line
_QUOTED = re.compile(r'"(.*)"')
_BRACKETED = re.compile(r"\[([^\[\]]*?\.[A-Za-z0-9]{2,4})\]")
_YENC_TAIL = re.compile(r"(?i)\s*\byEnc\b.*$")
_PART_COUNTER = re.compile(r"\s*[\[(]\d+/\d+[\])]\s*")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{2,4}$")
_PAR2_RECOVERY = re.compile(r"(?i)\.vol\d+[+-]\d+\.par2$")


@dataclass(frozen=True)
class Segment:
    number: int
    #: Size of the encoded article as the NZB states it (used for progress, not for offsets).
    bytes: int
    message_id: str


@dataclass(frozen=True)
class NzbFile:
    index: int
    subject: str
    poster: str
    date: int
    groups: tuple[str, ...]
    segments: tuple[Segment, ...]
    #: Segment numbers the NZB skipped (gaps below the highest number): missing before we start.
    missing_numbers: tuple[int, ...] = ()
    #: The name the subject gives, or None when it is obfuscated (the yEnc ``name=`` decides later).
    subject_name: str | None = None

    @property
    def bytes(self) -> int:
        return sum(segment.bytes for segment in self.segments)

    @property
    def is_par2(self) -> bool:
        return bool(self.subject_name and self.subject_name.lower().endswith(".par2"))

    @property
    def is_par2_recovery(self) -> bool:
        """A ``.volNN+MM.par2`` file: only needed when something has to be repaired."""
        return bool(self.subject_name and _PAR2_RECOVERY.search(self.subject_name))

    @property
    def rar_volume(self) -> int | None:
        """0 for the first volume of a RAR set (``x.part01.rar`` or ``x.rar``), 1 for the next…"""
        return volume_number(self.subject_name or "")


@dataclass(frozen=True)
class Nzb:
    files: tuple[NzbFile, ...]
    meta: dict[str, list[str]] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(file.bytes for file in self.files)

    @property
    def password(self) -> str | None:
        values = self.meta.get("password")
        return values[0] if values else None


def parse_nzb(data: bytes, *, max_bytes: int = MAX_NZB_BYTES) -> Nzb:
    """An NZB from its bytes (plain or gzipped); NzbError says why one is refused."""
    xml = _unwrap(data, max_bytes)
    try:
        root: Element = SafeET.fromstring(
            xml, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException:
        raise NzbError(
            "the NZB declares XML entities, which NZBs never need (a possible XML bomb); refused"
        ) from None
    except ParseError as exc:
        raise NzbError(f"the NZB is not valid XML ({exc})") from None
    tag = _local(root.tag)
    if tag == "error":
        reason = root.get("description") or root.get("code") or "unknown error"
        raise NzbError(f"the indexer sent an error instead of an NZB: {reason}")
    if tag != "nzb":
        raise NzbError(f"the document is not an NZB (its root element is <{tag}>)")
    meta: dict[str, list[str]] = {}
    files: list[NzbFile] = []
    segment_count = 0
    for child in root:
        name = _local(child.tag)
        if name == "head":
            for item in child:
                kind = item.get("type")
                if _local(item.tag) == "meta" and kind and item.text and item.text.strip():
                    meta.setdefault(kind.strip().lower(), []).append(item.text.strip())
        elif name == "file":
            parsed = _file(child, len(files))
            if parsed is not None:
                segment_count += len(parsed.segments)
                if segment_count > MAX_SEGMENTS:
                    raise NzbError(f"the NZB lists more than {MAX_SEGMENTS:,} articles; refused")
                files.append(parsed)
    if not files:
        raise NzbError("the NZB lists no file with downloadable articles")
    return Nzb(tuple(files), meta)


class NzbSource(Protocol):
    """Where NZBs come from: the indexer (``chalicelib.adapters.newznab.NewznabClient``)."""

    def nzb(self, release_id: str, *, max_bytes: int) -> bytes: ...


def fetch_nzb(source: NzbSource, release_id: str, *, max_bytes: int = MAX_NZB_BYTES) -> Nzb:
    """The parsed NZB of ``release_id``. ``NzbError`` when this release's NZB is gone or unusable
    (the next candidate may do), ``IndexerError`` when the indexer itself fails."""
    try:
        data = source.nzb(release_id, max_bytes=max_bytes)
    except NzbUnavailable as error:
        raise NzbError(error.message) from None
    except IndexerFailure as error:
        raise IndexerError(error.message) from None
    try:
        return parse_nzb(data, max_bytes=max_bytes)
    except NzbError as exc:
        raise NzbError(f"release {release_id}: {exc}") from None


def filename_from_subject(subject: str) -> str | None:
    """The file name a poster put in a subject, or None when the subject gives none.

    Tried in order: a quoted name (``"movie.mkv" yEnc (1/52)``), a bracketed name with an extension
    (``[PRiVATE]-[x]-[movie.mkv]-[1/2]``), then the text before ``yEnc`` if it ends in an extension.
    """
    quoted = _QUOTED.search(subject)
    if quoted:
        name = quoted.group(1).strip().strip('"').strip()
        if name:
            return _basename(name)
    bracketed = _BRACKETED.findall(subject)
    if bracketed:
        return _basename(bracketed[-1].strip())
    text = _YENC_TAIL.sub("", subject)
    text = _PART_COUNTER.sub(" ", text).strip()
    text = re.sub(r"^\s*-\s*|\s*-\s*$", "", text)
    if text and _EXTENSION.search(text):
        return _basename(text)
    return None


def _unwrap(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise NzbError(f"the NZB is larger than {max_bytes // (1024 * 1024)} MiB; refused")
    if data.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(data, max_bytes + 1)
        except zlib.error:
            raise NzbError("the NZB is gzipped but the data is damaged") from None
        if not inflater.eof and not inflater.unconsumed_tail:
            raise NzbError("the NZB is gzipped but the data is damaged (cut short)")
        if len(data) > max_bytes or inflater.unconsumed_tail:
            raise NzbError(
                f"the NZB unpacks to more than {max_bytes // (1024 * 1024)} MiB; refused"
            )
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        raise NzbError("the NZB is empty")
    return data


def _file(element: Element, index: int) -> NzbFile | None:
    groups = tuple(
        (group.text or "").strip()
        for holder in element
        if _local(holder.tag) == "groups"
        for group in holder
        if _local(group.tag) == "group" and (group.text or "").strip()
    )
    by_number: dict[int, Segment] = {}
    for holder in element:
        if _local(holder.tag) != "segments":
            continue
        for item in holder:
            segment = _segment(item)
            if segment is not None and segment.number not in by_number:
                by_number[segment.number] = segment
    if not by_number:
        return None
    numbers = sorted(by_number)
    missing = tuple(sorted(set(range(1, numbers[-1] + 1)) - set(numbers)))
    subject = element.get("subject", "")
    try:
        date = int(element.get("date", "0"))
    except ValueError:
        date = 0
    return NzbFile(
        index=index,
        subject=subject,
        poster=element.get("poster", ""),
        date=date,
        groups=groups,
        segments=tuple(by_number[number] for number in numbers),
        missing_numbers=missing,
        subject_name=filename_from_subject(subject),
    )


def _segment(item: Element) -> Segment | None:
    if _local(item.tag) != "segment":
        return None
    message_id = (item.text or "").strip().removeprefix("<").removesuffix(">")
    if not _MESSAGE_ID.fullmatch(message_id) or "<" in message_id or ">" in message_id:
        return None
    try:
        number = int(item.get("number", ""))
    except ValueError:
        return None
    if number < 1 or number > MAX_SEGMENTS:
        return None
    try:
        size = max(0, int(item.get("bytes", "0")))
    except ValueError:
        size = 0
    return Segment(number, size, message_id)


def _local(tag: str) -> str:
    """A tag without its namespace: NZBs come with the 1.1 namespace, an old one or none."""
    return tag.rsplit("}", 1)[-1].lower()


def _basename(name: str) -> str:
    """Only the last path component: a subject is not allowed to choose our directory."""
    return re.split(r"[\\/]", name)[-1].strip() or name.strip()
