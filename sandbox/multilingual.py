"""A film as many real releases carry it: a dub first, the original second, and subtitle tracks.

Italian audio first and flagged default (as an Italian release orders them), English second, an
English SubRip track and a forced English track (the lines of a foreign-language scene). Each audio
track is a tone of its own pitch, so a listener, or a test, can tell which one plays. The cues are
known here (``CUES``), so a test can check the WebVTT the downloader makes keeps their times.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

#: (start, end, text) of each subtitle track, in seconds.
CUES: dict[str, list[tuple[float, float, str]]] = {
    "full": [(0.5, 1.5, "Where were you?"), (2.0, 3.25, "Out. Looking for the cat.")],
    "forced": [(1.0, 2.5, "[in Italian] Not here, not now.")],
}
#: Audio tracks in file order: (ISO 639-2 language, title, tone in Hz).
AUDIO = (("ita", "Italiano", 330), ("eng", "English", 440))


def srt(cues: list[tuple[float, float, str]]) -> str:
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        hours, minutes = millis // 3_600_000, millis // 60_000 % 60
        return f"{hours:02d}:{minutes:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    return "".join(
        f"{number}\n{stamp(start)} --> {stamp(end)}\n{text}\n\n"
        for number, (start, end, text) in enumerate(cues, start=1)
    )


def make_multilingual_movie(path: Path, seconds: float, *, size: str = "640x360") -> None:
    """H.264 video, AAC Italian (default) + English audio, English and forced English SubRip.

    Encoded first, subtitles muxed in by a second run that copies: the AAC encoder's priming delay
    shifts every stream of the run that encodes, and the cues must keep the times ``CUES`` says.
    """
    folder = path.parent
    encoded = folder / f".{path.stem}.av.mkv"
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration={seconds}"]
    for _, _, tone in AUDIO:
        inputs += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone}:sample_rate=48000:duration={seconds}",
        ]
    maps = ["-map", "0:v"]
    for number in range(len(AUDIO)):
        maps += ["-map", f"{1 + number}:a"]
    _ffmpeg(
        *inputs,
        *maps,
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "48"),
        *("-c:a", "aac", "-b:a", "96k", "-t", str(seconds), str(encoded)),
    )
    subtitle_files = []
    for name, cues in CUES.items():
        file = folder / f".{path.stem}.{name}.srt"
        file.write_text(srt(cues), encoding="utf-8")
        subtitle_files.append(file)
    tags: list[str] = []
    for number, (language, title, _) in enumerate(AUDIO):
        tags += [f"-metadata:s:a:{number}", f"language={language}"]
        tags += [f"-metadata:s:a:{number}", f"title={title}"]
    tags += ["-disposition:a:0", "default", "-disposition:a:1", "0"]
    tags += ["-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=English"]
    tags += ["-metadata:s:s:1", "language=eng", "-metadata:s:s:1", "title=Forced"]
    tags += ["-disposition:s:0", "0", "-disposition:s:1", "forced"]
    inputs = ["-i", str(encoded)]
    maps = ["-map", "0"]
    for number, file in enumerate(subtitle_files, start=1):
        inputs += ["-i", str(file)]
        maps += ["-map", f"{number}:s"]
    _ffmpeg(*inputs, *maps, "-c", "copy", "-c:s", "srt", *tags, str(path))
    for file in (encoded, *subtitle_files):
        file.unlink()


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *arguments], check=True)
