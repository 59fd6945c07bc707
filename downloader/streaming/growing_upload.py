"""Uploading a file while ffmpeg is still writing it: every part past the reserved index goes early.

With ``-moov_size`` the MP4 muxer reserves the index at the front and otherwise only appends, so a
part that lies wholly beyond the reserved zone and below the file's current size will not change
again; it can be sent while the rest is being written. The parts covering the zone (the index and the
``mdat`` size are written there when ffmpeg finishes) and the last, partial part go at the end. As a
guard against any muxer that rewrites more than that, each early part's CRC32 is taken when sent and
compared with the finished file; a part that changed is sent again (same number, so it replaces the
first copy) before the upload is completed. ``GrowingUpload`` neither completes nor aborts the
upload: the streaming tail does, once the release has been verified. ``UploadWhileRemuxing`` is the
sequential path's owner of one, for a release already verified on disk, and does both itself.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.logs import logger
from downloader.streaming import NotStreamable
from downloader.streaming.plan import moov_estimate
from downloader.uploader import MAX_PARTS, Uploaded, Uploader, part_size_for

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: Beyond the reserved index: ftyp, the free atom and the mdat header, generously.
ZONE_MARGIN = 1024 * 1024
POLL_SECONDS = 0.05
_TOP_LEVEL = frozenset({b"ftyp", b"moov", b"free", b"skip", b"wide", b"mdat", b"uuid"})


class GrowingUpload:
    """Parts of ``path`` sent to an open multipart upload as the file grows; thread-safe."""

    def __init__(
        self,
        uploader: Uploader,
        key: str,
        upload_id: str,
        path: Path,
        *,
        part_size: int,
        reserved: int,
        workers: int,
    ) -> None:
        self._uploader = uploader
        self.key = key
        self.upload_id = upload_id
        self._path = path
        self.part_size = part_size
        #: The first part wholly past the zone ffmpeg rewrites when it finishes.
        self._first_early = -(-(reserved + ZONE_MARGIN) // part_size) + 1
        self._next = self._first_early
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="tail-up")
        self._sent: dict[int, Future[tuple[str, int]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="tail-follow", daemon=True)
        #: Parts sent while the file was still being written (for logs, tests and the benchmark).
        self.early = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop following the file and wait for parts in flight (for abort or before finishing)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _follow(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                size = self._path.stat().st_size
            except FileNotFoundError:
                continue
            while self._next * self.part_size <= size and self._next <= MAX_PARTS:
                self._submit(self._next)
                self._next += 1

    def _submit(self, number: int) -> None:
        self._sent[number] = self._pool.submit(self._send, number)

    def _send(self, number: int) -> tuple[str, int]:
        offset = (number - 1) * self.part_size
        with self._path.open("rb") as source:
            body = os.pread(source.fileno(), self.part_size, offset)
        etag = self._uploader.put_part(self.key, self.upload_id, number, body)
        return etag, zlib.crc32(body)

    def finish(self, size: int) -> list[CompletedPartTypeDef]:
        """Once the file is final at ``size`` bytes: send what is left, re-send any early part that
        changed after it was sent, and return the parts for CompleteMultipartUpload. Raises
        ``UploadFailed`` when a part cannot be sent, ValueError past S3's part limit."""
        self.stop()
        count = max(1, -(-size // self.part_size))
        if count > MAX_PARTS:
            raise ValueError(f"{count} parts of {self.part_size} bytes exceed S3's limit")
        early = dict(self._sent)
        self.early = len(early)
        for number in range(1, count + 1):
            if number not in self._sent:
                self._submit(number)
        # The early parts are checked while the last ones are in flight: on the critical path
        # the check costs only what it takes beyond their upload.
        changed = []
        with self._path.open("rb") as source:
            for number, future in sorted(early.items()):
                offset = (number - 1) * self.part_size
                now = zlib.crc32(os.pread(source.fileno(), self.part_size, offset))
                if now != future.result()[1]:
                    changed.append(number)
        for number in changed:  # rewritten after it was sent: the same number replaces it
            self._submit(number)
        results = {number: future.result() for number, future in sorted(self._sent.items())}
        return [{"PartNumber": n, "ETag": etag} for n, (etag, _crc) in sorted(results.items())]


class UploadWhileRemuxing:
    """The sequential path's remux and upload at once (a ``remux.Follower``).

    A release the streaming tail did not take (compressed, MP4 inside, repaired past what it
    could follow) is whole on disk before its movie is remuxed. The remux used to finish before
    the first byte was sent; with the index reserved up front, ``GrowingUpload`` sends every part
    past it while ffmpeg writes the rest, and the upload is completed once the file checks out.
    ``uploaded`` is set when it was; when the remux fails here, nothing is left open and the
    caller remuxes and uploads as before."""

    def __init__(self, uploader: Uploader, key: str, metadata: dict[str, str]) -> None:
        self._uploader, self._key, self._metadata = uploader, key, metadata
        self.uploaded: Uploaded | None = None

    @contextmanager
    def writing(self, target: Path, probed: dict[str, Any], container: str) -> Iterator[list[str]]:
        try:
            reserved = moov_estimate(probed)
        except NotStreamable:  # no duration to reserve for: the index goes in after writing
            yield ["-movflags", "+faststart"]
            return
        started = time.monotonic()
        metadata = {**self._metadata, "original-container": container[:200]}
        upload_id = self._uploader.begin(self._key, content_type="video/mp4", metadata=metadata)
        growing = GrowingUpload(
            self._uploader,
            self._key,
            upload_id,
            target,
            part_size=part_size_for(
                2 * int(probed["format"].get("size") or 0), self._uploader.part_size
            ),
            reserved=reserved,
            workers=self._uploader.workers,
        )
        growing.start()
        try:
            yield ["-moov_size", str(reserved)]
            check_layout(target)
            size = target.stat().st_size
            parts = growing.finish(size)
        except BaseException:
            growing.close()
            self._uploader.abort(self._key, upload_id)
            raise
        growing.close()
        self._uploader.complete(self._key, upload_id, parts, size)  # aborts when it fails
        seconds = time.monotonic() - started
        self.uploaded = Uploaded(self._key, size, "video/mp4", len(parts), seconds)
        logger.info(
            "movie uploaded while it was remuxed",
            extra={"parts": len(parts), "parts_early": growing.early, "seconds": round(seconds, 2)},
        )


def check_layout(path: Path) -> None:
    """Raise ValueError unless the MP4's top-level boxes tile the file with the index before the
    media data. ffmpeg 5.1 exits 0 even when the reserved index space was too small, after writing
    the index over the start of the media; this is how that (and any other surprise) is caught."""
    seen: list[bytes] = []
    size = path.stat().st_size
    with path.open("rb") as source:
        at = 0
        while at < size:
            header = os.pread(source.fileno(), 16, at)
            if len(header) < 8:
                raise ValueError("the MP4 ends inside a box header")
            length, kind = struct.unpack_from(">I4s", header)
            if length == 1 and len(header) == 16:
                (length,) = struct.unpack_from(">Q", header, 8)
            if kind not in _TOP_LEVEL or length < 8 or at + length > size:
                raise ValueError(f"unexpected MP4 box {kind!r} at {at}")
            seen.append(kind)
            at += length
    if seen.count(b"moov") != 1 or seen.count(b"mdat") != 1:
        raise ValueError("the MP4 lacks its index or media data")
    if seen.index(b"moov") > seen.index(b"mdat"):
        raise ValueError("the MP4 index is not at the front")
