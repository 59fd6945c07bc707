"""Browser-playable output, checked with real ffmpeg/ffprobe on clips made by the tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from downloader.post.ffmpeg import MediaError
from downloader.post.remux import prepare, probe

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)"
)


def make_clip(
    path: Path, video: list[str], audio: list[list[str]], extra: list[str] | None = None
) -> Path:
    """A 1-second test pattern with the given encoders (audio: one list of options per track)."""
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=24:duration=1",
    ]
    for _ in audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    command += ["-map", "0:v"]
    for index in range(1, len(audio) + 1):
        command += ["-map", f"{index}:a"]
    command += video
    for track, options in enumerate(audio):
        command += [f"-c:a:{track}", *options]
    command += [*(extra or []), str(path)]
    subprocess.run(command, check=True)
    return path


def atom_order(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return data.find(b"moov"), data.find(b"mdat")


def test_h264_aac_mkv_is_remuxed_to_a_faststart_mp4(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mkv", ["-c:v", "libx264", "-preset", "ultrafast"], [["aac"]])

    result = prepare(source, tmp_path)

    assert (result.extension, result.content_type, result.remuxed) == (".mp4", "video/mp4", True)
    assert result.original_container == "matroska,webm"
    found = probe(result.path)
    assert found.video_codec == "h264"
    assert [track.codec for track in found.audio] == ["aac"]
    assert found.duration_seconds is not None
    assert 0.9 < found.duration_seconds < 1.2
    moov, mdat = atom_order(result.path)
    assert 0 <= moov < mdat  # the index comes first: playback starts before the download ends


def test_audio_browsers_cannot_play_is_transcoded_to_aac(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mkv", ["-c:v", "libx264", "-preset", "ultrafast"], [["ac3"]])

    result = prepare(source, tmp_path)

    found = probe(result.path)
    assert (found.video_codec, [t.codec for t in found.audio]) == ("h264", ["aac"])


def test_a_playable_second_track_is_copied_rather_than_transcoding(tmp_path: Path) -> None:
    source = make_clip(
        tmp_path / "in.mkv",
        ["-c:v", "libx264", "-preset", "ultrafast"],
        [["ac3"], ["libopus"]],
    )

    result = prepare(source, tmp_path)

    assert [t.codec for t in probe(result.path).audio] == ["opus"]


def test_xvid_avi_is_uploaded_as_it_is(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.avi", ["-c:v", "mpeg4"], [["libmp3lame"]])

    result = prepare(source, tmp_path)

    assert (result.path, result.content_type, result.remuxed) == (source, "video/x-msvideo", False)


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "movie.mkv"
    fake.write_text("definitely not a matroska file")

    with pytest.raises(MediaError, match="could not be read"):
        prepare(fake, tmp_path)


def test_audio_only_files_are_refused(tmp_path: Path) -> None:
    sound = tmp_path / "sound.mka"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-c:a",
            "aac",
            str(sound),
        ],
        check=True,
    )

    with pytest.raises(MediaError, match="no video stream"):
        prepare(sound, tmp_path)
