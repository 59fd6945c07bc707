"""From downloaded files to the release's files: intact, named, joined, complete, or a reason why not.

The bytes decide, not the names (``post.sniff``): the par2 index is whatever file carries par2
packets, a password is seen in a first volume's headers whatever it is called, and after par2 has
restored the names it knows, ``post.recognise`` names the rest, joins split files and says which
volume is missing. Recovery volumes are not downloaded up front: par2 says how many blocks it lacks
and only that many are fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from downloader.errors import JobFailed
from downloader.post.par2 import (
    quick_check,
    read_index,
    recovery_blocks,
    restore_names,
    verify_or_repair,
)
from downloader.post.recognise import join_split_files, missing_volumes, name_by_content
from downloader.post.sniff import Kind, sniff
from downloader.post.unpack import UnpackError, inspect
from downloader.usenet.availability import recovery_share
from downloader.usenet.engine import DownloadResult, Engine
from downloader.usenet.nzb import Nzb, NzbFile


def refuse_passwords(paths: Sequence[Path]) -> None:
    """``password`` as soon as a first volume's headers (or a zip's first entry) show one, whatever
    the files are called.

    A volume that is not a first volume says nothing here, and one that cannot be read yet (par2
    may still repair or rename it) is no reason to fail: only a password is.
    """
    for path in paths:
        what = sniff(path)
        if what.encrypted:
            raise JobFailed("password-protected archive", "password")
        volume = what.rar
        if volume is None or not volume.first:
            continue
        if volume.encrypted_headers:
            raise JobFailed("password-protected archive (its headers are encrypted)", "password")
        try:
            encrypted = inspect(path).encrypted
        except UnpackError:
            continue
        if encrypted:
            raise JobFailed("password-protected archive", "password")


def ensure_intact(
    engine: Engine, nzb: Nzb, result: DownloadResult, folder: Path
) -> tuple[list[Path], bool]:
    """The release's files, verified (quick check or par2) and repaired when needed, named by their
    bytes and joined, and whether they were intact as downloaded (every article good and the quick
    check passed). ``JobFailed`` says what is missing when that cannot be made good."""
    on_disk = [f.path for f in result.files if f.path.exists()]
    par2 = [path for path in on_disk if sniff(path).kind is Kind.PAR2]
    data = [path for path in on_disk if path not in par2]
    missing = sum(len(f.missing) + len(f.corrupt) for f in result.files)
    articles = sum(f.segments for f in result.files) or 1
    if not par2:
        if not result.complete:
            lacking = missing_volumes(data)
            raise JobFailed(
                f"{lacking or f'{missing / articles:.0%} of articles missing'} and there is no "
                "recovery data to rebuild it",
                "missing_articles",
            )
        return _complete(data, "there is no recovery data to rebuild it"), True
    index_path = _par2_set(par2)
    index = read_index(index_path)
    restore_names(index, data)
    if result.complete and quick_check(index, folder):
        return _complete(_data_files(folder), "the recovery data does not cover it"), True
    known = {Path(f.name).name for f in index.files}
    extra = [p for p in _files(folder) if p.name not in known and p != index_path]
    volumes = sorted(
        (f for f in nzb.files if f.is_par2_recovery or f.index in engine.left),
        key=lambda f: f.bytes,
    )
    verdict = verify_or_repair(index_path, repair=True, extra=extra)
    while not verdict.ok and volumes:
        batch = _enough_volumes(volumes, verdict.blocks_needed)
        volumes = [v for v in volumes if v not in batch]
        fetched = engine.download(batch, folder)
        _name_volumes([f.path for f in fetched.files if f.path.exists()], index_path)
        verdict = verify_or_repair(index_path, repair=True, extra=extra)
    if not verdict.ok:
        lacking = missing_volumes(_data_files(folder))
        if lacking:
            message = f"{lacking} and the recovery data cannot rebuild it"
        elif missing == 0:
            raise JobFailed(
                "every article arrived, but the files do not match the release's par2 set "
                f"(par2 lacks {verdict.blocks_needed} blocks to rebuild them)",
                "repair",
            )
        else:
            message = (
                f"{missing / articles:.0%} of articles missing and only "
                f"{recovery_share(nzb):.0%} recovery data"
            )
        raise JobFailed(message, "missing_articles")
    return _complete(_data_files(folder), "the recovery data does not cover it"), False


def _par2_set(files: list[Path]) -> Path:
    """The index (the smallest file without recovery slices), with every par2 file named so that
    par2 finds the recovery volumes beside its index (``<base>.par2``, ``<base>.volNNN+01.par2``)
    even when the poster named them all at random."""
    sniffed = {path: sniff(path) for path in files}
    plain = [p for p in files if not sniffed[p].recovery] or files
    original = index = min(plain, key=lambda p: p.stat().st_size)
    if index.suffix.lower() != ".par2":
        index = index.rename(index.with_name(index.name + ".par2"))
    _name_volumes([p for p in files if p != original], index)
    return index


def _name_volumes(volumes: list[Path], index: Path) -> None:
    """The set's other par2 files under the names par2 looks for beside its index, when theirs do
    not fit (obfuscated ones, named at random, or fetched after the index was renamed)."""
    base = index.name[: -len(".par2")]
    taken = {path.name.lower() for path in index.parent.iterdir()}
    number = 1
    for path in volumes:
        if path.name.lower().startswith(base.lower() + ".") and path.suffix.lower() == ".par2":
            continue
        while f"{base}.vol{number:03d}+01.par2".lower() in taken:
            number += 1
        target = path.with_name(f"{base}.vol{number:03d}+01.par2")
        path.rename(target)
        taken.add(target.name.lower())


def _complete(files: list[Path], why_not_rebuilt: str) -> list[Path]:
    """Files named by their bytes and split files joined, or ``JobFailed`` for a volume or piece
    that is not there."""
    named = name_by_content(files)
    try:
        joined = join_split_files(named)
    except ValueError as exc:
        raise JobFailed(f"{exc} and {why_not_rebuilt}", "missing_articles") from None
    lacking = missing_volumes(joined)
    if lacking:
        raise JobFailed(f"{lacking} and {why_not_rebuilt}", "missing_articles")
    return joined


def _enough_volumes(volumes: list[NzbFile], blocks: int) -> list[NzbFile]:
    """Smallest volumes first until they hold ``blocks`` recovery blocks (at least one volume).

    A volume's block count comes from its name (``x.vol03+04.par2`` holds 4); when the name is
    obfuscated, from its size relative to the smallest volume.
    """
    if blocks <= 0:
        return volumes[:1]
    chosen: list[NzbFile] = []
    covered = 0
    per_block = min(v.bytes for v in volumes) or 1
    for volume in volumes:
        chosen.append(volume)
        named = recovery_blocks(Path(volume.subject_name or ""))
        covered += named or max(1, volume.bytes // per_block)
        if covered >= blocks:
            break
    return chosen


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]


def _data_files(folder: Path) -> list[Path]:
    """Everything but par2 files, told apart by their bytes."""
    return [p for p in _files(folder) if sniff(p).kind is not Kind.PAR2]
