"""Uploading the finished movie to R2: multipart, parts in parallel, never left half-open.

R2 requires every part but the last to have the same size (5 MiB to 5 GiB, at most 10,000 parts), so the
part size is fixed per upload, grown only as far as needed to stay under the part limit. One retry
layer: botocore's (standard mode, 3 attempts per request: 5xx, throttling, dropped connections),
configured in ``ObjectStore``; a part that still fails has failed for good. Then the parts not yet
sent are cancelled (only those in flight finish), the multipart upload is aborted so no orphaned
upload keeps billing storage, and the failure is raised. Whatever stops an upload (a failed part,
the progress callback saying the job was taken away, SIGTERM's exit) takes that same way out, and
the callback's own exception comes out unchanged. The object's size is checked against the file
after completion. The S3 calls are ``ObjectStore``'s (``chalicelib.adapters.objects``); this module
decides their order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.adapters.objects import ObjectStore
from chalicelib.errors import StorageFailure
from chalicelib.logs import logger
from downloader.errors import UploadFailed

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIB = 1024 * 1024
MIN_PART = 5 * MIB
MAX_PARTS = 10_000
DEFAULT_PART = 32 * MIB  # x workers = the memory held in flight


def part_size_for(size: int, preferred: int = DEFAULT_PART) -> int:
    """The fixed part size: ``preferred`` unless the file would need more than 10,000 parts."""
    part = max(preferred, MIN_PART)
    while size > part * MAX_PARTS:
        part *= 2
    return part


@dataclass(frozen=True)
class Uploaded:
    key: str
    size_bytes: int
    content_type: str
    parts: int
    seconds: float


class Uploader:
    def __init__(
        self,
        objects: ObjectStore,
        *,
        part_size: int = DEFAULT_PART,
        workers: int = 4,
    ) -> None:
        self._objects = objects
        self._part_size = part_size
        self._workers = workers
        self._lock = threading.Lock()
        #: Parts sent to the store, for tests and logs (a cancelled part is never sent).
        self.parts_sent = 0

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def part_size(self) -> int:
        """The part size asked for (``part_size_for`` grows it for a file past the part limit)."""
        return self._part_size

    def upload(
        self,
        path: Path,
        key: str,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Uploaded:
        """Send ``path`` as ``key``; raises ``UploadFailed`` with nothing left open."""
        started = time.monotonic()
        size = path.stat().st_size
        part_size = part_size_for(size, self._part_size)
        count = max(1, -(-size // part_size))
        upload_id = self.begin(key, content_type=content_type, metadata=metadata)
        done = 0
        lock = threading.Lock()
        stopped = threading.Event()

        def send(number: int) -> CompletedPartTypeDef | None:
            nonlocal done
            if stopped.is_set():
                return None  # the upload is being given up: send nothing more
            try:
                offset = (number - 1) * part_size
                length = min(part_size, size - offset)
                with path.open("rb") as source:
                    source.seek(offset)
                    body = source.read(length)
                etag = self.put_part(key, upload_id, number, body)
                with lock:
                    done += length
                    if progress is not None:
                        progress(done)
            except BaseException:
                stopped.set()  # before this worker takes the next part
                raise
            return {"PartNumber": number, "ETag": etag}

        pool = ThreadPoolExecutor(max_workers=self._workers)
        try:
            futures = [pool.submit(send, number) for number in range(1, count + 1)]
            sent = [future.result() for future in futures]
        except BaseException:
            stopped.set()
            try:
                pool.shutdown(wait=True, cancel_futures=True)  # only parts in flight finish
            finally:  # even when a second signal interrupts the wait
                self.abort(key, upload_id)
            raise
        pool.shutdown()
        parts = [part for part in sent if part is not None]
        self.complete(key, upload_id, parts, size)
        return Uploaded(key, size, content_type, count, time.monotonic() - started)

    # -- the steps, for callers that produce the parts themselves (the streaming tail) ----------

    def begin(self, key: str, *, content_type: str, metadata: dict[str, str] | None = None) -> str:
        """Start a multipart upload; returns its id. The caller must ``complete`` or ``abort`` it."""
        try:
            return self._objects.begin_upload(key, content_type=content_type, metadata=metadata)
        except StorageFailure as error:
            raise UploadFailed(error.message) from None

    def complete(
        self, key: str, upload_id: str, parts: list[CompletedPartTypeDef], size: int
    ) -> None:
        """Assemble the object from ``parts`` (aborting on failure) and check it has ``size`` bytes."""
        try:
            self._objects.complete_upload(key, upload_id, parts)
        except StorageFailure as error:
            self.abort(key, upload_id)
            raise UploadFailed(error.message) from None
        try:
            stored = self._objects.head(key)
            if stored is None or stored.size_bytes != size:
                self._objects.delete(key)
                found = stored.size_bytes if stored is not None else 0
                raise UploadFailed(f"the uploaded object has {found} bytes, the file {size}")
        except StorageFailure as error:
            raise UploadFailed(error.message) from None

    def put_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Send one part; returns its ETag. botocore has already retried it when this fails, so a
        failure here is final. Sending a number again replaces the part."""
        with self._lock:
            self.parts_sent += 1
        try:
            return self._objects.send_part(key, upload_id, number, body)
        except StorageFailure as error:
            raise UploadFailed(f"part {number} failed: {error.message}") from None

    def put(self, key: str, body: bytes, content_type: str, cache_control: str) -> None:
        """One small object in one request (HLS); raises ``StorageError``."""
        self._objects.put(key, body, content_type=content_type, cache_control=cache_control)

    def remove_prefix(self, prefix: str) -> None:
        """Delete what is under ``prefix`` (a failed job's HLS segments); logs and goes on when it
        cannot: cleanup deletes the job's whole prefix later anyway."""
        try:
            self._objects.delete_prefix(prefix)
        except StorageFailure as error:
            logger.error(
                "could not delete objects", extra={"prefix": prefix, "error": error.message}
            )

    def abort(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload so no orphaned parts keep billing storage (never raises)."""
        try:
            self._objects.abort_upload(key, upload_id)
        except StorageFailure as error:  # the bucket's lifecycle rule is the backstop
            logger.error(
                "could not abort a multipart upload", extra={"key": key, "error": error.message}
            )
