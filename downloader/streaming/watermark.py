"""How much of each download is final: the contiguous prefix of articles that arrived intact.

The engine writes every decoded part at its offset as soon as its reply completes, in whatever order
the connections finish, so a file on disk is a patchwork until the end. The streaming tail (see
``tail.py``) wants to read the movie while it downloads, and may only read bytes that will not
change: those below the *watermark*, the end of the run of articles from offset 0 that all arrived
with a good yEnc CRC. A missing or damaged article stops the watermark until par2 has repaired the
file: the reader waits there (publishing stops at the gap, since ffmpeg gets nothing more) until the
pipeline says where the repaired file is (``final``, see ``resume.py``), the tail is aborted
(``cancel``), or the download and its repair are over without one (``over``).

The engine calls ``arrived``/``settled`` from its threads, the pipeline ``final``/``over``/``cancel``;
the reader calls ``wait``. One condition variable is enough at article granularity.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path


class StreamCancelled(Exception):
    """The reader was told to stop (the streaming tail is being aborted)."""


@dataclass
class FileMark:
    """What is known about one NZB file; a copy is handed to readers."""

    path: Path | None = None
    #: Decoded size from the yEnc headers (None until an article arrived).
    size: int | None = None
    #: End of the contiguous intact prefix.
    mark: int = 0
    #: Every article of the file has been settled (arrived, missing or damaged).
    done: bool = False
    #: Settled with every article intact.
    complete: bool = False
    #: Parts beyond the watermark: begin → end.
    pending: dict[int, int] = field(default_factory=dict)
    #: Bumped by ``final``: the file at ``path`` is the repaired one, which a descriptor opened on
    #: the downloaded file does not see (par2 writes a new file).
    version: int = 0
    #: The download and any repair are over: a file short of its end now stays so.
    over: bool = False


class Watermarks:
    """Per NZB file index, the contiguous intact prefix; thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._files: dict[int, FileMark] = {}
        self._cancelled = False
        self._over = False

    def _file(self, index: int) -> FileMark:
        return self._files.setdefault(index, FileMark())

    def opened(self, index: int, path: Path) -> None:
        """The writer chose ``path`` for the file (before any article arrives)."""
        with self._cond:
            self._file(index).path = path
            self._cond.notify_all()

    def arrived(self, index: int, begin: int, end: int, size: int) -> None:
        """Bytes ``[begin, end)`` of the file are on disk with a good CRC."""
        with self._cond:
            mark = self._file(index)
            mark.size = size
            if begin > mark.mark:
                mark.pending[begin] = max(end, mark.pending.get(begin, end))
            else:
                mark.mark = max(mark.mark, end)
            while mark.pending:  # parts that arrived early and now touch the watermark
                ready = [b for b in mark.pending if b <= mark.mark]
                if not ready:
                    break
                for begin_at in ready:
                    mark.mark = max(mark.mark, mark.pending.pop(begin_at))
            self._cond.notify_all()

    def settled(self, index: int, path: Path, *, complete: bool) -> None:
        """The engine closed the file (maybe under a better name); nothing more will arrive."""
        with self._cond:
            mark = self._file(index)
            mark.path, mark.done, mark.complete = path, True, complete
            self._cond.notify_all()

    def final(self, index: int, path: Path, size: int) -> None:
        """The file is whole at ``path`` (repaired, maybe renamed, by par2): every byte is final."""
        with self._cond:
            mark = self._file(index)
            mark.path, mark.size, mark.mark = path, size, size
            mark.done = mark.complete = True
            mark.pending.clear()
            mark.version += 1
            self._cond.notify_all()

    def marks(self) -> dict[int, FileMark]:
        """Every file's state (copies)."""
        with self._cond:
            return {index: self._copy(mark) for index, mark in self._files.items()}

    def cancel(self) -> None:
        """Wake and stop every reader (``wait`` raises ``StreamCancelled``)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def over(self) -> None:
        """The download and any repair have ended: a file not settled by now never will be, and one
        with a gap will not be repaired any more (readers waiting there stop)."""
        with self._cond:
            self._over = True
            self._cond.notify_all()

    def wait(self, index: int, beyond: int, timeout: float = 1.0) -> FileMark:
        """The file's state once its watermark passes ``beyond``, it is settled whole, the download
        and repair are ``over``, or ``timeout`` passes (callers loop; the timeout only bounds how
        long a cancelled wait can take). A file settled with a gap at ``beyond`` keeps the wait
        going: what comes next is its repaired version, or nothing."""
        with self._cond:

            def moved() -> bool:
                mark = self._files.get(index)
                if self._cancelled or self._over:
                    return True
                return mark is not None and (mark.mark > beyond or mark.complete)

            self._cond.wait_for(moved, timeout)
            if self._cancelled:
                raise StreamCancelled
            return self._copy(self._file(index))

    def _copy(self, mark: FileMark) -> FileMark:
        done = mark.done or self._over
        return FileMark(
            mark.path,
            mark.size,
            mark.mark,
            done,
            mark.complete and mark.done,
            version=mark.version,
            over=self._over,
        )
