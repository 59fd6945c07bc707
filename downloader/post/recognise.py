"""Giving downloaded files the names their bytes call for, and finding what a release lacks.

par2 restores the real names when the release carries an index (``par2.restore_names``). Without one,
or for what it does not cover, the bytes decide (``sniff``): RAR volumes are ordered by the numbers
in their headers and named ``<stem>.partNN.rar`` unless their names already agree with those numbers;
a video, par2, 7z or zip file whose name does not say so gets the extension that does. Split files
(``movie.mkv.001`` …) are joined in order. What is missing is said in a person's words: "volume 3
of 7 is missing", not "no video file in release".
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from downloader.post.sniff import EXTENSIONS, Kind, RarVolume, Sniffed, sniff
from downloader.volume_names import volume_number

_SPLIT = re.compile(r"^(?P<base>.+)\.(?P<number>\d{3})$")
_SAFE_STEM = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class RarSet:
    """The volumes of one RAR set present on disk, in order."""

    volumes: tuple[tuple[Path, RarVolume], ...]

    @property
    def numbers(self) -> list[int]:
        return [v.number for _, v in self.volumes if v.number is not None]

    @property
    def total(self) -> int | None:
        """How many volumes the set has, when its last volume is here to say so."""
        last = [v for _, v in self.volumes if v.continues is False and v.number is not None]
        return last[0].number + 1 if last and last[0].number is not None else None

    def missing(self) -> str | None:
        """Which volume is missing, in words ("volume 3 of 7"), or None when none is."""
        numbers = sorted(set(self.numbers))
        if not numbers:
            return None
        total = self.total
        expected = range(total if total is not None else numbers[-1] + 1)
        gaps = [n for n in expected if n not in numbers]
        of = f" of {total}" if total is not None else ""
        if gaps:
            shown = ", ".join(str(n + 1) for n in gaps[:5]) + ("…" if len(gaps) > 5 else "")
            word = "volume" if len(gaps) == 1 else "volumes"
            return f"{word} {shown}{of} {'is' if len(gaps) == 1 else 'are'} missing"
        if total is None and self.volumes and self.volumes[-1][1].continues:
            return f"the volumes after volume {numbers[-1] + 1} are missing"
        return None


def name_by_content(files: Iterable[Path]) -> list[Path]:
    """Rename the files whose names hide what they are; returns every file's path afterwards."""
    paths = [path for path in files if path.is_file()]
    sniffed = {path: sniff(path) for path in paths}
    renames: dict[Path, str] = {}
    taken = {p.name for p in paths}
    for found in rar_sets(sniffed):
        named = _rar_names(found, taken)
        renames.update(named)
        taken |= set(named.values())
    for path, what in sniffed.items():
        if what.kind in (Kind.RAR, Kind.UNKNOWN) or path in renames or _SPLIT.match(path.name):
            continue  # a split file's first piece (``x.7z.001``) starts like the whole: keep it
        wanted = EXTENSIONS[what.kind]
        if what.kind is Kind.MATROSKA and path.suffix.lower() == ".webm":
            continue  # WebM is Matroska too
        if what.kind is Kind.MP4 and path.suffix.lower() in (".m4v", ".mov"):
            continue
        if what.kind is Kind.MPEG_TS and path.suffix.lower() in (".m2ts", ".mts"):
            continue
        if path.suffix.lower() != wanted and not path.with_name(path.name + wanted).exists():
            renames[path] = path.name + wanted
    return rename_all(paths, renames)


def rar_sets(sniffed: dict[Path, Sniffed]) -> list[RarSet]:
    """RAR volumes grouped by set (format and the file they carry), each in volume order."""
    groups: dict[tuple[int, str | None, bool], list[tuple[Path, RarVolume]]] = {}
    for path, what in sniffed.items():
        if what.rar is not None:
            key = (what.rar.version, what.rar.member, what.rar.encrypted_headers)
            groups.setdefault(key, []).append((path, what.rar))
    return [RarSet(tuple(sorted(members, key=_volume_order))) for members in groups.values()]


def missing_volumes(files: Iterable[Path]) -> str | None:
    """What is missing from the release's RAR sets, in words, or None."""
    sniffed = {path: sniff(path) for path in files if path.is_file()}
    said = [text for found in rar_sets(sniffed) if (text := found.missing())]
    return "; ".join(said) or None


def join_split_files(files: Iterable[Path]) -> list[Path]:
    """``x.001``, ``x.002`` … joined into ``x`` (pieces removed); returns the files afterwards.
    RAR volumes named ``.001`` are volumes, not pieces, and are left alone. ``ValueError`` names a
    missing piece."""
    paths = [path for path in files if path.is_file()]
    groups: dict[Path, dict[int, Path]] = {}
    for path in paths:
        match = _SPLIT.match(path.name)
        if match and sniff(path).kind is not Kind.RAR:
            groups.setdefault(path.with_name(match["base"]), {})[int(match["number"])] = path
    for target, pieces in groups.items():
        numbers = sorted(pieces)
        if numbers[0] not in (0, 1):
            continue
        expected = list(range(numbers[0], numbers[0] + len(numbers)))
        if numbers != expected:
            gap = next(n for n in range(numbers[0], numbers[-1] + 1) if n not in pieces)
            raise ValueError(f"piece {gap:03d} of {target.name} is missing")
        size = sum(pieces[n].stat().st_size for n in numbers)
        if not (target.exists() and target.stat().st_size == size):  # par2 may have joined it
            with target.open("wb") as joined:
                for number in numbers:
                    with pieces[number].open("rb") as source:
                        shutil.copyfileobj(source, joined, 4 * 1024 * 1024)
        for piece in pieces.values():
            piece.unlink()
        paths = [p for p in paths if p not in pieces.values()]
        if target not in paths:
            paths.append(target)
    return paths


def _volume_order(item: tuple[Path, RarVolume]) -> tuple[int, int, str]:
    path, volume = item
    number = volume.number if volume.number is not None else (0 if volume.first else 1 << 30)
    return (number, 0 if volume.first else 1, path.name)


def _rar_names(found: RarSet, taken: set[str]) -> dict[Path, str]:
    """New names for a set whose names disagree with its headers; nothing when they agree."""
    volumes = found.volumes
    numbers = found.numbers
    if _names_agree(volumes) or len(numbers) != len(set(numbers)):
        return {}  # already right, or two files claim one volume: no guess is safe
    member = next((v.member for _, v in volumes if v.member), None)
    stem = (
        _SAFE_STEM.sub("_", Path((member or "").replace("\\", "/")).stem).strip(". ") or "release"
    )
    names = _volume_names(found, stem)
    others = taken - {path.name for path, _ in volumes}
    if others & set(names):
        names = _volume_names(found, f"{stem}.{uuid.uuid4().hex[:6]}")
    return {path: name for (path, _), name in zip(volumes, names, strict=True)}


def _volume_names(found: RarSet, stem: str) -> list[str]:
    """``stem.partNN.rar``, or ``stem.rar``, ``stem.r00``… for RAR4 sets without new numbering,
    the names an unpacker looks for next."""
    if len(found.volumes) == 1:
        return [f"{stem}.rar"]
    if not all(v.new_numbering for _, v in found.volumes):
        return [
            f"{stem}.rar" if number == 0 else f"{stem}.r{number - 1:02d}"
            for number in (
                v.number if v.number is not None else i for i, (_, v) in enumerate(found.volumes)
            )
        ]
    highest = max([len(found.volumes), *(n + 1 for n in found.numbers)])
    width = max(2, len(str(highest)))
    return [
        f"{stem}.part{(v.number if v.number is not None else i) + 1:0{width}d}.rar"
        for i, (_, v) in enumerate(found.volumes)
    ]


def _names_agree(volumes: tuple[tuple[Path, RarVolume], ...]) -> bool:
    """Every volume's name gives the number its headers give (or the set is one named .rar)."""
    for path, volume in volumes:
        named = volume_number(path.name)
        if named is None:
            return False
        if volume.number is not None and named != volume.number:
            return False
        if volume.number is None and (named == 0) != volume.first:
            return False
    return True


def rename_all(paths: list[Path], renames: dict[Path, str]) -> list[Path]:
    """Rename in two steps (through temporary names), so names may swap or rotate."""
    staged: list[tuple[Path, Path]] = []
    for path, name in renames.items():
        if path.name == name:
            continue
        temporary = path.with_name(f".renaming-{uuid.uuid4().hex}")
        path.rename(temporary)
        staged.append((path, temporary))
    final = {path: path for path in paths}
    for path, temporary in staged:
        target = path.with_name(renames[path])
        while target.exists():  # never overwrite: a clash keeps both files
            target = target.with_name(f"{target.stem}.{uuid.uuid4().hex[:6]}{target.suffix}")
        temporary.rename(target)
        final[path] = target
    return [final[path] for path in paths]
