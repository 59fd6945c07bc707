"""Reading a release's files while they download: only bytes that are final, each file held open.

The engine writes parts wherever they arrive; ``Watermarks`` says how far each file is final. The
streaming tail reads through this: ``range`` yields a file's bytes as soon as they are final,
``head`` its first bytes (enough to tell what it is; for a RAR5 volume all of its headers), and
``slice`` a stored volume's piece of the movie. Each file is opened once and kept open until
``close``: the engine and then verification rename obfuscated files (to their yEnc names, then the
names par2 knows) while the tail is still reading them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from downloader.streaming import NotStreamable
from downloader.streaming.plan import Head
from downloader.streaming.rar5_slices import SIGNATURE, NeedMore, Slice, read_slice
from downloader.streaming.watermark import Watermarks

CHUNK = 1024 * 1024
HEAD_BYTES = 64 * 1024


class GrowingFiles:
    """The download's files as the reader thread sees them (one thread: no lock)."""

    def __init__(self, watch: Watermarks) -> None:
        self._watch = watch
        #: The first bytes of each file, read once to plan and again for each volume's slice.
        self._heads: dict[int, Head] = {}
        self._descriptors: dict[int, int] = {}

    def close(self) -> None:
        for descriptor in self._descriptors.values():
            os.close(descriptor)
        self._descriptors.clear()

    def slice(self, index: int) -> tuple[Slice, int]:
        """The volume's slice, from its headers."""
        head = self.head(index)
        try:
            return read_slice(head.data), head.size
        except NeedMore:
            raise NotStreamable("a volume ends inside its headers") from None

    def head(self, index: int) -> Head:
        """The file's first bytes once they are final: enough to sniff, and for a RAR5 volume all
        of its headers (more is read while they continue past what was read)."""
        if index in self._heads:
            return self._heads[index]
        wanted = HEAD_BYTES
        state = self._watch.wait(index, 0)
        while True:
            if state.size is None:
                if state.done:
                    raise NotStreamable("a file of the release did not arrive")
                state = self._watch.wait(index, 0)
                continue
            size = state.size
            wanted = min(wanted, size)
            if state.mark < wanted:  # planning never waits for a repair: it would wait forever
                if state.done:
                    raise NotStreamable("the first article of a file is missing or damaged")
                state = self._watch.wait(index, wanted - 1)
                continue
            data = b"".join(self.range(index, 0, wanted))
            if data.startswith(SIGNATURE) and wanted < size:
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
        """Bytes ``[offset, offset + length)`` of the file, each as soon as it is final."""
        position, end = offset, offset + length
        while position < end:
            state = self._watch.wait(index, position)
            if state.mark <= position:
                if state.done:
                    raise NotStreamable("an article is missing or damaged; par2 must repair")
                continue
            upto = min(end, state.mark, position + CHUNK)
            data = os.pread(self._open(index), upto - position, position)
            if len(data) != upto - position:
                raise NotStreamable("a downloaded file is shorter than its articles")
            position = upto
            yield data

    def _open(self, index: int) -> int:
        """The file's descriptor, opened once (its head is read while it downloads) and kept, so
        renames do not matter. The engine may be renaming it right now, so look again briefly."""
        if index in self._descriptors:
            return self._descriptors[index]
        for _ in range(100):
            path = self._watch.wait(index, -1, timeout=0).path
            try:
                if path is not None:
                    self._descriptors[index] = os.open(path, os.O_RDONLY)
                    return self._descriptors[index]
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise NotStreamable("a downloaded file disappeared")
