"""Unpacking real RAR sets (rarfile's own test archives): naming schemes, backends, hostile input."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import pytest

from downloader.post.unpack import (
    UnpackError,
    extract,
    first_volumes,
    inspect,
    main_video,
    unpack_release,
)

RAR = Path(__file__).parent / "fixtures" / "rar"
BIGFILE_CRC = 0x509AD74C  # vols/bigfile.txt, 205,000 bytes
SOLID_CRC = 0xC5B7E6A2  # stest1.txt, 2,048 bytes


def copy_set(tmp_path: Path, *names: str) -> list[Path]:
    folder = tmp_path / "download"
    folder.mkdir(exist_ok=True)
    return [Path(shutil.copy(RAR / name, folder / name)) for name in names]


def test_first_volumes_of_both_naming_schemes() -> None:
    names = [
        "a.part01.rar",
        "a.part02.rar",
        "b.rar",
        "b.r00",
        "b.r01",
        "c.part1.rar",
        "c.part2.rar",
        "movie.nfo",
        "repair.vol00+01.par2",
    ]
    assert [p.name for p in first_volumes([Path(n) for n in names])] == [
        "a.part01.rar",
        "b.rar",
        "c.part1.rar",
    ]


@pytest.mark.parametrize(
    "names",
    [
        ("rar3-old.rar", "rar3-old.r00", "rar3-old.r01"),
        ("rar3-vols.part1.rar", "rar3-vols.part2.rar", "rar3-vols.part3.rar"),
        ("rar5-vols.part1.rar", "rar5-vols.part2.rar", "rar5-vols.part3.rar"),
    ],
    ids=["rar3-old-naming", "rar3-partN", "rar5-partN"],
)
def test_multi_volume_sets_extract_intact(tmp_path: Path, names: tuple[str, ...]) -> None:
    files = copy_set(tmp_path, *names)

    written = unpack_release(files, tmp_path / "out")

    big = next(path for path in written if path.name == "bigfile.txt")
    assert big.stat().st_size == 205_000
    assert zlib.crc32(big.read_bytes()) == BIGFILE_CRC
    assert {path.name for path in written} == {"bigfile.txt", "smallfile.txt"}


@pytest.mark.skipif(
    not (shutil.which("unar") and shutil.which("bsdtar")), reason="needs unar and bsdtar (.ci/run)"
)
@pytest.mark.parametrize("name", ["rar3-solid.rar", "rar5-solid.rar"])
def test_compressed_solid_archives_use_whichever_backend_works(tmp_path: Path, name: str) -> None:
    written = extract(copy_set(tmp_path, name)[0], tmp_path / "out")

    first = next(path for path in written if path.name == "stest1.txt")
    assert zlib.crc32(first.read_bytes()) == SOLID_CRC


def test_a_lone_first_volume_is_enough_to_list_the_set(tmp_path: Path) -> None:
    [first] = copy_set(tmp_path, "rar5-vols.part1.rar")

    info = inspect(first)

    assert not info.encrypted
    assert "vols/bigfile.txt" in info.members


@pytest.mark.parametrize("name", ["rar5-psw.rar", "rar5-hpsw.rar"])
def test_passwords_are_detected_from_the_first_volume(tmp_path: Path, name: str) -> None:
    [first] = copy_set(tmp_path, name)

    assert inspect(first).encrypted
    with pytest.raises(UnpackError, match="password-protected archive"):
        extract(first, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["rar5-evil-symlink-traversal.rar", "rar3-symlink-unix.rar"])
def test_links_in_archives_are_refused_before_writing(tmp_path: Path, name: str) -> None:
    [first] = copy_set(tmp_path, name)
    before = set(tmp_path.rglob("*"))

    with pytest.raises(UnpackError, match="link"):
        extract(first, tmp_path / "out" / "job")

    assert set(tmp_path.rglob("*")) == before  # nothing written, inside or outside


def test_garbage_is_not_an_archive(tmp_path: Path) -> None:
    fake = tmp_path / "movie.part01.rar"
    fake.write_bytes(b"Rar!\x1a\x07\x00 but not really")

    with pytest.raises(UnpackError, match="not a readable RAR archive"):
        inspect(fake)


def test_main_video_is_the_largest_feature_not_the_sample(tmp_path: Path) -> None:
    sizes = {
        "Movie.2020.1080p-GRP.mkv": 3000,
        "Sample/movie-sample.mkv": 5000,
        "Movie.2020.Trailer.mp4": 4000,
        "Featurettes/behind.the.scenes.mkv": 6000,
        "movie.nfo": 9000,
    }
    paths = []
    for name, size in sizes.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        paths.append(path)

    assert main_video(paths).name == "Movie.2020.1080p-GRP.mkv"


def test_a_release_without_video_says_so(tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello")

    with pytest.raises(UnpackError, match="no video file in release"):
        main_video([text])
