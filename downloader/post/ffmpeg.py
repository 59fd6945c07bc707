"""The one place that runs ffmpeg and ffprobe, for the sequential remux and the streaming tail alike.

Both paths probe the same way, start ffmpeg with the same fixed options (no prompts, errors only,
overwrite) and read its failures the same way: the last line it wrote, which is the one that says
what went wrong. Which streams to keep is ``remux``'s policy; where the output's index goes is the
caller's.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ffmpeg's options on every run: errors only (any message is then a failure), overwrite outputs.
COMMON = ("-v", "error", "-y")


class MediaError(Exception):
    """The file is not a video ffprobe can read, or ffmpeg failed; the message is for people."""


class MediaStopped(MediaError):
    """ffmpeg was ended by a signal (the job taken away, the task stopping): a run again would be
    stopped the same way, so no caller retries it."""


@dataclass(frozen=True)
class FFmpeg:
    """The two binaries (from PATH unless told otherwise: the container image installs both)."""

    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    def probe(self, path: Path) -> dict[str, Any]:
        """ffprobe's JSON for the file's format and streams."""
        shown = ["-print_format", "json", "-show_format", "-show_streams"]
        result = _run(
            [self.ffprobe, "-v", "error", *shown, str(path)], "the video could not be read"
        )
        data: dict[str, Any] = json.loads(result.stdout or "{}")
        return data

    def run(self, arguments: list[str], failure: str) -> None:
        """Run ffmpeg to completion on files; ``MediaError`` starting with ``failure`` if it fails."""
        _run([self.ffmpeg, "-nostdin", *COMMON, *arguments], failure)

    def start(self, arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start ffmpeg reading its input from a pipe (``-i pipe:0`` in ``arguments``), its
        messages going to ``log`` (read them with ``last_line``)."""
        with log.open("wb") as messages:
            return subprocess.Popen(
                [self.ffmpeg, *COMMON, *arguments],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=messages,
            )


def last_line(text: str) -> str:
    """What ffmpeg said last (at ``-v error``, the error itself), or ``""``."""
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else ""


def _run(command: list[str], failure: str) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise MediaError(f"{failure}: {command[0]} is not installed") from None
    if result.returncode < 0:
        raise MediaStopped(f"{failure}: {Path(command[0]).name} was stopped")
    if result.returncode != 0:
        detail = last_line(result.stderr or "")
        raise MediaError(f"{failure}: {detail or 'exit ' + str(result.returncode)}")
    return result


#: The binaries on PATH: the default wherever a runner is not given.
ON_PATH = FFmpeg()
