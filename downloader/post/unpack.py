"""Unpacking releases: RAR sets (old and new volume naming, RAR3/RAR5), 7z and zip, safely, then the
main video.

RAR backends: stored (``-m0``) sets, how movie releases are usually packed, need no external tool; for
compressed ones rarfile shells out to ``unar`` (handles RAR3 solid) or ``bsdtar`` (handles RAR5 solid),
and we try the other when one fails. Debian's 7-Zip builds lack RAR support, so they are disabled.
7z goes to ``bsdtar`` (libarchive reads it and says when it is encrypted); zip to Python's
``zipfile``. Which one a file is, its bytes say (a split ``x.7z.001`` … is joined before this).

Archives are hostile input: entries with absolute paths, ``..`` components, symlinks or hard links are
refused before anything is written, and every written path is checked to stay inside the target.
``inspect`` works on a lone first volume, so a password is detected before the rest is downloaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import rarfile

from chalicelib.domain.jobs import ErrorClass
from downloader.post.recognise import name_by_content
from downloader.post.sniff import Kind, sniff
from downloader.volume_names import volume_number

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

    def __init__(self, message: str, error_class: ErrorClass = "unpack") -> None:
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
    root = _root(target)
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
    return _written(root, list(info.members))


def unpack_release(files: list[Path], target: Path) -> list[Path]:
    """Every file of the release after unpacking: its archives (RAR sets, 7z, zip) extracted, and
    archives found inside those extracted once more (nested archives, one level), other files kept
    as they are."""
    loose = [path for path in files if not _is_archive_part(path)]
    extracted: list[Path] = []
    for archive in _archives(files):
        extracted += extract_archive(archive, target)
    nested: list[Path] = []
    for archive in _archives(extracted):
        nested += extract_archive(archive, target / f"{archive.stem}.unpacked")
    plain = [path for path in extracted if not _is_archive_part(path)]
    return loose + plain + nested


def extract_archive(path: Path, target: Path) -> list[Path]:
    """Extract the archive at ``path`` (a RAR first volume, a 7z or a zip) into ``target``."""
    kind = sniff(path).kind
    if kind is Kind.ZIP:
        return _extract_zip(path, target)
    if kind is Kind.SEVEN_ZIP:
        return _extract_7z(path, target)
    return extract(path, target)


def _archives(files: list[Path]) -> list[Path]:
    """The archives to extract among ``files``: each RAR set's first volume, every 7z and zip."""
    other = [p for p in sorted(files) if sniff(p).kind in (Kind.ZIP, Kind.SEVEN_ZIP)]
    return first_volumes(files) + other


def _is_archive_part(path: Path) -> bool:
    return (
        is_rar_volume(path)
        or path.suffix.lower() == ".par2"
        or sniff(path).kind in (Kind.ZIP, Kind.SEVEN_ZIP, Kind.PAR2)
    )


def _extract_zip(path: Path, target: Path) -> list[Path]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnpackError(f"{path.name} is not a readable zip archive ({exc})") from None
    with archive:
        entries = archive.infolist()
        if any(entry.flag_bits & 0x1 for entry in entries):  # ZipCrypto and WinZip AES alike
            raise UnpackError("password-protected archive", "password")
        for entry in entries:
            if (entry.external_attr >> 16) & 0o170000 == 0o120000:
                raise UnpackError(f"the archive contains a link ({entry.filename}); refused")
            _check_name(entry.filename)
        root = _root(target)
        try:
            archive.extractall(root)
        except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
            raise UnpackError(f"{path.name} could not be extracted ({exc})") from None
    return _written(root, [entry.filename for entry in entries if not entry.is_dir()])


def _extract_7z(path: Path, target: Path) -> list[Path]:
    names = _bsdtar(path, "-tf").splitlines()
    for name in names:
        _check_name(name)
    root = _root(target)
    _bsdtar(path, "-xf", "-C", str(root))  # bsdtar also refuses ``..`` and absolute paths itself
    return _written(root, [name for name in names if not name.endswith("/")])


def _bsdtar(path: Path, *arguments: str) -> str:
    if shutil.which("bsdtar") is None:
        raise UnpackError("7z archives need bsdtar (libarchive-tools), which is not installed")
    done = subprocess.run(
        ["bsdtar", *arguments[:1], path.name, *arguments[1:]],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0:
        return done.stdout
    if "encrypted" in done.stderr:
        raise UnpackError("password-protected archive", "password")
    said = (line.removeprefix("bsdtar: ").strip() for line in done.stderr.splitlines())
    reason = next((line for line in said if line and line != "(null)"), "damaged or incomplete")
    raise UnpackError(f"{path.name} could not be extracted ({reason})")


def _root(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    return target.resolve()


def _written(root: Path, names: list[str]) -> list[Path]:
    """The extracted files, after checking that none is a link or lies outside ``root``."""
    written = [root / name for name in names]
    for path in written:
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            raise UnpackError("the archive tried to write outside its folder")
    return [path for path in written if path.is_file()]


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
    if info.is_symlink() or getattr(info, "file_redir", None):
        raise UnpackError(f"the archive contains a link ({info.filename}); refused")
    _check_name(info.filename)


def _check_name(name: str) -> None:
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
