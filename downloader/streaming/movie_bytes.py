"""The movie's bytes in order, as they become final: a plain file, or the slices of a stored RAR set.

The reader thread of the streaming tail pipes these into ffmpeg. For a RAR set each volume must
continue the previous one exactly (``check_next``), each slice must match its CRC and the whole file
the last volume's, and nothing may follow the movie. A RAR5 volume says its number in its head, so
the plan already put the volumes in order. A RAR4 volume says it only in its end block. When the
par2 index named the volumes (``Source.par2_order``) they are streamed in that order as they arrive,
and each one's end must then agree, else the tail is abandoned. Without that, the first volume is
streamed at once and each later one only once it is whole and its end has said which it is — the
guessed next volume first (the engine fetches them in that order), then the others as they
complete: a wrong guess costs waiting, never a wrong byte in the stream.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

from downloader.streaming import NotStreamable, WrongBytes
from downloader.streaming.growing_files import GrowingFiles
from downloader.streaming.plan import Source
from downloader.streaming.rar4_slices import read_end
from downloader.streaming.rar5_slices import Read, Slice, check_next, read_tail
from downloader.streaming.watermark import Watermarks


def movie_bytes(files: GrowingFiles, watch: Watermarks, source: Source) -> Iterator[bytes]:
    """Every byte of the movie once, in order (raises ``NotStreamable`` at the first doubt)."""
    if not source.rar:  # a plain file, or the pieces of one, each to its end
        for index in source.files:
            state = watch.wait(index, 0)
            while state.size is None and not state.done:
                state = watch.wait(index, 0)
            yield from files.range(index, 0, state.size or 0)
        return
    previous: Slice | None = None
    whole, total = 0, 0
    ends: dict[int, tuple[int | None, bool]] = {}  # read once per RAR4 volume

    def end_of(index: int) -> tuple[int | None, bool]:
        if index not in ends:
            ends[index] = _end(files, index)
        return ends[index]

    ordered = source.numbered or source.par2_order
    order = enumerate(source.files) if ordered else _by_their_ends(end_of, source)
    for number, index in order:
        current, volume_size = files.slice(index)
        check_next(previous, current, volume_size, number)
        crc = 0
        for chunk in files.range(index, current.data_offset, current.data_size):
            crc, whole = zlib.crc32(chunk, crc), zlib.crc32(chunk, whole)
            total += len(chunk)
            yield chunk
        previous = current
        last = number == len(source.files) - 1
        if not source.numbered and end_of(index) not in _ends(number, last, source):
            raise WrongBytes(f"volume {number + 1}'s end does not match its place in the set")
        if current.split_after:
            if current.crc is not None and crc != current.crc:
                raise WrongBytes(f"volume {number + 1}'s data does not match its CRC")
            continue
        if current.crc is not None and whole != current.crc:
            raise WrongBytes("the file does not match its CRC")
        if source.numbered:
            end = current.data_offset + current.data_size
            read_tail(_reader(files, index), end, volume_size)
        if not last or total != current.file_size:
            raise NotStreamable("the set holds more than the movie")
        return
    raise NotStreamable("the set ends before the movie does")


def _ends(number: int, last: bool, source: Source) -> tuple[tuple[int | None, bool], ...]:
    """What a RAR4 volume's end may say at this place: its number, and whether it is the last;
    an archive that is not a volume set (one file) has no number to say."""
    return ((number, last), (None, True)) if len(source.files) == 1 else ((number, last),)


def _by_their_ends(
    end_of: Callable[[int], tuple[int | None, bool]], source: Source
) -> Iterator[tuple[int, int]]:
    """(number, file) for a RAR4 set: the first volume, then each next one found by its end."""
    yield 0, source.files[0]
    waiting = list(source.files[1:])
    found: dict[int, int] = {}
    for number in range(1, len(source.files)):
        while number not in found:
            if not waiting:
                raise NotStreamable(f"no volume of the RAR set says it is volume {number + 1}")
            index = waiting.pop(0)
            said, _ = end_of(index)
            if said is None:
                raise NotStreamable("a RAR4 volume does not say its number")
            if said in found or not number <= said < len(source.files):
                raise NotStreamable(f"a volume says it is volume {said + 1}, which is taken")
            found[said] = index
        yield number, found.pop(number)


def _end(files: GrowingFiles, index: int) -> tuple[int | None, bool]:
    """What a RAR4 volume's end block says (waits until the volume is whole)."""
    current, volume_size = files.slice(index)
    end = current.data_offset + current.data_size
    if end > volume_size:
        raise NotStreamable("a volume is shorter than its header says")
    return read_end(_reader(files, index), end, volume_size)


def _reader(files: GrowingFiles, index: int) -> Read:
    """A volume's bytes at any offset, each read once it is final."""
    return lambda offset, length: b"".join(files.range(index, offset, length))
