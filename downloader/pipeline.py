"""One job, end to end: choose a release, download, verify/repair, unpack, remux, upload, ready.

Every failure a person could meet ends in ``JobFailed`` with a message for them and a class for the
figures; the caller writes it to the job. The working folder is removed on success and failure alike.
Recovery volumes are not downloaded up front: par2 says how many blocks it lacks and only that many
are fetched (an obfuscated one is told by its first article, and the rest of it left). A
password-protected release fails in seconds, not after the whole download: the streaming tail
sees the encryption in the files' first articles (fetched first), and without a tail a RAR set's
first volume is fetched and opened before the rest.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.domain.dispatch import JobMessage
from chalicelib.domain.jobs import (
    ErrorClass,
    SkippedRelease,
    hls_object_prefix,
    movie_object_key,
    subtitle_object_key,
)
from chalicelib.logs import logger
from chalicelib.metrics import record_job_event
from downloader.errors import (
    DownloadError,
    IndexerError,
    JobFailed,
    NntpAuthError,
    NzbError,
    UploadFailed,
)
from downloader.post import subtitles
from downloader.post.ffmpeg import MediaError
from downloader.post.par2 import RepairError
from downloader.post.remux import prepare
from downloader.post.subtitles import Subtitle
from downloader.post.unpack import UnpackError, main_video, unpack_release
from downloader.reporter import JobReporter, JobTakenAway
from downloader.streaming import NotStreamable
from downloader.streaming.growing_upload import UploadWhileRemuxing
from downloader.streaming.hls import HlsPublisher
from downloader.streaming.resume import Downloaded, after_repair, before_repair
from downloader.streaming.tail import StreamedTail, StreamOptions
from downloader.streaming.watermark import Watermarks
from downloader.uploader import Uploaded, Uploader
from downloader.usenet.availability import probe
from downloader.usenet.engine import DownloadResult, Engine, EngineOptions
from downloader.usenet.nzb import Nzb
from downloader.usenet.progress import Progress, ReleaseProgress
from downloader.usenet.servers import ServerConfig
from downloader.verification import ensure_intact, refuse_passwords

#: Download + unpacked copy + remuxed copy must fit on the task's disk.
DISK_FACTOR = 2.5


@dataclass
class TaskContext:
    uploader: Uploader
    servers: Sequence[ServerConfig]
    #: release id → the parsed NZB (from the indexer in production).
    get_nzb: Callable[[str], Nzb]
    work_root: Path
    retention_hours: int
    max_release_bytes: int
    engine_options: EngineOptions = field(default_factory=EngineOptions)
    #: Remux and upload while downloading when the release allows it (``downloader.streaming``); None
    #: always takes the sequential path.
    streaming: StreamOptions | None = field(default_factory=StreamOptions)


def run(message: JobMessage, context: TaskContext, reporter: JobReporter) -> None:
    """Process the job; raises ``JobFailed`` (or ``JobTakenAway``) when it cannot finish."""
    context.work_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{message.job_id}-", dir=context.work_root))
    tail: StreamedTail | None = None
    hls: HlsPublisher | None = None
    passwords: list[str] = []
    ready = False
    try:
        nzb = _choose_release(message, context, reporter)
        downloads = workdir / "download"

        def on_progress(progress: Progress) -> None:
            reporter.progress(
                progress.done_bytes, progress.total_bytes, progress.speed_bps, progress.eta_seconds
            )

        wanted_bytes = sum(f.bytes for f in nzb.files if not f.is_par2_recovery)
        release_progress = ReleaseProgress(wanted_bytes, on_progress)

        def on_upload(_done: int) -> None:
            reporter.beat()

        engine = Engine(context.servers, context.engine_options, on_progress=release_progress)
        reporter.track_servers(engine.server_figures)
        watch = Watermarks()
        movie_key = movie_object_key(message.job_id, ".mp4")
        metadata = {"movie-id": str(message.movie_id)}  # the object's, on every path
        if context.streaming is not None:
            hls = HlsPublisher(
                workdir / "stream" / "hls",
                hls_object_prefix(message.job_id),
                context.uploader.put,
                on_playable=reporter.playable,
            )
            tail = StreamedTail(
                nzb,
                watch,
                context.uploader,
                movie_key,
                metadata,
                workdir / "stream",
                context.streaming,
                hls,
                original_language=message.original_language,
                subtitle_folder=workdir / "stream-subtitles",
                prioritise=engine.prioritise,
                on_password=lambda why: _stop_for_password(engine, passwords, why),
                on_recovery=lambda index: release_progress.shrink(engine.leave([index])),
            )
        result = _download(engine, nzb, downloads, watch, tail, release_progress)
        record_job_event(
            "ReleasesDownloaded",
            DownloadBytes=result.bytes,
            DownloadThroughput=result.bytes / max(result.seconds, 1e-3),
        )
        if tail is not None:
            tail.wait_planned()  # it holds every file open before verification renames them
        with reporter.keeping_alive():  # par2, unpacking, ffmpeg and the upload can run long
            refuse_passwords([f.path for f in result.files if f.path.exists()])
            downloaded = before_repair(watch) if tail is not None and tail.active else {}
            files, intact = ensure_intact(engine, nzb, result, downloads)
            reporter.progress(nzb.bytes, nzb.bytes, 0.0, 0, force=True)
            reporter.preparing()
            hls_removed = not intact and not _read_on(tail, watch, downloaded, files)
            if hls_removed:
                _unpublish(reporter, context.uploader, message.job_id)
            uploaded = _stream_upload(tail, reporter.beat)
            if tail is not None and tail.wrong_bytes and not hls_removed:
                hls_removed = True  # what it published came from bytes that were not the movie's
                _unpublish(reporter, context.uploader, message.job_id)
            media = tail.media if uploaded is not None and tail is not None else {}
            found = tail.subtitles if uploaded is not None and tail is not None else ()
            loose = files
            if uploaded is None:
                unpacked = unpack_release(files, workdir / "unpacked")
                reporter.beat()
                remuxing = UploadWhileRemuxing(context.uploader, movie_key, metadata)
                prepared = prepare(
                    main_video(unpacked),
                    _fresh(workdir / "output"),
                    original_language=message.original_language,
                    follower=remuxing,
                )
                media, found, loose = prepared.media, prepared.subtitles, unpacked
                reporter.beat()
                uploaded = remuxing.uploaded or context.uploader.upload(
                    prepared.path,
                    movie_object_key(message.job_id, prepared.extension),
                    content_type=prepared.content_type,
                    metadata={**metadata, "original-container": prepared.original_container[:200]},
                    progress=on_upload,
                )
            found += subtitles.from_files(loose, workdir / "subtitle-files")
            media = {**media, "subtitles": _upload_subtitles(context.uploader, message, found)}
        record_job_event(
            "MoviesUploaded", UploadThroughput=uploaded.size_bytes / max(uploaded.seconds, 1e-3)
        )
        reporter.ready(
            object_key=uploaded.key,
            content_type=uploaded.content_type,
            size_bytes=uploaded.size_bytes,
            retention_hours=context.retention_hours,
            media=media,
            hls_complete=hls is not None and hls.complete and not hls_removed,
        )
        ready = True
    except JobTakenAway:
        hls = None  # whoever has the job now may be publishing under the same keys
        raise
    except NntpAuthError as exc:
        raise JobFailed(f"Usenet login failed ({exc})", "usenet_auth") from None
    except (NzbError, IndexerError) as exc:
        raise JobFailed(f"could not get the release's NZB: {exc}", "indexer") from None
    except DownloadError as exc:
        if passwords:  # the tail saw it in a file's first bytes and stopped the download
            raise JobFailed(f"password-protected archive ({passwords[0]})", "password") from None
        raise JobFailed(f"download failed: {exc}", "usenet") from None
    except UnpackError as exc:
        raise JobFailed(str(exc), exc.error_class) from None
    except RepairError as exc:
        raise JobFailed(f"par2 failed: {exc}", "repair") from None
    except MediaError as exc:
        raise JobFailed(str(exc), "media") from None
    except UploadFailed as exc:
        raise JobFailed(f"upload failed: {exc}", "storage") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise JobFailed("the task ran out of disk space", "disk") from None
        raise
    finally:
        if tail is not None:
            tail.abort("the job stopped")  # a no-op once the tail finished
        if hls is not None and not ready:
            context.uploader.remove_prefix(hls_object_prefix(message.job_id))  # none left to play
        shutil.rmtree(workdir, ignore_errors=True)


def _choose_release(message: JobMessage, context: TaskContext, reporter: JobReporter) -> Nzb:
    """The first candidate whose NZB is usable, that is small enough, fits on disk and is available
    enough to repair. A problem with one release (its NZB gone or broken, a password, too many
    missing articles) moves on to the next candidate; one that would stop them all (the indexer
    refusing the key, the disk) fails the job at once."""
    skipped: list[
        tuple[SkippedRelease, ErrorClass]
    ] = []  # with the error class it would fail the job with
    candidates = [(message.release_id, message.release_title)] + [
        (c.release_id, c.release_title) for c in message.candidates
    ]
    for release_id, title in candidates:
        try:
            nzb = context.get_nzb(release_id)
        except NzbError as exc:
            reason = f"could not get the release's NZB: {exc}"
            skipped.append((SkippedRelease(release_id, title, reason), "indexer"))
            continue
        if nzb.password:
            reason = "password-protected archive"
            skipped.append((SkippedRelease(release_id, title, reason), "password"))
            continue
        if nzb.bytes > context.max_release_bytes:
            reason = f"too large ({nzb.bytes / 1e9:.1f} GB)"
            skipped.append((SkippedRelease(release_id, title, reason), "too_large"))
            continue
        free = shutil.disk_usage(context.work_root).free
        if free < nzb.bytes * DISK_FACTOR:
            raise JobFailed(
                f"not enough disk space: {nzb.bytes * DISK_FACTOR / 1e9:.1f} GB needed, "
                f"{free / 1e9:.1f} GB free",
                "disk",
            )
        available = probe(nzb, context.servers)
        if available.unprobed:
            reporter.note(
                f"{', '.join(available.unprobed)} cannot say whether articles exist (it answers "
                "neither STAT nor HEAD), so the release was downloaded without checking first"
            )
        if not available.repairable:
            reason = (
                f"{available.missing_share:.0%} of sampled articles missing and only "
                f"{available.recovery_share:.0%} recovery data"
            )
            skipped.append((SkippedRelease(release_id, title, reason), "missing_articles"))
            continue
        passed_over = [item for item, _ in skipped]
        if passed_over:
            said = [f"{item.release_title}: {item.reason}" for item in passed_over]
            logger.warning("releases skipped", extra={"job_id": message.job_id, "skipped": said})
            reporter.fetching_instead(release_id, title, passed_over)
        return nzb
    (first, error_class), *others = skipped
    if not others:
        raise JobFailed(first.reason, error_class)
    every = "; ".join(f"{item.release_title}: {item.reason}" for item, _ in skipped)
    # The chosen release's problem names the failure; the message lists every candidate's.
    raise JobFailed(f"no usable release ({every})", error_class)


def _download(
    engine: Engine,
    nzb: Nzb,
    folder: Path,
    watch: Watermarks,
    tail: StreamedTail | None,
    progress: ReleaseProgress,
) -> DownloadResult:
    """Data files and the par2 index. With a streaming tail, all at once: the engine fetches every
    file's first article first, and the tail reads those heads to find the movie (then has the
    engine fetch its volumes in order) and to see a password (``on_password`` stops the download).
    Without one, a RAR set's first volume alone first, to see a password before the rest. Which
    file the subjects call the first volume is only a guess: its headers decide (a ``foo.rar`` that
    is really volume 3 says nothing about a password, and is no reason to fail)."""
    wanted = [f for f in nzb.files if not f.is_par2_recovery]
    firsts = [f for f in wanted if f.rar_volume == 0]
    if firsts and tail is None:
        early = engine.download(firsts, folder, watch=watch)
        progress.next_run()
        refuse_passwords([result.path for result in early.files if result.complete])
        rest = engine.download([f for f in wanted if f not in firsts], folder, watch=watch)
        progress.next_run()  # par2 recovery volumes, if needed, count beyond 100 % (capped)
        return DownloadResult(
            early.files + rest.files,
            early.bytes + rest.bytes,
            early.seconds + rest.seconds,
            {**early.server_failures, **rest.server_failures},
        )
    if tail is not None:
        tail.begin()
        # Until the tail has read the heads, fetch in the order the subjects' names suggest
        # (``x.rar`` before ``x.r00``, which NZBs sorted by subject list last): only a guess at
        # what comes first, which the heads then correct; obfuscated names keep the NZB's order.
        wanted.sort(key=lambda f: (f.rar_volume is None, f.rar_volume or 0))
    downloaded = engine.download(wanted, folder, watch=watch)
    progress.next_run()
    return downloaded


def _stop_for_password(engine: Engine, passwords: list[str], why: str) -> None:
    """A file's head shows an encrypted archive: no reason to download the rest."""
    passwords.append(why)
    engine.cancel(why)


def _unpublish(reporter: JobReporter, uploader: Uploader, job_id: str) -> None:
    """Take the HLS down: the job first, so no answer links to a playlist being removed."""
    reporter.unplayable()
    uploader.remove_prefix(hls_object_prefix(job_id))


def _read_on(
    tail: StreamedTail | None,
    watch: Watermarks,
    downloaded: dict[int, Downloaded],
    files: Sequence[Path],
) -> bool:
    """After a repair: tell the tail where the repaired files are, so it reads on past the gap, and
    whether it may. When it may not, the bytes it streamed are not vouched for as the repaired
    movie's: it is abandoned, and the HLS it published (the caller removes it) must not stay up."""
    if tail is None or not tail.active:
        return True
    refused = after_repair(watch, downloaded, files)
    if refused is None:
        return True
    tail.abort(f"par2 repaired the download, but {refused}")
    return False


def _stream_upload(tail: StreamedTail | None, beat: Callable[[], object]) -> Uploaded | None:
    """The streamed upload, completed now that the download is verified or repaired; None when
    there is none (not attempted or abandoned)."""
    if tail is None or not tail.active:
        return None
    try:
        return tail.finish(beat)
    except NotStreamable:
        return None


def _upload_subtitles(
    uploader: Uploader, message: JobMessage, found: Sequence[Subtitle]
) -> list[dict[str, object]]:
    """Each converted subtitle beside the movie (``movies/{job_id}/subtitles/``); the job's list.
    An upload that fails costs that subtitle, never the movie."""
    keys: dict[int, str] = {}
    for number, subtitle in enumerate(found):
        if subtitle.output is None:
            continue
        key = subtitle_object_key(message.job_id, f"{number}.{subtitle.language or 'und'}.vtt")
        try:
            uploader.upload(
                subtitle.output,
                key,
                content_type="text/vtt; charset=utf-8",
                metadata={"movie-id": str(message.movie_id)},
            )
        except UploadFailed as error:
            logger.warning(
                "subtitle not uploaded", extra={"job_id": message.job_id, "error": str(error)}
            )
            continue
        keys[number] = key
    return subtitles.describe(found, keys)


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
