"""After par2: where each downloaded file is final now, so the streaming tail reads on past a gap.

At a missing or damaged article the tail's reader waits (``watermark.py``): HLS publishing stops
there, since ffmpeg gets nothing more. Once ``ensure_intact`` has repaired the download, par2 has
written a new file for each damaged one (the damaged file set aside and removed, a whole one written
under the name par2 knows), and renames may have moved the others. ``after_repair`` finds each file
again and tells the watermarks (``final``), so the reader goes on from the repaired bytes, or says why
the tail must give up (then the pipeline takes the sequential path and removes the HLS published).

Why a check at all: the reader only ever took bytes below a file's watermark, bytes of articles with
a good yEnc CRC. That CRC is the poster's word for each article and the par2 set the poster's word
for each file; when the two disagree (a volume reposted with other bytes, a broken poster) going on
from the repaired file after bytes of the downloaded one would splice two different movies. So,
before par2 runs, ``before_repair`` takes for each file with a gap the CRC-32 of its verified prefix
``[0, watermark)`` — everything a reader can have taken from it — and ``after_repair`` accepts as its
repaired version only a file that was not there before par2 (the damaged file left as it was is
nothing par2 vouched for), of the declared size, whose same prefix has the same CRC. A file without
a gap must still be the very file the download left (same device, inode, size and modification time:
a rename keeps them, a rewrite does not); one par2 rewrote although all its articles were good, or
one that is gone, makes the tail give up. For a RAR set the tail checks the movie's RAR CRC at the
end as well.

The cost falls only on a download with gaps: the damaged files' verified prefixes are read twice
(par2 itself reads and rewrites those files), and nothing while streaming (a running hash of every
streamed byte would cost every stream a CRC pass for the rare repair). Matching by content rather
than by name also finds a file par2 gave another name (obfuscated releases).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from downloader.post.sniff import Kind, sniff
from downloader.streaming.watermark import Watermarks

CHUNK = 4 * 1024 * 1024
Identity = tuple[int, int, int, int]


@dataclass(frozen=True)
class Downloaded:
    """One file as the download left it, before par2 touched anything."""

    path: Path
    identity: Identity
    size: int | None
    mark: int
    complete: bool
    #: CRC-32 of ``[0, mark)`` for a file with a gap (0 for a complete one: not needed).
    crc: int


def before_repair(watch: Watermarks) -> dict[int, Downloaded]:
    """Every downloaded data file (par2's own files are told by their bytes and left out)."""
    found: dict[int, Downloaded] = {}
    for index, mark in watch.marks().items():
        if mark.path is None or sniff(mark.path).kind is Kind.PAR2:
            continue
        try:
            status = mark.path.stat()
        except FileNotFoundError:  # no article of it arrived: nothing was read from it
            continue
        crc = 0 if mark.complete else _crc(mark.path, mark.mark)
        found[index] = Downloaded(
            mark.path, _identity(status), mark.size, mark.mark, mark.complete, crc
        )
    return found


def after_repair(
    watch: Watermarks, downloaded: dict[int, Downloaded], files: Sequence[Path]
) -> str | None:
    """Tell ``watch`` where each file is final (``files``: what ``ensure_intact`` returned); or the
    reason the stream cannot go on, and then tell it nothing."""
    present: dict[Identity, Path] = {}
    for path in files:
        try:
            present[_identity(path.stat())] = path
        except FileNotFoundError:
            continue
    before = {was.identity for was in downloaded.values()}
    new = [path for identity, path in present.items() if identity not in before]
    finals: dict[int, tuple[Path, int]] = {}
    for index, was in downloaded.items():
        if was.complete:
            kept = present.get(was.identity)
            if kept is None or was.size is None:
                return "the repair rewrote or removed a file whose articles were all intact"
            finals[index] = (kept, was.size)
    for index, was in downloaded.items():
        if not was.complete:
            repaired = _repaired(was, [path for path in new if path not in _paths(finals)])
            if repaired is None or was.size is None:
                return "no repaired file holds the bytes already streamed"
            finals[index] = (repaired, was.size)
    for index, (path, size) in finals.items():
        watch.final(index, path, size)
    return None


def _repaired(was: Downloaded, candidates: list[Path]) -> Path | None:
    """The new file of the declared size whose prefix is the verified one (the same name first;
    of two that fit, when nothing tells them apart, neither)."""
    sized = [path for path in candidates if path.stat().st_size == was.size]
    sized.sort(key=lambda path: path.name != was.path.name)
    fitting = [path for path in sized if _crc(path, was.mark) == was.crc]
    if len(fitting) > 1 and fitting[0].name != was.path.name:
        return None
    return fitting[0] if fitting else None


def _paths(finals: dict[int, tuple[Path, int]]) -> set[Path]:
    return {path for path, _ in finals.values()}


def _identity(status: os.stat_result) -> Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _crc(path: Path, length: int) -> int:
    crc = 0
    with path.open("rb") as source:
        while length > 0 and (chunk := source.read(min(CHUNK, length))):
            crc = zlib.crc32(chunk, crc)
            length -= len(chunk)
    return crc
