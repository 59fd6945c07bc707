"""Making the movie play in a browser: probe it, then remux (never re-encode video) to MP4.

Policy, chosen for what browsers play natively and what costs little CPU on a Fargate task:

- Video H.264, HEVC or AV1 in any container → MP4 with ``-c:v copy`` and the index up front, so
  playback starts before the whole file has arrived: reserved before writing (``-moov_size``) when
  a ``Follower`` uploads the file as it grows, else moved there after writing (``+faststart``).
  H.264 and AV1 play in every current browser; HEVC plays where the platform decodes it (Safari,
  Edge, Chrome with hardware support).
- Audio: one track, the MP4's first and default (``tracks.choose_audio``: the film's original
  language, else English, never a commentary or audio description). AAC, MP3 and Opus are copied;
  anything else (AC3, E-AC3, DTS, TrueHD…, which most browsers cannot play) is transcoded to AAC,
  which is cheap next to video. Other audio tracks and subtitles are dropped from the MP4; text
  subtitles become WebVTT files beside it, made by the same ffmpeg run (``subtitles``).
- Any other video codec (XviD/MPEG-4 ASP, VC-1, MPEG-2) cannot be fixed without re-encoding the video,
  so the file is uploaded as it is, with its proper content type.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chalicelib.logs import logger
from downloader.post import subtitles
from downloader.post.ffmpeg import ON_PATH, FFmpeg, MediaError, MediaStopped
from downloader.post.subtitles import Subtitle
from downloader.post.tracks import AudioTrack, audio_tracks, choose_audio, describe_audio

PLAYABLE_VIDEO = frozenset({"h264", "hevc", "av1"})
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".mov": "video/quicktime",
    ".wmv": "video/x-ms-wmv",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
}


@dataclass(frozen=True)
class Probe:
    container: str
    video_codec: str | None
    audio: tuple[AudioTrack, ...]
    duration_seconds: float | None
    subtitles: tuple[Subtitle, ...] = ()


@dataclass(frozen=True)
class Plan:
    """``remux`` (copy video, copy or transcode one audio track) or ``as_is``."""

    action: str
    audio_index: int | None = None
    transcode_audio: bool = False
    #: What the job says about the audio (``tracks.describe_audio``).
    audio: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    path: Path
    extension: str
    content_type: str
    original_container: str
    remuxed: bool
    #: What the job says about the file's tracks (``audio``), JSON-ready.
    media: dict[str, Any] = field(default_factory=dict)
    #: The movie's subtitle tracks, with the WebVTT file of each one converted.
    subtitles: tuple[Subtitle, ...] = ()


class Follower(Protocol):
    """Whatever reads the MP4 while ffmpeg writes it (the upload, ``growing_upload``)."""

    def writing(
        self, target: Path, probed: dict[str, Any], container: str
    ) -> AbstractContextManager[list[str]]:
        """Around the ffmpeg run writing ``target``: gives the options that put the index up front
        (``-moov_size``, reserved from ``probed``), and raises when what was written will not do."""
        ...


def probe(path: Path, *, tools: FFmpeg = ON_PATH) -> Probe:
    return parse_probe(tools.probe(path))


def parse_probe(data: dict[str, Any]) -> Probe:
    streams = data.get("streams") or []
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = audio_tracks(streams)
    fmt = data.get("format") or {}
    duration = fmt.get("duration")
    return Probe(
        container=str(fmt.get("format_name", "")),
        video_codec=str(video["codec_name"]) if video else None,
        audio=audio,
        duration_seconds=float(duration) if duration else None,
        subtitles=subtitles.embedded(streams),
    )


def plan(found: Probe, original_language: str | None = None) -> Plan:
    """How to make ``found`` playable; ``original_language`` (ISO 639-1) picks the audio track."""
    choice = choose_audio(found.audio, original_language)
    audio = describe_audio(found.audio, choice, original_language)
    if found.video_codec not in PLAYABLE_VIDEO:
        return Plan("as_is", audio={**audio, "chosen": None, "reason": "the file is kept as it is"})
    if choice is None:
        return Plan("remux", audio=audio)
    return Plan(
        "remux", audio_index=choice.track.index, transcode_audio=choice.transcode, audio=audio
    )


def prepare(
    source: Path,
    out_dir: Path,
    *,
    original_language: str | None = None,
    tools: FFmpeg = ON_PATH,
    follower: Follower | None = None,
) -> Prepared:
    """The file to upload: an MP4 remux when the codecs allow it, else ``source`` unchanged.

    With a ``follower`` the MP4 is first written with its index reserved at the front, the
    follower reading it as it grows. Should that fail (the reserve too small, say) the remux runs
    again with ``+faststart``, which moves the index to the front after writing: a movie ffmpeg
    cannot remux at all fails twice, and only its second failure is raised."""
    probed = tools.probe(source)
    found = parse_probe(probed)
    if found.video_codec is None:
        raise MediaError(f"{source.name} has no video stream")
    chosen = plan(found, original_language)
    extra, planned = subtitles.output_arguments(found.subtitles, _fresh(out_dir / "subtitles"))
    if chosen.action == "as_is":
        extension = source.suffix.lower() or ".bin"
        if extra:
            planned = _converting(tools, ["-i", str(source)], extra, planned, optional=True)
        return Prepared(
            source,
            extension,
            CONTENT_TYPES.get(extension, "application/octet-stream"),
            found.container,
            remuxed=False,
            media={"audio": chosen.audio},
            subtitles=planned,
        )
    target = out_dir / "movie.mp4"
    movie = ["-i", str(source), *remux_arguments(found, chosen)]
    converted = None
    if follower is not None:
        try:
            with follower.writing(target, probed, found.container) as index:
                command = [*movie, *index, str(target)]
                written = _converting(tools, command, extra, planned, optional=False)
            converted = written  # only once the follower took the file as written
        except MediaStopped:
            raise
        except (MediaError, ValueError) as error:
            logger.warning(
                "remuxing again with the index moved after writing",
                extra={"reason": str(error)},
            )
    if converted is None:
        command = [*movie, "-movflags", "+faststart", str(target)]
        converted = _converting(tools, command, extra, planned, optional=False)
    return Prepared(
        target,
        ".mp4",
        "video/mp4",
        found.container,
        remuxed=True,
        media={"audio": chosen.audio},
        subtitles=converted,
    )


def _converting(
    tools: FFmpeg,
    command: list[str],
    extra: list[str],
    planned: tuple[Subtitle, ...],
    *,
    optional: bool,
) -> tuple[Subtitle, ...]:
    """Run ``command`` with the subtitle outputs; if that fails, without them (the movie matters
    more than its subtitles), the subtitles then saying why. ``optional``: the command only
    converts subtitles, so its failure is theirs alone."""
    failure = "the video could not be converted for browsers"
    try:
        tools.run([*command, *extra], failure)
    except MediaError as error:
        if not extra or isinstance(error, MediaStopped):
            raise
        if not optional:
            tools.run(command, failure)
        return subtitles.failed(planned, f"not converted: {error}")
    return subtitles.converted(planned)


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remux_arguments(found: Probe, chosen: Plan) -> list[str]:
    """ffmpeg's output options for a ``remux`` plan, shared with the streaming tail so both paths
    keep the same streams; where the index goes (``+faststart`` or ``-moov_size``) is the caller's."""
    arguments = ["-map", "0:v:0"]
    if chosen.audio_index is not None:
        arguments += ["-map", f"0:{chosen.audio_index}", "-disposition:a:0", "default"]
        arguments += ["-c:a", "aac", "-b:a", "192k"] if chosen.transcode_audio else ["-c:a", "copy"]
    arguments += ["-c:v", "copy", "-sn", "-dn"]
    if found.video_codec == "hevc":
        arguments += ["-tag:v", "hvc1"]  # what Safari and Apple players require for HEVC in MP4
    return arguments
