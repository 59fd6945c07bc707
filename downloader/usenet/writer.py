"""The output files: one positional writer per NZB file, safe names, final size and name.

The decoder writes each decoded part straight to its offset (``sabctools.FileWriter``, ``pwrite``
underneath), so there are no per-article temporary files and no assembly pass; several connections
write to one file at once without a lock. A file is opened when its first article is requested and
closed when its last one is settled; then it is cut to the size the yEnc headers declare (a missing
last article would otherwise leave it short, which par2 handles worse than a hole of zeros).

Names come from the NZB subject; when that is obfuscated the yEnc ``name=`` is used instead. Both are
untrusted: only a plain base name is kept, and names are made unique within the folder.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import sabctools

from downloader.usenet.nzb import NzbFile

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
_HAS_EXTENSION = re.compile(r"\.[A-Za-z0-9]{2,4}$")
MAX_NAME = 240


def safe_filename(name: str | None) -> str | None:
    """A name that stays inside the output folder, or None if nothing usable is left."""
    if not name:
        return None
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name:
        return None
    if len(name.encode()) > MAX_NAME:
        _stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 8 else ""
        name = name.encode()[: MAX_NAME - len(keep) - 1].decode(errors="ignore") + (
            f".{keep}" if keep else ""
        )
    return name


class ArrivalWatch(Protocol):
    """Told where each file is written and which of its bytes are final as they arrive: how the
    streaming tail (``downloader.streaming.watermark``) follows a download without this package
    knowing about it."""

    def opened(self, index: int, path: Path) -> None: ...

    def arrived(self, index: int, begin: int, end: int, size: int) -> None: ...

    def settled(self, index: int, path: Path, *, complete: bool) -> None: ...


class OutputFile:
    def __init__(self, folder: Path, nzb_file: NzbFile, name: str, named_by_subject: bool) -> None:
        self.nzb_file = nzb_file
        self.path = folder / name
        self.named_by_subject = named_by_subject
        #: Decoded size from the yEnc ``size=`` header (None until an article has arrived).
        self.size: int | None = None
        self.yenc_name: str | None = None
        self._writer: sabctools.FileWriter | None = None

    def writer(self) -> sabctools.FileWriter:
        if self._writer is None:
            self._writer = sabctools.FileWriter(self.path)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class OutputFiles:
    """The files of one download in ``folder``; thread-safe. ``watch``, when given, learns each
    file's path and every intact part, so a reader can follow the files while they download."""

    def __init__(
        self, folder: Path, files: Sequence[NzbFile], watch: ArrivalWatch | None = None
    ) -> None:
        self.folder = folder
        self.watch = watch
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._taken: set[str] = {path.name for path in folder.iterdir()}
        self.files: dict[int, OutputFile] = {}
        for nzb_file in files:
            name = safe_filename(nzb_file.subject_name)
            provisional = name is None
            name = self._unique(name or f"file{nzb_file.index + 1:04d}.partial")
            self.files[nzb_file.index] = OutputFile(folder, nzb_file, name, not provisional)
            if watch is not None:
                watch.opened(nzb_file.index, folder / name)

    def writer(self, index: int) -> sabctools.FileWriter:
        with self._lock:
            return self.files[index].writer()

    def observe(self, index: int, yenc_name: str | None, file_size: int) -> bool:
        """Record what an article's yEnc header says; False if it contradicts earlier articles."""
        with self._lock:
            output = self.files[index]
            if output.size is None:
                output.size = file_size
                output.yenc_name = yenc_name
                return True
            return output.size == file_size

    def arrived(self, index: int, begin: int, end: int, size: int) -> None:
        """A part ``[begin, end)`` is written and its CRC was good."""
        if self.watch is not None:
            self.watch.arrived(index, begin, end, size)

    def finish(self, index: int) -> OutputFile:
        """Close the file, cut it to its declared size and give it its final name."""
        with self._lock:
            output = self.files[index]
            output.close()
            if not output.path.exists():
                return output
            if output.size is not None and output.path.stat().st_size != output.size:
                os.truncate(output.path, output.size)
            better = safe_filename(output.yenc_name)
            if better and _prefer_yenc(output, better):
                self._taken.discard(output.path.name)
                target = output.path.with_name(self._unique(better))
                output.path.rename(target)
                output.path = target
            return output

    def close_all(self) -> None:
        with self._lock:
            for output in self.files.values():
                output.close()

    def _unique(self, name: str) -> str:
        candidate, number = name, 1
        stem, dot, ext = name.rpartition(".")
        while candidate in self._taken:
            number += 1
            candidate = f"{stem} ({number}).{ext}" if dot and stem else f"{name} ({number})"
        self._taken.add(candidate)
        return candidate


def _prefer_yenc(output: OutputFile, yenc_name: str) -> bool:
    """Use the yEnc name when the subject gave none, or gave one without an extension."""
    if yenc_name == output.path.name:
        return False
    if not output.named_by_subject:
        return True
    return not _HAS_EXTENSION.search(output.path.name) and bool(_HAS_EXTENSION.search(yenc_name))
