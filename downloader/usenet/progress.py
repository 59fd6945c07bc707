"""Download progress: bytes done of total, speed, ETA, and a one-line bar for people.

Bytes are counted as the NZB states them (encoded article sizes), the only total known before the
first article arrives, so the percentage is honest from the start. Speed is measured over a sliding
window (about 10 s) so the ETA follows real changes without jumping on every article.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]


@dataclass(frozen=True)
class Progress:
    done_bytes: int
    total_bytes: int
    speed_bps: float
    eta_seconds: int | None
    articles_done: int
    articles_total: int
    articles_failed: int
    elapsed_seconds: float

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.done_bytes / self.total_bytes) if self.total_bytes else 0.0


ProgressCallback = Callable[[Progress], None]


class SpeedMeter:
    """Bytes per second over the last ``window`` seconds of samples."""

    def __init__(self, window: float = 10.0, clock: Monotonic = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, done_bytes: int) -> float:
        now = self._clock()
        self._samples.append((now, done_bytes))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        first_time, first_bytes = self._samples[0]
        elapsed = now - first_time
        return (done_bytes - first_bytes) / elapsed if elapsed > 0 else 0.0


def eta(remaining_bytes: int, speed_bps: float) -> int | None:
    if remaining_bytes <= 0:
        return 0
    if speed_bps <= 0:
        return None
    return int(remaining_bytes / speed_bps + 0.5)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


def human_duration(seconds: int | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render_bar(progress: Progress, width: int = 30) -> str:
    """``[#####.....]  42.0 %  1.2 GiB / 3.0 GiB  85.3 MiB/s  ETA 00:21`` (one line, no newline)."""
    filled = int(width * progress.percent / 100)
    failed = f"  {progress.articles_failed} articles missing" if progress.articles_failed else ""
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {progress.percent:5.1f} %  "
        f"{human_bytes(progress.done_bytes)} / {human_bytes(progress.total_bytes)}  "
        f"{human_bytes(progress.speed_bps)}/s  ETA {human_duration(progress.eta_seconds)}{failed}"
    )


class ReleaseProgress:
    """One release's progress across several engine runs (a RAR set's first volume is fetched
    alone, to see a password early), so the job's percentage never jumps back.

    Each engine run counts from zero against its own files; this adds what earlier runs finished
    and measures everything against the release's total.
    """

    def __init__(self, total_bytes: int, report: Callable[[Progress], object]) -> None:
        self._total = total_bytes
        self._report = report
        self._earlier = 0
        self._current = 0

    def __call__(self, progress: Progress) -> None:
        self._current = progress.done_bytes
        done = min(self._earlier + progress.done_bytes, self._total)
        self._report(
            Progress(
                done_bytes=done,
                total_bytes=self._total,
                speed_bps=progress.speed_bps,
                eta_seconds=eta(self._total - done, progress.speed_bps),
                articles_done=progress.articles_done,
                articles_total=progress.articles_total,
                articles_failed=progress.articles_failed,
                elapsed_seconds=progress.elapsed_seconds,
            )
        )

    def shrink(self, skipped: int) -> None:
        """``skipped`` bytes of the release will not be fetched after all (recovery volumes left
        after their heads), so the job still reaches 100 % at the download's end."""
        self._total = max(1, self._total - skipped)

    def next_run(self) -> None:
        """The engine run just finished; the next one starts counting from zero."""
        self._earlier += self._current
        self._current = 0
