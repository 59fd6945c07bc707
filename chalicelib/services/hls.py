"""Watch while it downloads: the HLS playlist route and the signed links the stream answer gives.

The downloader publishes the segments and the playlist under ``movies/{job_id}/hls/`` as they are
made (``downloader/streaming/hls.py``); the bucket is private, so a player gets the playlist from
this API with each name replaced by a presigned URL. The playlist's own URL carries an expiry and
an HMAC over the job and that expiry (``domain/hls.py``): players fetch it without headers, and an
EVENT playlist is fetched again every few seconds while it grows, so serving it costs one R2 GET
and no job-store request at all (a failed or cleaned-up job has no playlist object any more).
Handing out the link costs no request either: at ``ready`` the job itself says whether the HLS
covers the whole movie (``domain/hls.py`` ``recorded_complete``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from urllib.parse import urlencode

from chalicelib.adapters.objects import ObjectStore
from chalicelib.domain.hls import PLAYLIST, recorded_complete, sign_playlist, signature_ok
from chalicelib.domain.hls import playlist_signature as signature
from chalicelib.domain.jobs import Job, JobStatus, decode_media, hls_object_prefix
from chalicelib.errors import NotFound, StorageError, Unauthorized

#: A viewer may start the HLS while the movie downloads or prepares, and keep it once it is ready.
HLS_STATUSES = (JobStatus.DOWNLOADING, JobStatus.PREPARING, JobStatus.READY)


def playlist_key(secret: str) -> bytes:
    """The HMAC key of playlist URLs, derived from a credential the API already holds (R2's
    secret), so no new secret is needed and rotating that one invalidates old links."""
    return hashlib.sha256(b"movies-on-demand hls playlist\0" + secret.encode()).digest()


class HlsLinks:
    def __init__(
        self,
        objects: ObjectStore,
        key: Callable[[], bytes],
        *,
        url_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._objects, self._key = objects, key
        self._url_seconds, self._clock = url_seconds, clock

    def url(self, job: Job, api_root: str) -> str | None:
        """The signed playlist URL under ``api_root`` (the API's root URL) for a job that has
        published segments, else None; at ``ready`` only if the downloader recorded that they cover
        the whole movie (an HLS stopped midway by a gap is left out: the MP4 has it all)."""
        if job.playable_at is None or job.status not in HLS_STATUSES:
            return None
        if job.status is JobStatus.READY and not recorded_complete(decode_media(job.media)):
            return None
        expires = int(self._clock()) + self._url_seconds
        query = urlencode(
            {"expires": expires, "signature": signature(self._key(), job.job_id, expires)}
        )
        return f"{api_root}/jobs/{job.job_id}/hls.m3u8?{query}"

    def playlist(self, job_id: str, expires: int, given: str) -> str:
        """The job's playlist with every name presigned until the link itself expires."""
        now = self._clock()
        if not signature_ok(self._key(), job_id, expires, given, now):
            raise Unauthorized(
                "this playlist link is invalid or has expired; "
                "GET /movies/{id}/stream gives a new one"
            )
        prefix = hls_object_prefix(job_id)
        text = self._objects.get(prefix + PLAYLIST)
        if text is None:
            raise NotFound(f"job {job_id} has no HLS stream (not published yet, or removed)")
        seconds = max(60, int(expires - now))
        try:
            return sign_playlist(
                text.decode("utf-8"),
                lambda name: self._objects.presign_get(prefix + name, seconds),
            )
        except (UnicodeDecodeError, ValueError):
            raise StorageError("the stored HLS playlist is not one we wrote") from None
