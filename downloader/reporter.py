"""The downloader's side of a job's lifecycle, written to the shared job store.

Progress is written at most every ``interval`` seconds (10 by default): each write is one D1 API
request, and the token's budget is 1,200 per 5 minutes shared with everyone. Between progress writes a
heartbeat keeps ``updated_at`` fresh during long silent phases (par2, unpacking, upload), so cleanup's
stale-job rule only catches workers that really died. Every write is a compare-and-set from the state
the worker believes the job is in; if someone else moved the job (cleanup declared it stale, an operator
failed it) the write finds nothing and the worker stops with ``JobTakenAway`` instead of resurrecting it.

The job store can be briefly unreachable (D1 answering 429/5xx, a dropped connection). A healthy
download must not die of that: progress and heartbeats are best effort (skipped, tried again next
interval), and state changes are retried with back-off for a few minutes. A retry after a lost reply
finds the job already moved; the reporter then reads the job back instead of calling it taken away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from chalicelib.adapters.store import JobStore
from chalicelib.domain import hls
from chalicelib.domain.jobs import (
    IN_PROGRESS_STATUSES,
    Clock,
    ErrorClass,
    Job,
    JobStatus,
    SkippedRelease,
    encode_media,
    encode_notes,
    encode_skipped,
    expiry_after,
    from_iso,
    new_write_token,
    to_iso,
    utcnow,
)
from chalicelib.domain.server_figures import ServerFigures, encode_servers
from chalicelib.errors import StorageFailure
from chalicelib.logs import logger
from chalicelib.metrics import record_job_event, record_server_figures
from downloader.children import terminate_children

Monotonic = Callable[[], float]
Sleep = Callable[[float], None]

#: Waits between attempts at a state change while the job store is unavailable (~4 min in all).
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0, 60.0, 60.0)


class JobTakenAway(Exception):
    """The job is no longer in the state this worker expected; stop working on it."""


class JobStoreUnavailable(Exception):
    """The job store stayed unreachable through every retry of a state change; the worker stops
    and cleanup's stale rule fails the job once the store is back."""


class JobReporter:
    def __init__(
        self,
        store: JobStore,
        job: Job,
        *,
        interval: float = 10.0,
        heartbeat: float = 60.0,
        clock: Clock = utcnow,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        settled: Callable[[Job], None] | None = None,
    ) -> None:
        self._store = store
        #: Told the job once its terminal state (ready, error) is written: the job's notification.
        self._settled = settled
        self._sleep = sleep
        self._retry_delays = retry_delays
        self.job = job
        self._interval = interval
        self._heartbeat = heartbeat
        self._clock = clock
        self._monotonic = monotonic
        self._last_write = float("-inf")
        self.writes = 0
        self._notes: list[str] = []
        self._notes_unsaved = False
        #: One write at a time: the heartbeat thread and the main thread share the reporter.
        self._write_lock = threading.RLock()
        self._taken_away: JobTakenAway | None = None
        self._servers: Callable[[], Sequence[ServerFigures]] | None = None

    @property
    def keys(self) -> dict[str, Any]:
        return {"job_id": self.job.job_id, "movie_id": self.job.movie_id}

    def progress(
        self,
        downloaded: int,
        total: int,
        speed_bps: float,
        eta_seconds: int | None,
        *,
        force: bool = False,
    ) -> bool:
        """Record download progress if the interval has passed (or ``force``); True if written."""
        if not force and self._monotonic() - self._last_write < self._interval:
            return False
        percent = round(100.0 * downloaded / total, 1) if total else 0.0
        return self._best_effort(
            JobStatus.DOWNLOADING,
            JobStatus.DOWNLOADING,
            progress=min(percent, 100.0),
            downloaded_bytes=downloaded,
            total_bytes=total,
            speed_bps=round(speed_bps, 1),
            eta_seconds=eta_seconds,
        )

    def beat(self) -> bool:
        """Keep ``updated_at`` fresh during silent phases; True if a write was due."""
        with self._write_lock:  # the state read and the write as one: the main thread may move it
            if self._monotonic() - self._last_write < self._heartbeat:
                return False
            return self._best_effort(self.job.status, self.job.status)

    @contextmanager
    def keeping_alive(self) -> Iterator[None]:
        """Beat from a background thread while a long step runs (par2, unpacking, ffmpeg, the
        upload), so a step longer than the stale limit does not get a healthy job failed. If a beat
        finds the job taken away, the step's tools are stopped at once and ``JobTakenAway`` comes
        out of the block, whatever the interrupted step raised."""
        stop = threading.Event()
        tick = max(0.02, min(self._heartbeat / 4, 15.0))

        def loop() -> None:
            while not stop.wait(tick):
                try:
                    self.beat()
                except JobTakenAway as exc:
                    self._taken_away = exc
                    ended = terminate_children()
                    logger.warning(
                        "job taken away during a long step; its tools were stopped",
                        extra={**self.keys, "processes": len(ended)},
                    )
                    return
                except Exception:  # a heartbeat must never take the task down
                    logger.exception("heartbeat failed", extra=self.keys)

        beating = threading.Thread(target=loop, name="heartbeat", daemon=True)
        beating.start()
        try:
            yield
        except BaseException:
            if self._taken_away is not None:
                raise self._taken_away from None
            raise
        finally:
            stop.set()
            beating.join()
        if self._taken_away is not None:
            raise self._taken_away

    def track_servers(self, figures: Callable[[], Sequence[ServerFigures]]) -> None:
        """Where the per-server figures come from (the job's download engine): asked once, when
        the job ends, for the final write and the ``ServerArticles`` metrics."""
        self._servers = figures

    def _closing_figures(self) -> dict[str, Any]:
        """The final write's ``servers`` column (nothing when no download started), with the
        metrics emitted on the way: once per job, whatever the write then meets."""
        source, self._servers = self._servers, None
        if source is None:
            return {}
        figures = list(source())
        record_server_figures(figures)
        logger.info(
            "news servers",
            extra={
                **self.keys,
                "servers": [{**asdict(f), "throughput_bps": f.throughput_bps} for f in figures],
            },
        )
        return {"servers": encode_servers(figures)}

    def fetching_instead(
        self, release_id: str, release_title: str, skipped: Sequence[SkippedRelease]
    ) -> None:
        """Auto mode moved on to another candidate: the job names the release it now fetches and
        the ones passed over, with why (one write, only when something was skipped)."""
        self._write(
            JobStatus.DOWNLOADING,
            JobStatus.DOWNLOADING,
            release_id=release_id,
            release_title=release_title,
            skipped_releases=encode_skipped(skipped),
        )
        logger.info(
            "fetching another release",
            extra={**self.keys, "release": release_title, "skipped": len(skipped)},
        )

    def note(self, sentence: str) -> None:
        """Something the user should know that is no failure: said in the job now (best effort;
        an unsaved note goes with the next write), and logged."""
        if sentence in self._notes:
            return
        self._notes.append(sentence)
        self._notes_unsaved = True
        logger.warning("job note", extra={**self.keys, "note": sentence})
        self._best_effort(self.job.status, self.job.status)

    def playable(self) -> bool:
        """The first HLS segments are up: record when, once, in the status of the moment (best
        effort, from the publisher's thread). True once recorded or if the job moved on or went."""
        if self.job.playable_at is not None:
            return True
        with self._write_lock:
            status = self.job.status
            if status not in (JobStatus.DOWNLOADING, JobStatus.PREPARING):
                return True
            try:
                self._attempt_locked(
                    status, status, token=new_write_token(), playable_at=to_iso(self._clock())
                )
            except StorageFailure:
                return False
            except JobTakenAway:
                return True  # the main thread finds out with its own next write
        logger.info("job playable", extra={**self.keys, "status": status.value})
        return True

    def unplayable(self) -> None:
        """Its HLS is being removed (a repair the stream could not follow): no stream answer may
        hand out an ``hls_url`` whose playlist is gone. One write, and only in that case."""
        if self.job.playable_at is None:
            return
        self._write(JobStatus.PREPARING, JobStatus.PREPARING, playable_at=None)
        logger.info("job no longer playable", extra={**self.keys, "reason": "HLS removed"})

    def preparing(self) -> None:
        self._write(
            JobStatus.DOWNLOADING,
            JobStatus.PREPARING,
            progress=100.0,
            speed_bps=None,
            eta_seconds=0,
        )
        logger.info(
            "job state changed", extra={**self.keys, "from": "downloading", "to": "preparing"}
        )

    def ready(
        self,
        *,
        object_key: str,
        content_type: str,
        size_bytes: int,
        retention_hours: int,
        media: Mapping[str, object] | None = None,
        hls_complete: bool = False,
    ) -> None:
        """The movie is stored; ``media`` (audio chosen and available, subtitles) goes with it, and
        whether the HLS published while it downloaded covers the whole movie (``hls_complete``): the
        API gives ``hls_url`` at ready from this record alone."""
        now: datetime = self._clock()
        self._write(
            JobStatus.PREPARING,
            JobStatus.READY,
            **self._closing_figures(),
            media=encode_media({**(media or {}), hls.COMPLETE: hls_complete}),
            ready_at=to_iso(now),
            expires_at=to_iso(expiry_after(now, retention_hours)),
            object_key=object_key,
            content_type=content_type,
            size_bytes=size_bytes,
        )
        logger.info("job state changed", extra={**self.keys, "from": "preparing", "to": "ready"})
        waited = (now - from_iso(self.job.created_at)).total_seconds()
        record_job_event("JobsReady", TimeToReady=max(waited, 0.0))
        self._tell_settled()

    def failed(self, message: str, error_class: ErrorClass = "internal") -> None:
        """Mark the job failed with a message for people (and a class for the figures). Only an
        in-progress job can fail (a ready job stays ready, one cleanup failed keeps its verdict),
        and a failed one is not playable: the pipeline removed its segments."""
        was = self.job.status  # read before the write replaces the job
        try:
            self._write(
                IN_PROGRESS_STATUSES,
                JobStatus.ERROR,
                **self._closing_figures(),
                error_message=message,
                error_class=error_class,
                speed_bps=None,
                eta_seconds=None,
                playable_at=None,
            )
        except JobTakenAway:
            return
        except JobStoreUnavailable as error:
            # The stale rule will fail the job once the store is back; nothing more we can do.
            logger.error(
                "could not record the failure",
                extra={**self.keys, "reason": message, "error": str(error)},
            )
            return
        logger.error(
            "job state changed",
            extra={**self.keys, "from": was.value, "to": "error", "reason": message},
        )
        record_job_event("JobsFailed", error_class=error_class)
        self._tell_settled()

    def _tell_settled(self) -> None:
        if self._settled is None:
            return
        try:
            self._settled(self.job)
        except Exception:  # a notification must never fail the job it is about
            logger.exception("could not start the job's notification", extra=self.keys)

    def _best_effort(
        self, expected: JobStatus | tuple[JobStatus, ...], to: JobStatus, **changes: Any
    ) -> bool:
        """One attempt; a store outage skips this write (the next interval tries again)."""
        try:
            self._attempt(expected, to, token=new_write_token(), **changes)
        except StorageFailure as error:
            self._last_write = self._monotonic()
            logger.warning(
                "job store unavailable; progress not recorded this time",
                extra={**self.keys, "error": error.message},
            )
            return False
        return True

    def _write(
        self, expected: JobStatus | tuple[JobStatus, ...], to: JobStatus, **changes: Any
    ) -> None:
        """A state change, retried with back-off while the store is unavailable. Every attempt
        carries one write token, so an attempt whose reply was lost is recognised by the next."""
        token = new_write_token()
        for delay in (*self._retry_delays, None):
            try:
                self._attempt(expected, to, token=token, **changes)
                return
            except StorageFailure as error:
                if delay is None:
                    raise JobStoreUnavailable(error.message) from None
                logger.warning(
                    "job store unavailable; retrying the state change",
                    extra={**self.keys, "to": to.value, "error": error.message, "wait_s": delay},
                )
                self._sleep(delay)

    def _attempt(
        self,
        expected: JobStatus | tuple[JobStatus, ...],
        to: JobStatus,
        *,
        token: str,
        **changes: Any,
    ) -> None:
        with self._write_lock:
            self._attempt_locked(expected, to, token=token, **changes)

    def _attempt_locked(
        self,
        expected: JobStatus | tuple[JobStatus, ...],
        to: JobStatus,
        *,
        token: str,
        **changes: Any,
    ) -> None:
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if self._notes_unsaved:
            changes["notes"] = encode_notes(self._notes)
        self.writes += 1
        updated = self._store.transition(
            self.job.job_id,
            from_statuses=allowed,
            to=to,
            now=to_iso(self._clock()),
            token=token,
            **changes,
        )
        self._last_write = self._monotonic()
        if updated is None:
            states = "/".join(status.value for status in allowed)
            raise JobTakenAway(f"job {self.job.job_id} is no longer {states}")
        self.job = updated
        self._notes_unsaved = False
