"""The download engine: N connections per server, one scheduler, decode-and-write in place.

Shape (compare SABnzbd's downloader → decoder → assembler): each connection is one thread that sends
pipelined BODY requests and feeds the socket into its own ``sabctools.Decoder``, which decodes, checks
the CRC and writes the part at its offset in the output file, all in C without the GIL. There is no
decoder queue and no assembler because there is nothing left to hand over: the article is on disk when
its response completes. Memory is therefore bounded by construction (one receive buffer per
connection, whatever the release size); back-pressure is TCP's own: a connection does not read faster
than it can decode and write. Threads beat processes or asyncio here because the hot loop never holds
the GIL (see bench/download.py for the figures).

The first connection to each server goes alone; the others follow once it has logged in, so a wrong
password costs one connection attempt, not N at once. Servers answering "too many connections" get
fewer of ours; failing connections back off exponentially.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sabctools

from chalicelib.domain.server_figures import ServerFigures
from chalicelib.logs import logger
from downloader.errors import DownloadError, NntpAuthError, NntpBusyError, NntpError
from downloader.usenet.nntp import BUFFER_SIZE, NntpConnection, backoff
from downloader.usenet.nzb import NzbFile
from downloader.usenet.progress import Progress, ProgressCallback, SpeedMeter, eta
from downloader.usenet.scheduler import Article, Scheduler, ServerState
from downloader.usenet.servers import ServerConfig
from downloader.usenet.writer import ArrivalWatch, OutputFiles

_BODY_OK = (220, 222)
_LACKING = (423, 430)


@dataclass(frozen=True)
class EngineOptions:
    #: BODY requests in flight per connection; hides the round trip (SABnzbd uses a handful too).
    pipeline: int = 8
    timeout: float = 30.0
    #: Transient failures of one article on one server before that server counts as lacking it.
    retries: int = 3
    #: First reconnect delay; doubles per consecutive failure up to 30 s.
    backoff: float = 1.0
    #: Consecutive failed connects (with no connection of that server open) before giving it up.
    connect_attempts: int = 5
    buffer_size: int = BUFFER_SIZE
    progress_interval: float = 2.0


@dataclass(frozen=True)
class FileResult:
    name: str
    path: Path
    #: Decoded size from the yEnc headers; None if no article of the file could be fetched.
    size: int | None
    segments: int
    missing: tuple[int, ...]
    corrupt: tuple[int, ...]
    is_par2: bool

    @property
    def complete(self) -> bool:
        return not self.missing and not self.corrupt and self.size is not None


@dataclass(frozen=True)
class DownloadResult:
    files: tuple[FileResult, ...]
    bytes: int
    seconds: float
    server_failures: dict[str, str]

    @property
    def complete(self) -> bool:
        return all(file.complete for file in self.files)


class Engine:
    def __init__(
        self,
        servers: Sequence[ServerConfig],
        options: EngineOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        if not servers:
            raise DownloadError("no news server configured")
        self.servers = [ServerState(i, config) for i, config in enumerate(servers)]
        self.options = options or EngineOptions()
        self._on_progress = on_progress
        #: Seconds spent in ``download`` so far (every call of one job adds up).
        self.seconds = 0.0
        self._order: tuple[int, ...] = ()
        self._scheduler: Scheduler | None = None
        self._cancelled: str | None = None
        self.left: set[int] = set()  #: NZB indices of files ``leave`` dropped
        self._lock = threading.Lock()

    def cancel(self, reason: str) -> None:
        """Stop the download running now, and refuse later ones, with ``DownloadError(reason)``:
        the job cannot succeed (a password seen in a file's first bytes). Safe from any thread."""
        with self._lock:
            self._cancelled = reason
            scheduler = self._scheduler
        if scheduler is not None:
            scheduler.abort(reason)

    def prioritise(self, order: Sequence[int]) -> None:
        """Fetch these NZB files first, in this order (the rest after), in the download running
        now and in later ones: the streaming tail wants the movie's volumes in sequence. Safe to
        call from any thread."""
        with self._lock:
            self._order = tuple(order)
            scheduler = self._scheduler
        if scheduler is not None:
            scheduler.prioritise(self._order)

    def leave(self, indices: Sequence[int]) -> int:
        """Fetch no more of these files now (recovery volumes told by their heads: par2 says if
        any is needed). Not in the result, written bytes removed, named in ``left``."""
        with self._lock:
            scheduler = self._scheduler
        if scheduler is None:
            return 0
        skipped = scheduler.leave(indices)
        with self._lock:
            self.left |= scheduler.left
        return skipped

    def download(
        self, files: Sequence[NzbFile], folder: Path, *, watch: ArrivalWatch | None = None
    ) -> DownloadResult:
        """Fetch ``files`` into ``folder``; raises DownloadError when no server could be used.
        ``watch`` is told which bytes are final as they arrive (for the streaming tail)."""
        started = time.monotonic()
        for server in self.servers:
            server.limit = server.config.connections
        with self._lock:
            if self._cancelled is not None:
                raise DownloadError(self._cancelled)
            scheduler = Scheduler(files, self.servers, retries=self.options.retries)
            scheduler.prioritise(self._order)
            self._scheduler = scheduler
        outputs = OutputFiles(folder, files, watch)
        threads = [
            threading.Thread(
                target=self._connection,
                args=(scheduler, outputs, server, slot),
                name=f"nntp-{server.config.host}-{slot}",
                daemon=True,
            )
            for server in self.servers
            for slot in range(server.config.connections)
        ]
        for thread in threads:
            thread.start()
        results: dict[int, FileResult] = {}
        meter = SpeedMeter()
        last_report = started
        try:
            while True:
                finished = scheduler.wait_idle(0.25)
                self._finish_files(scheduler, outputs, results)
                now = time.monotonic()
                if self._on_progress and (
                    finished or now - last_report >= self.options.progress_interval
                ):
                    last_report = now
                    self._on_progress(self._progress(scheduler, meter, now - started))
                if finished:
                    break
        finally:
            scheduler.abort("stopped")  # no-op once finished; ends the threads on errors/Ctrl-C
            for thread in threads:
                thread.join(timeout=self.options.timeout + 5)
            outputs.close_all()
            with self._lock:
                self._scheduler = None
            self.seconds += time.monotonic() - started
        reason = scheduler.abort_reason
        if reason not in (None, "stopped"):
            raise DownloadError(reason)
        failures = {s.config.label: s.failure for s in self.servers if s.failure}
        if failures and not any(s.alive for s in self.servers) and scheduler.done_articles == 0:
            raise DownloadError("; ".join(failures.values()))
        ordered = tuple(results[f.index] for f in files if f.index not in scheduler.left)
        return DownloadResult(ordered, scheduler.done_bytes, time.monotonic() - started, failures)

    def server_figures(self) -> list[ServerFigures]:
        """What each server did in this engine's downloads so far, named by ``host:port``."""
        return [
            ServerFigures(
                server=state.config.label,
                articles_fetched=state.fetched,
                articles_missing=state.missing,
                articles_corrupt=state.corrupt,
                bytes=state.fetched_bytes,
                seconds=round(self.seconds, 3),
            )
            for state in self.servers
        ]

    # -- one connection ------------------------------------------------------------------------

    def _connection(
        self, scheduler: Scheduler, outputs: OutputFiles, server: ServerState, slot: int
    ) -> None:
        try:
            self._connection_loop(scheduler, outputs, server, slot)
        except DownloadError as exc:
            scheduler.abort(str(exc))
        except Exception as exc:  # a bug must stop the download, not hang it
            logger.exception("download connection crashed", extra={"server": server.config.label})
            scheduler.abort(f"internal error in the downloader ({type(exc).__name__})")

    def _connection_loop(
        self, scheduler: Scheduler, outputs: OutputFiles, server: ServerState, slot: int
    ) -> None:
        options = self.options
        if slot > 0:  # the first connection probes the server (credentials, limits) alone
            while not server.ready.wait(0.25):
                if scheduler.finished:
                    return
        failures = 0
        while True:
            first = scheduler.take(server, block=True)
            if first is None or slot >= server.limit:
                if first is not None:
                    scheduler.requeue([first], server)
                return
            connection = NntpConnection(
                server.config, timeout=options.timeout, buffer_size=options.buffer_size
            )
            scheduler.count_open(server, 0, attempt=True)
            try:
                connection.connect()
            except NntpAuthError as exc:
                scheduler.requeue([first], server)
                scheduler.server_failed(server, str(exc))
                return
            except NntpError as exc:
                scheduler.requeue([first], server)
                failures += 1
                if self._give_up(scheduler, server, exc, failures):
                    return
                time.sleep(backoff(failures, options.backoff))
                continue
            server.ready.set()
            failures = 0
            scheduler.count_open(server, +1)
            try:
                self._pump(connection, scheduler, outputs, server, first)
                connection.quit()
            except NntpError as exc:
                logger.info(
                    "news connection lost", extra={"server": server.config.label, "error": str(exc)}
                )
                # Only the reply being received when the line broke counts against its article;
                # the ones queued behind it never started and go back without blame.
                pending = list(connection.pending)
                if pending and not isinstance(exc, NntpBusyError):
                    scheduler.retry(pending.pop(0), server)
                scheduler.requeue(pending, server)
                connection.close()
                time.sleep(backoff(1, options.backoff))
            finally:
                scheduler.count_open(server, -1)
                connection.close()

    def _give_up(
        self, scheduler: Scheduler, server: ServerState, exc: NntpError, failures: int
    ) -> bool:
        """After a failed connect: True if this connection (or the whole server) should stop."""
        if isinstance(exc, NntpBusyError) and server.open > 0:
            server.limit = max(1, min(server.limit, server.open))  # the server told us its limit
            return True
        if failures >= self.options.connect_attempts:
            if server.open == 0:
                scheduler.server_failed(server, str(exc))
            return True
        return False

    def _pump(
        self,
        connection: NntpConnection,
        scheduler: Scheduler,
        outputs: OutputFiles,
        server: ServerState,
        first: Article,
    ) -> None:
        """Keep ``pipeline`` requests in flight until the scheduler has nothing more for us."""
        batch: list[Article] = [first]
        while True:
            while connection.in_flight + len(batch) < self.options.pipeline:
                article = scheduler.take(server, block=connection.in_flight + len(batch) == 0)
                if article is None:
                    break
                batch.append(article)
            if batch:
                connection.send_bodies(
                    [(a.segment.message_id, a, outputs.writer(a.file_index)) for a in batch]
                )
                batch = []
            if connection.in_flight == 0 or scheduler.abort_reason:
                return
            for response in connection.read():
                self._settle(response, scheduler, outputs, server)

    def _settle(
        self,
        response: sabctools.NNTPResponse,
        scheduler: Scheduler,
        outputs: OutputFiles,
        server: ServerState,
    ) -> None:
        article = response.context
        if not isinstance(article, Article):
            raise NntpError(f"{server.config.label}: reply out of step with our requests")
        code = response.status_code
        if code in _LACKING:
            scheduler.lacks(article, server)
        elif code in _BODY_OK:
            if response.sink_failed:
                output = outputs.files[article.file_index]
                raise DownloadError(
                    f"could not write {output.path.name}: {response.sink_error or 'write failed'}"
                )
            if _intact(response) and outputs.observe(
                article.file_index, response.file_name, response.file_size
            ):
                outputs.arrived(
                    article.file_index, response.part_begin, response.part_end, response.file_size
                )
                scheduler.done(article, server)
            else:
                scheduler.lacks(article, server, corrupt=True)
        elif code in (400, 502):
            scheduler.requeue([article], server)
            raise NntpBusyError(f"{server.config.label}: closed the session ({code})")
        else:
            scheduler.retry(article, server)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _finish_files(
        self, scheduler: Scheduler, outputs: OutputFiles, results: dict[int, FileResult]
    ) -> None:
        while scheduler.finished_files:
            index = scheduler.finished_files.popleft()
            output = outputs.finish(index)
            if index in scheduler.left:  # its head alone: no file worth keeping
                if outputs.watch is not None:
                    outputs.watch.settled(index, output.path, complete=False)
                output.path.unlink(missing_ok=True)
                continue
            tally = scheduler.tallies[index]
            results[index] = FileResult(
                name=output.path.name,
                path=output.path,
                size=output.size,
                segments=len(output.nzb_file.segments) + len(output.nzb_file.missing_numbers),
                missing=tuple(sorted(tally.missing)),
                corrupt=tuple(sorted(tally.corrupt)),
                is_par2=output.path.name.lower().endswith(".par2"),
            )
            if outputs.watch is not None:
                outputs.watch.settled(index, output.path, complete=results[index].complete)

    def _progress(self, scheduler: Scheduler, meter: SpeedMeter, elapsed: float) -> Progress:
        done, total = scheduler.done_bytes, scheduler.total_bytes
        speed = meter.sample(done)
        return Progress(
            done_bytes=done,
            total_bytes=total,
            speed_bps=speed,
            eta_seconds=eta(total - done, speed),
            articles_done=scheduler.done_articles,
            articles_total=scheduler.total_articles,
            articles_failed=scheduler.failed_articles,
            elapsed_seconds=elapsed,
        )


def _intact(response: sabctools.NNTPResponse) -> bool:
    """A yEnc part whose CRC matches and whose header numbers are self-consistent."""
    if response.format != sabctools.EncodingFormat.YENC or response.bytes_decoded <= 0:
        return False
    if response.crc_expected is not None and response.crc is None:
        return False
    return (
        response.file_size > 0
        and response.part_end <= response.file_size
        and response.bytes_decoded == response.part_end - response.part_begin
    )
