"""Unpacking releases: RAR sets (old and new volume naming, RAR3/RAR5), safely, then the main video.

Backends: stored (``-m0``) sets, how movie releases are usually packed, need no external tool; for
compressed ones rarfile shells out to ``unar`` (handles RAR3 solid) or ``bsdtar`` (handles RAR5 solid),
and we try the other when one fails. Debian's 7-Zip builds lack RAR support, so they are disabled.

Archives are hostile input: entries with absolute paths, ``..`` components, symlinks or hard links are
refused before anything is written, and every written path is checked to stay inside the target.
``inspect`` works on a lone first volume, so a password is detected before the rest is downloaded.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import rarfile

from downloader.post.recognise import name_by_content, volume_number
from downloader.post.sniff import sniff

VIDEO_EXTENSIONS = frozenset(
    {".mkv", ".mp4", ".m4v", ".avi", ".mov", ".wmv", ".ts", ".m2ts", ".mpg", ".mpeg", ".webm"}
)
EXTRA_WORDS = re.compile(
    r"(?i)(?:^|[^a-z])(sample|trailer|featurette|extras?|behind.the.scenes)(?:[^a-z]|$)"
)
#: The external tools rarfile may use for compressed sets, in the order tried (the container image
#: installs each; tests/downloader/test_dockerfile.py checks that from this tuple).
BACKENDS = ("unar", "bsdtar")


class UnpackError(Exception):
    """A release that cannot be unpacked; the message is meant for the job's error_message and
    ``error_class`` for the JobsFailed metric (a bad release, not something an operator fixes)."""

    def __init__(self, message: str, error_class: str = "unpack") -> None:
        super().__init__(message)
        self.error_class = error_class


@dataclass(frozen=True)
class ArchiveInfo:
    first_volume: Path
    encrypted: bool
    members: tuple[str, ...]


def first_volumes(files: list[Path]) -> list[Path]:
    """The first volume of every RAR set among ``files`` (``x.part01.rar`` or ``x.rar`` + ``.r00``…)."""
    return [path for path in sorted(files) if volume_number(path.name) == 0]


def is_rar_volume(path: Path) -> bool:
    return volume_number(path.name) is not None


def inspect(first_volume: Path) -> ArchiveInfo:
    """List a set from its first volume alone; refuses unsafe entries. Encryption is reported, not
    raised, so callers can say "password-protected" as early as they like."""
    try:
        archive = rarfile.RarFile(first_volume)
    except rarfile.Error as exc:
        raise UnpackError(f"{first_volume.name} is not a readable RAR archive ({exc})") from None
    with archive:
        if archive.needs_password():
            return ArchiveInfo(first_volume, True, ())
        members = []
        for info in archive.infolist():
            _check_entry(info)
            if not info.is_dir():
                members.append(info.filename)
    if not members:
        raise UnpackError(f"{first_volume.name} is not a readable RAR archive (no files in it)")
    return ArchiveInfo(first_volume, False, tuple(members))


def extract(first_volume: Path, target: Path) -> list[Path]:
    """Extract a (safe, unencrypted) set into ``target``; returns the files written."""
    info = inspect(first_volume)
    if info.encrypted:
        raise UnpackError("password-protected archive", "password")
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    failures = []
    for backend in BACKENDS:
        _use_backend(backend)
        try:
            with rarfile.RarFile(first_volume) as archive:
                archive.extractall(path=root)
            break
        except (rarfile.Error, OSError) as exc:
            failures.append(f"{backend}: {exc}")
    else:
        raise UnpackError(f"the archive could not be extracted ({'; '.join(failures)})")
    written = [root / name for name in info.members]
    for path in written:
        if not path.resolve().is_relative_to(root) or path.is_symlink():
            raise UnpackError("the archive tried to write outside its folder")
    return [path for path in written if path.is_file()]


def unpack_release(files: list[Path], target: Path) -> list[Path]:
    """Every file of the release after unpacking: its RAR sets extracted, and archives found inside
    those extracted once more (nested archives, one level), other files kept as they are."""
    loose = [path for path in files if not is_rar_volume(path) and path.suffix.lower() != ".par2"]
    extracted: list[Path] = []
    for first in first_volumes(files):
        extracted += extract(first, target)
    inner = first_volumes([path for path in extracted if is_rar_volume(path)])
    nested: list[Path] = []
    for first in inner:
        nested += extract(first, target / f"{first.stem}.unpacked")
    plain = [path for path in extracted if not is_rar_volume(path)]
    return loose + plain + nested


def main_video(files: list[Path]) -> Path:
    """The movie: the largest video file, ignoring samples, trailers and extras when anything else
    exists. A file is a video when its bytes say so, whatever its name (obfuscated releases hide
    the movie as ``a8f3e1`` inside the archive too); it is given the extension its container calls
    for, so the content type of a file uploaded as it is comes out right."""
    videos = [
        path
        for path in name_by_content(files)
        if path.suffix.lower() in VIDEO_EXTENSIONS or sniff(path).is_video
    ]
    if not videos:
        raise UnpackError("no video file in release", "no_video")
    features = [path for path in videos if not EXTRA_WORDS.search(str(path.name))] or videos
    return max(features, key=lambda path: path.stat().st_size)


def _check_entry(info: rarfile.RarInfo) -> None:
    name = info.filename
    if info.is_symlink() or getattr(info, "file_redir", None):
        raise UnpackError(f"the archive contains a link ({name}); refused")
    for flavour in (PurePosixPath(name), PureWindowsPath(name)):
        if flavour.is_absolute() or flavour.drive or ".." in flavour.parts:
            raise UnpackError(f"the archive contains an unsafe path ({name}); refused")


def _use_backend(name: str) -> None:
    rarfile.tool_setup(
        unrar=False,
        unar=name == "unar" and shutil.which("unar") is not None,
        bsdtar=name == "bsdtar" and shutil.which("bsdtar") is not None,
        sevenzip=False,
        sevenzip2=False,
        force=True,
    )
