"""7z and zip releases: made by libarchive (``bsdtar --format 7zip``) and Python's ``zipfile`` at test
time, and encrypted ones by the real 7-Zip (``tests/fixtures/archives``). Which one a file is, its
bytes say; a password is class ``password``; hostile entries are refused before anything is written."""

from __future__ import annotations

import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from downloader.post.sniff import Kind, sniff
from downloader.post.unpack import UnpackError, main_video, unpack_release

ARCHIVES = Path(__file__).parent / "fixtures" / "archives"
MOVIE = b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 400  # EBML magic: a Matroska by its bytes
needs_bsdtar = pytest.mark.skipif(shutil.which("bsdtar") is None, reason="needs bsdtar (.ci/run)")


def release_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "Movie.2024.mkv").write_bytes(MOVIE)
    (folder / "Movie.2024.nfo").write_text("notes")
    return folder


def make_7z(tmp_path: Path, name: str = "release.7z") -> Path:
    folder = release_folder(tmp_path)
    archive = tmp_path / name
    subprocess.run(
        ["bsdtar", "--format", "7zip", "-cf", str(archive), "-C", str(folder), "."], check=True
    )
    return archive


def make_zip(tmp_path: Path, name: str = "release.zip") -> Path:
    folder = release_folder(tmp_path)
    archive = tmp_path / name
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(folder.iterdir()):
            out.write(path, path.name)
    return archive


@needs_bsdtar
@pytest.mark.parametrize("make", [make_7z, make_zip], ids=["7z", "zip"])
@pytest.mark.parametrize("name", ["release.archive", "a8f3e1c09b"], ids=["named", "obfuscated"])
def test_the_movie_comes_out_whole_whatever_the_archive_is_called(
    tmp_path: Path, make: object, name: str
) -> None:
    archive = make(tmp_path, name)  # type: ignore[operator]

    files = unpack_release([archive], tmp_path / "unpacked")

    movie = main_video(files)
    assert movie.name == "Movie.2024.mkv"
    assert movie.read_bytes() == MOVIE
    assert archive not in files  # the archive itself is not a release file


@needs_bsdtar
def test_an_archive_inside_an_archive_is_opened_too(tmp_path: Path) -> None:
    (tmp_path / "inner").mkdir()
    inner = make_7z(tmp_path / "inner")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as out:
        out.write(inner, "inner.7z")

    movie = main_video(unpack_release([outer], tmp_path / "unpacked"))

    assert movie.read_bytes() == MOVIE


@needs_bsdtar
@pytest.mark.parametrize(
    "name",
    ["7z-encrypted-content.7z", "7z-encrypted-headers.7z", "zip-encrypted.zip", "zip-aes.zip"],
)
def test_an_encrypted_archive_is_a_password_problem(tmp_path: Path, name: str) -> None:
    archive = Path(shutil.copy(ARCHIVES / name, tmp_path / "obfuscated"))

    with pytest.raises(UnpackError) as caught:
        unpack_release([archive], tmp_path / "unpacked")

    assert caught.value.error_class == "password"
    assert str(caught.value) == "password-protected archive"


@pytest.mark.parametrize("name", ["zip-encrypted.zip", "zip-aes.zip"])
def test_a_zip_says_it_needs_a_password_in_its_first_bytes(name: str) -> None:
    """So the early check can refuse it before the rest of the release is downloaded."""
    assert sniff(ARCHIVES / name).encrypted
    assert sniff(ARCHIVES / name).kind is Kind.ZIP


def test_a_plain_zip_does_not_say_so(tmp_path: Path) -> None:
    assert not sniff(make_zip(tmp_path)).encrypted


@pytest.mark.parametrize("entry", ["../escaped.mkv", "/etc/cron.d/evil", "C:\\evil.mkv"])
def test_unsafe_zip_entries_are_refused_before_writing(tmp_path: Path, entry: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(zipfile.ZipInfo(entry), MOVIE)

    with pytest.raises(UnpackError, match="unsafe path"):
        unpack_release([archive], tmp_path / "unpacked")

    assert not (tmp_path / "escaped.mkv").exists()
    assert not any((tmp_path / "unpacked").glob("**/*"))


def test_a_link_in_a_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    link = zipfile.ZipInfo("movie.mkv")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(link, "/etc/passwd")

    with pytest.raises(UnpackError, match="contains a link"):
        unpack_release([archive], tmp_path / "unpacked")


@needs_bsdtar
def test_a_broken_7z_is_named_without_the_workers_paths(tmp_path: Path) -> None:
    archive = make_7z(tmp_path)
    archive.write_bytes(archive.read_bytes()[:200])

    with pytest.raises(UnpackError) as caught:
        unpack_release([archive], tmp_path / "unpacked")

    assert caught.value.error_class == "unpack"
    assert str(caught.value).startswith("release.7z could not be extracted (")
    assert str(tmp_path) not in str(caught.value)
