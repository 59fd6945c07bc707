"""Deciding whether a release can take the streaming tail, and how much MP4 index to reserve.

Both are read before the first byte is streamed: where the movie is (one named video file, or one
stored, unencrypted RAR5 set named in order holding a single Matroska file) and how large its MP4
index will be. Anything else raises ``NotStreamable`` and the sequential path does the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rarfile

from downloader.post.unpack import VIDEO_EXTENSIONS, first_volumes, is_rar_volume
from downloader.streaming import NotStreamable
from downloader.usenet.engine import FileResult
from downloader.usenet.nzb import Nzb

#: Index bytes reserved per sample (stsz 4, ctts 8, stco/stsc per chunk…: about twice the need).
MOOV_PER_SAMPLE = 24
MOOV_BASE = 64 * 1024


@dataclass(frozen=True)
class Source:
    """NZB file indexes holding the movie, in order; ``rar`` when they are stored RAR5 volumes."""

    files: tuple[int, ...]
    rar: bool


def plan_source(nzb: Nzb, firsts: Sequence[FileResult]) -> Source:
    """Where the movie is, if the release is one the tail can read; else ``NotStreamable``."""
    data = [f for f in nzb.files if not f.is_par2]
    names = [f.subject_name or "" for f in data]
    volumes = [f for f in data if is_rar_volume(Path(f.subject_name or "x"))]
    loose_videos = [n for n in names if Path(n).suffix.lower() in VIDEO_EXTENSIONS]
    if not volumes:
        if len(loose_videos) != 1 or any(not n for n in names):
            raise NotStreamable("not exactly one named video file")
        return Source((data[names.index(loose_videos[0])].index,), rar=False)
    if loose_videos:
        raise NotStreamable("video files next to the archive")
    ordered = sorted(volumes, key=lambda f: f.rar_volume if f.rar_volume is not None else -1)
    paths = [Path(f.subject_name or "") for f in ordered]
    if [f.rar_volume for f in ordered] != list(range(len(ordered))) or len(
        first_volumes(paths)
    ) != 1:
        raise NotStreamable("not one RAR set named in order")
    if len(firsts) != 1 or not firsts[0].complete:
        raise NotStreamable("the first volume did not arrive intact")
    first = firsts[0]
    try:
        with rarfile.RarFile(first.path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if archive.needs_password() or any(info.needs_password() for info in members):
                raise NotStreamable("encrypted archive")
            if any(info.compress_type != rarfile.RAR_M0 for info in members):
                raise NotStreamable("compressed archive")
            if len(members) != 1:
                raise NotStreamable("more than one file in the archive")
            if Path(members[0].filename).suffix.lower() not in (".mkv", ".webm"):
                raise NotStreamable("the archive holds no Matroska video")
    except rarfile.Error as exc:
        raise NotStreamable(f"unreadable first volume ({exc})") from None
    return Source(tuple(f.index for f in ordered), rar=True)


def moov_estimate(data: dict[str, Any]) -> int:
    """Bytes to reserve for the MP4 index, from the duration and each stream's sample rate, about
    twice what the muxer needs: too little costs the whole fast path (ffmpeg then fails)."""
    duration = float((data.get("format") or {}).get("duration") or 0)
    if duration <= 0:
        raise NotStreamable("the movie's duration is unknown")
    per_second = 0.0
    for stream in data.get("streams") or []:
        if stream.get("codec_type") == "video":
            rates = (stream.get("avg_frame_rate"), stream.get("r_frame_rate"))
            per_second += max(_rate(str(rate or "0/1")) for rate in rates)
        elif stream.get("codec_type") == "audio":
            per_second += float(stream.get("sample_rate") or 48000) / 960  # Opus: shortest frames
    return MOOV_BASE + int(duration * per_second * MOOV_PER_SAMPLE)


def _rate(fraction: str) -> float:
    """Frames per second from ffprobe's ``num/den``: at most 120 (Matroska may say 1000/1), 60
    when unknown."""
    number, _, denominator = fraction.partition("/")
    try:
        value = float(number) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        value = 0.0
    return min(value, 120.0) if value > 0 else 60.0
