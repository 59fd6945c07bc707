"""Reading a release's files while they download: only bytes that are final, each file held open.

The engine writes parts wherever they arrive; ``Watermarks`` says how far each file is final. The
streaming tail reads through this: ``range`` yields a file's bytes as soon as they are final,
``head`` its first bytes (enough to tell what it is; for a RAR5 volume all of its headers), and
``slice`` a stored volume's piece of the movie. Each file is opened once and kept open until
``close``: the engine and then verification rename obfuscated files (to their yEnc names, then the
names par2 knows) while the tail is still reading them. A repaired file (par2 writes a new one) comes
with a new watermark ``version`` and is opened anew.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from downloader.streaming import NotStreamable
from downloader.streaming.plan import Head
from downloader.streaming.rar5_slices import NeedMore, Slice
from downloader.streaming.slices import SIGNATURES, read_slice
from downloader.streaming.watermark import Watermarks

CHUNK = 1024 * 1024
HEAD_BYTES = 64 * 1024


class GrowingFiles:
    """The download's files as the reader thread sees them (one thread: no lock)."""

    def __init__(self, watch: Watermarks) -> None:
        self._watch = watch
        #: The first bytes of each file, read once to plan and again for each volume's slice.
        self._heads: dict[int, Head] = {}
        #: index → (the watermark's version when opened, descriptor).
        self._descriptors: dict[int, tuple[int, int]] = {}
        #: How long reads waited at gaps for par2's repair (logs, tests).
        self.gap_seconds = 0.0

    def close(self) -> None:
        for _version, descriptor in self._descriptors.values():
            os.close(descriptor)
        self._descriptors.clear()

    def slice(self, index: int) -> tuple[Slice, int]:
        """The volume's slice, from its headers."""
        head = self.head(index)
        try:
            return read_slice(head.data), head.size
        except NeedMore:
            raise NotStreamable("a volume ends inside its headers") from None

    def head(self, index: int, missing_size: int | None = None) -> Head:
        """The file's first bytes once they are final: enough to sniff, and for a RAR5 volume all
        of its headers (more is read while they continue past what was read; RAR5 or RAR4).

        Planning passes ``missing_size`` (the NZB's size for the file): planning never waits for
        a repair (par2 runs only once the download is over, so it would wait forever), so a file
        that settled without its first bytes comes back as a missing ``Head`` of that size. The
        reader passes nothing when it reaches the volume, and waits for the repaired file."""
        if index in self._heads:
            return self._heads[index]
        wanted = HEAD_BYTES
        state = self._watch.wait(index, 0)
        while True:
            if state.size is None:
                if state.done and missing_size is not None:
                    return Head(index, b"", missing_size)
                if state.over:
                    raise NotStreamable("a file of the release did not arrive")
                state = self._watch.wait(index, 0)
                continue
            size = state.size
            wanted = min(wanted, size)
            if state.mark < wanted:
                if state.done and missing_size is not None:
                    return Head(index, b"", missing_size)
                if not state.done:
                    state = self._watch.wait(index, wanted - 1)
                    continue
                # the reader: ``range`` waits for the repaired file, or says it never came
            data = b"".join(self.range(index, 0, wanted))
            if data.startswith(SIGNATURES) and wanted < size:
                try:
                    read_slice(data)
                except NeedMore:
                    wanted *= 4
                    continue
                except NotStreamable:
                    pass  # plan_source says why, when it matters
            self._heads[index] = Head(index, data, size)
            return self._heads[index]

    def range(self, index: int, offset: int, length: int) -> Iterator[bytes]:
        """Bytes ``[offset, offset + length)`` of the file, each as soon as it is final. At a gap
        it waits for the repaired file (``Watermarks.final``) and reads on from that one."""
        position, end = offset, offset + length
        gap = 0.0
        while position < end:
            state = self._watch.wait(index, position)
            if state.mark <= position:
                if state.complete:
                    raise NotStreamable("a downloaded file is shorter than its headers say")
                if state.over:
                    raise NotStreamable("an article is missing or damaged and was not repaired")
                gap = gap or (time.monotonic() if state.done else 0.0)
                continue
            if gap:
                self.gap_seconds += time.monotonic() - gap
                gap = 0.0
            upto = min(end, state.mark, position + CHUNK)
            data = os.pread(self._open(index, state.version), upto - position, position)
            if len(data) != upto - position:
                raise NotStreamable("a downloaded file is shorter than its articles")
            position = upto
            yield data

    def _open(self, index: int, version: int) -> int:
        """The file's descriptor, opened once (its head is read while it downloads) and kept, so
        renames do not matter; a new ``version`` (par2 wrote a repaired file) is opened anew. The
        engine may be renaming it right now, so look again briefly."""
        held = self._descriptors.get(index)
        if held is not None and held[0] == version:
            return held[1]
        for _ in range(100):
            path = self._watch.wait(index, -1, timeout=0).path
            try:
                if path is not None:
                    descriptor = os.open(path, os.O_RDONLY)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        else:
            raise NotStreamable("a downloaded file disappeared")
        if held is not None:
            os.close(held[1])
        self._descriptors[index] = (version, descriptor)
        return descriptor
