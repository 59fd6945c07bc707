"""HLS while downloading: the segments ffmpeg finishes go up at once, then the playlist naming them.

The streaming tail's ffmpeg writes a second output beside the MP4: fMP4 HLS segments of a few
seconds (``-c copy``, the same streams and audio as the MP4) and an ``EVENT`` playlist, both through
temporary names renamed when complete (``temp_file``), so a segment named in the playlist on disk is
whole. The publisher follows that playlist: every file it names that is not up yet is uploaded under
``movies/{job_id}/hls/``, and only then the playlist itself, so a player never sees a name before
its bytes. The segments come from the tail's bytes, which are the posted bytes (each article's yEnc
CRC checked) read strictly in order up to the first gap: where an article is missing the tail waits,
and so does publishing — what is up stays correct — until par2 has repaired the file and the tail
reads on from the repaired bytes (``resume.py``, which also checks that the bytes already streamed
are the repaired file's; if not, the pipeline removes what was published). ffmpeg ends the playlist
(``#EXT-X-ENDLIST``) when the movie is complete; ``finish`` publishes that last state, and
``complete`` says whether the published playlist has that end (the job records it at ready, so the
API never has to look).

HLS is an extra: a failed upload stops publishing (logged) and never fails the job or delays it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from chalicelib.domain.hls import (
    INIT,
    PLAYLIST,
    PLAYLIST_TYPE,
    is_complete,
    playlist_files,
    segment_count,
)
from chalicelib.errors import StorageFailure
from chalicelib.logs import logger

Put = Callable[[str, bytes, str, str], None]


def hls_arguments(folder: Path, segment_seconds: float) -> list[str]:
    """ffmpeg's options for the HLS output (after the stream maps and codecs)."""
    return [
        "-f",
        "hls",
        "-hls_time",
        f"{segment_seconds:g}",
        "-hls_segment_type",
        "fmp4",
        "-hls_playlist_type",
        "event",
        "-hls_flags",
        "temp_file+independent_segments",
        "-hls_fmp4_init_filename",
        INIT,
        "-hls_segment_filename",
        str(folder / "seg%05d.m4s"),
        str(folder / PLAYLIST),
    ]


class HlsPublisher:
    """Uploads one job's HLS output as ffmpeg writes it; ``on_playable`` once segments are up
    (called again after later publishes until it returns True: the job store may be away)."""

    def __init__(
        self,
        folder: Path,
        prefix: str,
        put: Put,
        *,
        on_playable: Callable[[], bool] = lambda: True,
        interval: float = 0.5,
    ) -> None:
        self.folder, self._prefix, self._put = folder, prefix, put
        self._on_playable, self._interval = on_playable, interval
        self._sent: set[str] = set()
        self._playlist = ""
        self._announced = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failed: str | None = None

    @property
    def segments(self) -> int:
        """Segments named in the published playlist."""
        return segment_count(self._playlist)

    @property
    def complete(self) -> bool:
        """The published playlist ends (``#EXT-X-ENDLIST``): it names the whole movie. False when
        publishing stopped at a gap, at a failed upload or with the tail abandoned."""
        with self._lock:
            return is_complete(self._playlist)

    def start(self) -> None:
        """Follow ``folder`` (ffmpeg's HLS output, created by whoever starts ffmpeg)."""
        self._thread = threading.Thread(target=self._loop, name="hls-publisher", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """ffmpeg has exited cleanly: publish the final playlist (with its end) and stop."""
        self.stop()
        self._publish()

    def stop(self) -> None:
        """Publish nothing more (the tail was abandoned: what is up stays valid)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._publish()

    def _publish(self) -> None:
        with self._lock:
            if self.failed is not None:
                return
            try:
                text = (self.folder / PLAYLIST).read_text(encoding="utf-8")
            except FileNotFoundError:
                return
            if text == self._playlist:
                return
            try:
                for name in playlist_files(text):
                    if name not in self._sent:
                        kind = "video/mp4" if name == INIT else "video/iso.segment"
                        body = (self.folder / name).read_bytes()
                        self._send(name, body, kind, "public, max-age=31536000, immutable")
                        self._sent.add(name)
                self._send(PLAYLIST, text.encode(), PLAYLIST_TYPE, "no-cache")
            except (StorageFailure, OSError, ValueError) as exc:
                self.failed = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                logger.warning("HLS publishing stopped", extra={"error": self.failed})
                return
            self._playlist = text
        if self.segments and not self._announced:
            self._announced = self._on_playable()

    def _send(self, name: str, body: bytes, content_type: str, cache_control: str) -> None:
        self._put(self._prefix + name, body, content_type, cache_control)
