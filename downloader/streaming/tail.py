"""The streaming tail: remux and upload the movie while it is still downloading, when that is safe.

Done one after the other, time to ready is download + unpack + remux + upload, about twice the
download alone (bench/README.md). Done here, the movie's verified bytes are read in order as they
arrive (``watermark.py``, ``growing_files.py``), straight out of the volumes of a stored RAR5 or
RAR4 set (``movie_bytes.py``) or from a plain video file, and piped into ffmpeg, which remuxes to MP4 with the
index reserved at the front (``-moov_size``) instead of moved there at the end (``+faststart``), so
every byte past the index is final once written and is uploaded while the download goes on
(``growing_upload.py``).

It is a fast path with a way out at every step. Streaming is only attempted for a Matroska movie
that the ordinary path would remux, alone in a stored, unencrypted RAR5 or RAR4 set (or posted as a
plain file), found from each file's first bytes whatever the release calls its files (``plan.py``);
the engine is then told to fetch the movie's volumes in order, so the bytes the tail waits for come
first. It is abandoned — ffmpeg killed, the multipart upload aborted, its files removed — the
moment anything is off: a header that does not continue the set, a CRC that does not match, ffmpeg
failing or finding its reserved index space too small, a repair that changed bytes already streamed
(``resume.py``). The pipeline then runs the sequential path as before. At a missing or damaged
article the reader waits for par2's repair and reads on from the repaired file. The upload is only
completed after the pipeline has verified (QuickCheck) or repaired the download.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chalicelib.logs import logger
from downloader.post import subtitles
from downloader.post.ffmpeg import ON_PATH, FFmpeg, MediaError, last_line
from downloader.post.remux import parse_probe, plan, remux_arguments
from downloader.post.sniff import Kind, sniff_bytes
from downloader.post.subtitles import Subtitle
from downloader.streaming import NotStreamable, PasswordProtected, WrongBytes
from downloader.streaming.growing_files import GrowingFiles
from downloader.streaming.growing_upload import GrowingUpload, check_layout
from downloader.streaming.hls import HlsPublisher, hls_arguments
from downloader.streaming.movie_bytes import movie_bytes
from downloader.streaming.plan import Head, Source, moov_estimate, plan_source
from downloader.streaming.watermark import StreamCancelled, Watermarks
from downloader.uploader import MIB, Uploaded, Uploader, part_size_for
from downloader.usenet.nzb import Nzb


@dataclass(frozen=True)
class StreamOptions:
    tools: FFmpeg = ON_PATH
    #: Smaller than the sequential upload's parts: the parts left for the end are what remains
    #: on the critical path.
    part_size: int = 8 * MIB
    #: The start of the movie ffprobe reads to plan the remux (Matroska keeps its tracks and
    #: duration at the front).
    probe_bytes: int = 4 * MIB
    #: Told ``streamed`` or why the tail was not used or was abandoned (logs, tests, benchmark).
    on_outcome: Callable[[str], None] | None = None
    #: Target length of an HLS segment (ffmpeg cuts at the next keyframe after it).
    hls_segment_seconds: float = 4.0


class StreamedTail:
    """One job's tail: ``begin`` as the download starts, ``finish`` once verified, or ``abort``."""

    def __init__(
        self,
        nzb: Nzb,
        watch: Watermarks,
        uploader: Uploader,
        key: str,
        metadata: dict[str, str],
        folder: Path,
        options: StreamOptions,
        hls: HlsPublisher | None = None,
        *,
        original_language: str | None = None,
        subtitle_folder: Path | None = None,
        prioritise: Callable[[Sequence[int]], None] | None = None,
        on_password: Callable[[str], None] | None = None,
        on_recovery: Callable[[int], None] | None = None,
    ) -> None:
        """``hls``: also write HLS segments and publish them while the movie downloads.
        ``prioritise``: told the movie's files in order once they are known (``Engine.prioritise``);
        ``on_password``: told why when a file's head shows an encrypted archive; ``on_recovery``:
        told each file whose head shows a par2 recovery volume under a name that did not say so
        (``Engine.leave``: par2 asks for recovery data only if it needs it)."""
        self._nzb, self._watch, self._uploader = nzb, watch, uploader
        self._hls = hls
        self._key, self._metadata, self._folder, self._options = key, metadata, folder, options
        self._output = folder / "movie.mp4"
        self._reader: threading.Thread | None = None
        self._ffmpeg: subprocess.Popen[bytes] | None = None
        self._upload: GrowingUpload | None = None
        self._lock = threading.Lock()
        self._failure: str | None = None
        #: The stream stopped because bytes it had taken were not the movie's (``WrongBytes``).
        self.wrong_bytes = False
        self._closed = False
        self._started = time.monotonic()
        self.container = ""
        self._original_language = original_language
        #: What the job says about the movie's tracks, as the sequential path's ``Prepared.media``.
        self.media: dict[str, object] = {}
        #: Where the same ffmpeg run writes the text subtitles as WebVTT (outside ``folder``,
        #: which goes when the tail is done), and the subtitles with their files once finished.
        self._subtitle_folder = subtitle_folder
        self.subtitles: tuple[Subtitle, ...] = ()
        self._prioritise = prioritise
        self._on_password = on_password
        self._on_recovery = on_recovery
        self._files = GrowingFiles(watch)
        self._planned = threading.Event()

    @property
    def active(self) -> bool:
        return self._reader is not None and not self._closed

    def begin(self) -> None:
        """Start the reader: it plans from the files' first bytes as they arrive, then streams."""
        self._folder.mkdir(parents=True, exist_ok=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def wait_planned(self) -> None:
        """Return once the reader has read every file's head, so holds each file open (or has
        given up): call it before anything renames the downloaded files. Once the download has
        ended this takes no time, as every head is on disk or known to be missing."""
        if self._reader is not None:
            while not self._planned.wait(1.0) and self._reader.is_alive():
                pass

    def finish(self, beat: Callable[[], object]) -> Uploaded:
        """After the download was verified intact: end the remux, send the remaining parts and
        complete the upload. Raises ``NotStreamable`` (everything cleaned up) when the tail failed.
        What ``beat`` raises (the job was taken away) stops it too, cleaned up the same way, and
        comes out unchanged: that is no reason to fall back to the sequential path."""
        stopped: list[BaseException] = []

        def keep_alive() -> None:
            try:
                beat()
            except BaseException as exc:
                stopped.append(exc)
                raise

        self._watch.over()
        assert self._reader is not None
        try:
            while self._reader.is_alive():
                self._reader.join(1.0)
                keep_alive()
            if self._failure or self._ffmpeg is None or self._upload is None:
                raise NotStreamable(self._failure or "the stream did not start")
            while (code := self._poll_ffmpeg()) is None:
                keep_alive()
            if code != 0 or self._ffmpeg_error():  # at ``-v error`` any message is a failure
                raise NotStreamable(f"ffmpeg failed: {self._ffmpeg_error() or f'exit {code}'}")
            check_layout(self._output)
            # The HLS's last segments and its end go up beside the MP4's last parts.
            publishing = threading.Thread(target=self._finish_hls, name="hls-finish", daemon=True)
            publishing.start()
            try:
                self.subtitles = subtitles.converted(self.subtitles)
                size = self._output.stat().st_size
                parts = self._upload.finish(size)
                self._uploader.complete(self._key, self._upload.upload_id, parts, size)
            finally:
                publishing.join()
        except BaseException as exc:
            if stopped or not isinstance(exc, Exception):
                self.abort("the job stopped")
                raise
            reason = str(exc) if isinstance(exc, NotStreamable) else f"{type(exc).__name__}: {exc}"
            self.abort(reason)
            raise NotStreamable(reason) from None
        self._closed = True
        self._upload.close()
        shutil.rmtree(self._folder, ignore_errors=True)
        waited = self._files.gap_seconds  # at gaps, for par2's repair
        gap = f", {waited:.1f} s at a gap" if waited else ""
        self._outcome(f"streamed ({self._upload.early} of {len(parts)} parts early{gap})")
        return Uploaded(self._key, size, "video/mp4", len(parts), time.monotonic() - self._started)

    def _finish_hls(self) -> None:
        if self._hls is not None:
            self._hls.finish()  # never raises: a failure stops publishing and is kept in ``failed``

    def abort(self, reason: str) -> None:
        """Stop everything and leave nothing behind: no process, no open upload, no files."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._failure = self._failure or reason
        if self._reader is None:  # never started: nothing to undo or report
            return
        self._watch.cancel()
        self._kill_ffmpeg()
        if self._reader is not None:
            self._reader.join()
        if self._hls is not None:
            self._hls.stop()
        if self._upload is not None:
            self._upload.close()
            self._uploader.abort(self._key, self._upload.upload_id)
        shutil.rmtree(self._folder, ignore_errors=True)
        self._outcome(f"fallback: {reason}")

    # -- the reader thread ---------------------------------------------------------------------

    def _read(self) -> None:
        try:
            self._plan_and_stream()
        finally:
            self._planned.set()
            self._files.close()

    def _plan_and_stream(self) -> None:
        try:
            # Data files and the par2 index (which names a RAR4 set's volumes), not recovery
            # volumes named as such (obfuscated ones are told by their heads: ``_head``).
            wanted = [f for f in self._nzb.files if not f.is_par2_recovery]
            heads = [self._head(f.index, f.bytes) for f in wanted]
            self._planned.set()
            source = plan_source(heads)
        except StreamCancelled:
            return
        except NotStreamable as exc:
            self._not_attempted(str(exc))
            if isinstance(exc, PasswordProtected) and self._on_password is not None:
                self._on_password(str(exc))
            return
        except Exception as exc:  # a bug must cost the fast path, never the job
            logger.exception("streaming tail crashed while planning")
            self._not_attempted(f"internal error ({type(exc).__name__})")
            return
        if self._prioritise is not None:
            self._prioritise(source.files)
        self._stream(source)

    def _head(self, index: int, size: int) -> Head:
        head = self._files.head(index, missing_size=size)
        if self._on_recovery is not None and not head.missing:
            sniffed = sniff_bytes(head.data)
            if sniffed.kind is Kind.PAR2 and sniffed.recovery:
                self._on_recovery(index)
        return head

    def _not_attempted(self, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._failure = reason
        shutil.rmtree(self._folder, ignore_errors=True)
        self._outcome(f"not attempted: {reason}")

    def _stream(self, source: Source) -> None:
        try:
            head = bytearray()
            for chunk in movie_bytes(self._files, self._watch, source):
                if self._ffmpeg is None:
                    head += chunk
                    if len(head) >= self._options.probe_bytes:
                        self._start(bytes(head))
                else:
                    self._feed(chunk)
            if self._ffmpeg is None:
                self._start(bytes(head))
            assert self._ffmpeg is not None
            assert self._ffmpeg.stdin is not None
            self._ffmpeg.stdin.close()
        except StreamCancelled:
            pass
        except (NotStreamable, MediaError, OSError, ValueError) as exc:
            self.wrong_bytes = isinstance(exc, WrongBytes)
            self._fail(str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug must cost the fast path, never the job
            logger.exception("streaming tail crashed")
            self._fail(f"internal error ({type(exc).__name__})")

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._failure = self._failure or reason
        self._kill_ffmpeg()

    # -- ffmpeg --------------------------------------------------------------------------------

    def _start(self, head: bytes) -> None:
        """Plan the remux from the movie's first bytes, open the upload and start ffmpeg."""
        sample = self._folder / "head.mkv"
        sample.write_bytes(head)
        data = self._options.tools.probe(sample)
        sample.unlink()
        found = parse_probe(data)
        chosen = plan(found, self._original_language)
        if "matroska" not in found.container or chosen.action != "remux":
            raise NotStreamable("the movie is not a Matroska file to remux")
        reserved = moov_estimate(data)
        self.container = found.container
        self.media = {"audio": chosen.audio}
        part_size = part_size_for(2 * self._nzb.bytes, self._options.part_size)
        upload_id = self._uploader.begin(
            self._key,
            content_type="video/mp4",
            metadata={**self._metadata, "original-container": found.container[:200]},
        )
        self._upload = GrowingUpload(
            self._uploader,
            self._key,
            upload_id,
            self._output,
            part_size=part_size,
            reserved=reserved,
            workers=self._uploader.workers,
        )
        arguments = ["-f", "matroska", "-i", "pipe:0", *remux_arguments(found, chosen)]
        arguments += ["-moov_size", str(reserved), "-f", "mp4", str(self._output)]
        if self._hls is not None:
            self._hls.folder.mkdir(parents=True, exist_ok=True)
            arguments += remux_arguments(found, chosen)
            arguments += hls_arguments(self._hls.folder, self._options.hls_segment_seconds)
        if self._subtitle_folder is not None:
            self._subtitle_folder.mkdir(parents=True, exist_ok=True)
            extra, self.subtitles = subtitles.output_arguments(
                found.subtitles, self._subtitle_folder
            )
            arguments += extra
        with self._lock:
            if self._closed or self._failure:
                raise StreamCancelled
            self._ffmpeg = self._options.tools.start(arguments, self._folder / "ffmpeg.log")
        self._upload.start()
        if self._hls is not None:
            self._hls.start()
        self._feed(head)

    def _feed(self, chunk: bytes) -> None:
        assert self._ffmpeg is not None
        assert self._ffmpeg.stdin is not None
        try:
            self._ffmpeg.stdin.write(chunk)
        except BrokenPipeError:
            raise NotStreamable(
                f"ffmpeg stopped reading: {self._ffmpeg_error() or 'no message'}"
            ) from None

    def _poll_ffmpeg(self) -> int | None:
        assert self._ffmpeg is not None
        try:
            return self._ffmpeg.wait(1.0)
        except subprocess.TimeoutExpired:
            return None

    def _ffmpeg_error(self) -> str:
        try:
            return last_line((self._folder / "ffmpeg.log").read_text(errors="replace"))
        except OSError:
            return ""

    def _kill_ffmpeg(self) -> None:
        with self._lock:
            process = self._ffmpeg
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def _outcome(self, outcome: str) -> None:
        logger.info("streaming tail", extra={"outcome": outcome})
        if self._options.on_outcome is not None:
            self._options.on_outcome(outcome)
