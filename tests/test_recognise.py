"""Telling files apart by their bytes, on archives made by the real ``rar`` (rarfile's fixtures).

Each set is copied under random names with no extension, as obfuscated releases are posted; what
comes back must be what rarfile can open from its first volume and extract whole.
"""

from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path

import pytest
import rarfile

from downloader.post.recognise import join_split_files, missing_volumes, name_by_content
from downloader.post.sniff import Kind, sniff
from downloader.post.unpack import extract, first_volumes

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rar"
SETS = {
    "rar4 new naming": ["rar3-vols.part1.rar", "rar3-vols.part2.rar", "rar3-vols.part3.rar"],
    "rar4 old naming": ["rar3-old.rar", "rar3-old.r00", "rar3-old.r01"],
    "rar5": ["rar5-vols.part1.rar", "rar5-vols.part2.rar", "rar5-vols.part3.rar"],
}


def scrambled(names: list[str], folder: Path, seed: int = 7) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    order = list(names)
    random.Random(seed).shuffle(order)
    paths = []
    for name in order:
        path = folder / uuid.uuid4().hex
        shutil.copy(FIXTURES / name, path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("kind", sorted(SETS))
def test_a_scrambled_set_is_named_in_volume_order_and_extracts(kind: str, tmp_path: Path) -> None:
    names = name_by_content(scrambled(SETS[kind], tmp_path / "in"))
    [first] = first_volumes(names)
    volume = sniff(first).rar
    assert volume is not None
    assert volume.first
    written = extract(first, tmp_path / "out")
    with rarfile.RarFile(FIXTURES / SETS[kind][0]) as original:
        expected = sorted(original.read(info) for info in original.infolist())
    assert sorted(path.read_bytes() for path in written) == expected


def test_two_sets_of_the_same_file_stay_apart(tmp_path: Path) -> None:
    paths = scrambled(SETS["rar4 new naming"] + SETS["rar5"], tmp_path)
    names = name_by_content(paths)
    assert len(first_volumes(names)) == 2
    assert len({path.name for path in names}) == 6


def test_a_missing_volume_is_named(tmp_path: Path) -> None:
    paths = scrambled(SETS["rar5"], tmp_path)
    middle = next(p for p in paths if sniff(p).rar and sniff(p).rar.number == 1)  # type: ignore[union-attr]
    middle.unlink()
    assert missing_volumes(tmp_path.iterdir()) == "volume 2 of 3 is missing"


def test_header_encryption_is_seen_without_the_password() -> None:
    found = sniff(FIXTURES / "rar5-hpsw.rar")
    assert found.kind is Kind.RAR
    assert found.rar is not None
    assert found.rar.encrypted_headers


@pytest.mark.parametrize(
    ("head", "kind", "extension"),
    [
        (b"\x1a\x45\xdf\xa3" + bytes(60), Kind.MATROSKA, ".mkv"),
        (b"\x00\x00\x00\x20ftypisom" + bytes(52), Kind.MP4, ".mp4"),
        (b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(48), Kind.AVI, ".avi"),
        (b"".join(b"\x47" + bytes(187) for _ in range(6)), Kind.MPEG_TS, ".ts"),
        (b"PAR2\x00PKT" + bytes(56), Kind.PAR2, ".par2"),
        (b"7z\xbc\xaf\x27\x1c" + bytes(58), Kind.SEVEN_ZIP, ".7z"),
        (b"PK\x03\x04" + bytes(60), Kind.ZIP, ".zip"),
    ],
)
def test_containers_get_the_extension_their_bytes_call_for(
    tmp_path: Path, head: bytes, kind: Kind, extension: str
) -> None:
    path = tmp_path / "a8f3e1c0"
    path.write_bytes(head)
    assert sniff(path).kind is kind
    assert [p.name for p in name_by_content([path])] == [f"a8f3e1c0{extension}"]


def test_plain_bytes_keep_their_name(tmp_path: Path) -> None:
    path = tmp_path / "notes"
    path.write_bytes(b"just text\n" * 10)
    assert name_by_content([path]) == [path]


def test_split_pieces_join_in_order_and_a_gap_is_named(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    for number in range(3):
        (tmp_path / f"movie.mkv.{number + 1:03d}").write_bytes(
            data[number * 9000 : (number + 1) * 9000]
        )
    [joined] = join_split_files(sorted(tmp_path.iterdir()))
    assert joined.name == "movie.mkv"
    assert joined.read_bytes() == data[:27000]
    for number in (1, 3):
        (tmp_path / f"b.bin.{number:03d}").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"piece 002 of b\.bin is missing"):
        join_split_files(sorted(tmp_path.iterdir()))
