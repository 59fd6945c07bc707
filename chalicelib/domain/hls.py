"""HLS playlists, as the downloader publishes them and the API hands them out.

The downloader uploads ffmpeg's playlist as written: relative names of the init segment and of each
media segment, under ``movies/{job_id}/hls/``. The bucket stays private, so the API serves the
playlist itself with every name replaced by a presigned URL (``sign_playlist``). The playlist URL is
signed too, by us (``playlist_signature``): a player fetches it without headers (native HLS in
Safari cannot add an ``X-Api-Key``), so the URL carries its own expiry and an HMAC over the job and
that expiry, checked in constant time.

Whether the published HLS covers the whole movie is recorded by the downloader in the job's
``media`` JSON at ``ready`` (``COMPLETE``), so the stream answer decides on ``hls_url`` from the job
it has already read, without fetching the playlist from R2.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping

PLAYLIST = "index.m3u8"
INIT = "init.mp4"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
#: The key of the job's ``media`` JSON saying whether the published playlist ended (``#EXT-X-ENDLIST``).
COMPLETE = "hls_complete"
#: The only names the downloader asks ffmpeg to write; anything else in a playlist is refused.
NAME = re.compile(r"(?:init\.mp4|seg\d{5}\.m4s)")
_MAP = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')


def _entries(text: str) -> Iterator[tuple[str, str | None]]:
    """Each line of a playlist, stripped, with the file it names (checked) or None."""
    for raw in text.splitlines():
        line = raw.strip()
        found = _MAP.fullmatch(line)
        name = found.group(1) if found else (line if line and not line.startswith("#") else None)
        yield line, (_checked(name) if name is not None else None)


def playlist_files(text: str) -> list[str]:
    """The files a playlist names, in order (the init segment first); ValueError on anything else."""
    return [name for _, name in _entries(text) if name is not None]


def segment_count(text: str) -> int:
    return sum(1 for name in playlist_files(text) if name != INIT)


def is_complete(text: str) -> bool:
    """The playlist names the whole movie (ffmpeg ends it when the input ends)."""
    return "#EXT-X-ENDLIST" in text


def recorded_complete(media: Mapping[str, object]) -> bool:
    """The downloader recorded at ready that its published HLS covers the whole movie. A job made
    before the record existed has none and counts as not complete: its MP4 still plays, and a
    viewer is never sent a playlist that might stop midway."""
    return media.get(COMPLETE) is True


def sign_playlist(text: str, url_for: Callable[[str], str]) -> str:
    """``text`` with each file name replaced by ``url_for(name)`` (a presigned URL)."""
    lines: list[str] = []
    for line, name in _entries(text):
        if name is None:
            lines.append(line)
        elif line.startswith("#"):  # the init segment's EXT-X-MAP
            lines.append(f'#EXT-X-MAP:URI="{url_for(name)}"')
        else:
            lines.append(url_for(name))
    return "\n".join(lines) + "\n"


def playlist_signature(key: bytes, job_id: str, expires: int) -> str:
    """The HMAC-SHA256 (hex) a playlist URL carries for ``job_id`` until ``expires`` (epoch s)."""
    return hmac.new(key, f"hls:{job_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def signature_ok(key: bytes, job_id: str, expires: int, signature: str, now: float) -> bool:
    return now < expires and hmac.compare_digest(
        playlist_signature(key, job_id, expires), signature
    )


def _checked(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"unexpected name in the HLS playlist: {name[:40]!r}")
    return name
