"""Posting a release on the stand-in server: files → yEnc articles + the NZB that lists them.

Two encoders: sabctools' (fast, escapes a leading dot itself) and a small one of our own that leaves
leading dots alone like many real posters do, so NNTP dot-stuffing is exercised on the wire.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

import sabctools

LINE = 128
_SHIFT = bytes((i + 42) % 256 for i in range(256))


def plain_yenc(data: bytes) -> bytes:
    """yEnc with only the critical characters escaped, in 128-column CRLF lines."""
    encoded = data.translate(_SHIFT)
    for critical in (0x3D, 0x00, 0x0A, 0x0D):  # '=' first: later escapes insert '='
        encoded = encoded.replace(bytes([critical]), bytes([0x3D, (critical + 64) % 256]))
    lines, start = [], 0
    while start < len(encoded):
        end = start + LINE
        if end < len(encoded) and encoded[end - 1] == 0x3D:
            end += 1  # never split an escape pair
        lines.append(encoded[start:end])
        start = end
    return b"\r\n".join(lines)


def yenc_article(
    data: bytes,
    *,
    name: str,
    part: int,
    parts: int,
    begin: int,
    file_size: int,
    fast: bool = False,
    crc: int | None = None,
) -> bytes:
    """One article body (unstuffed, without the terminating dot line); ``crc`` overrides pcrc32."""
    if fast:
        encoded, real_crc = sabctools.yenc_encode(data)
    else:
        encoded, real_crc = plain_yenc(data), zlib.crc32(data)
    head = (
        f"=ybegin part={part} total={parts} line={LINE} size={file_size} name={name}\r\n"
        f"=ypart begin={begin + 1} end={begin + len(data)}\r\n"
    )
    tail = f"\r\n=yend size={len(data)} part={part} pcrc32={real_crc if crc is None else crc:08x}"
    return head.encode() + encoded + tail.encode()


@dataclass
class Release:
    nzb: bytes
    #: message-id → article body, as the test server serves it.
    articles: dict[str, bytes] = field(default_factory=dict)
    #: message-ids per file name, in segment order.
    message_ids: dict[str, list[str]] = field(default_factory=dict)


def make_release(
    files: Mapping[str, bytes],
    *,
    segment_size: int = 64 * 1024,
    obfuscate: bool = False,
    fast: bool = False,
    domain: str = "test.example",
) -> Release:
    """Articles and an NZB for ``files``; ``obfuscate`` hides the names from the subjects."""
    release = Release(b"")
    entries = []
    for number, (name, data) in enumerate(files.items(), start=1):
        parts = max(1, -(-len(data) // segment_size))
        ids: list[str] = []
        segments = []
        for part in range(1, parts + 1):
            begin = (part - 1) * segment_size
            chunk = data[begin : begin + segment_size]
            body = yenc_article(
                chunk,
                name=name,
                part=part,
                parts=parts,
                begin=begin,
                file_size=len(data),
                fast=fast,
            )
            message_id = (
                f"part{part}of{parts}.file{number}.{zlib.crc32(name.encode()):08x}@{domain}"
            )
            release.articles[message_id] = body
            ids.append(message_id)
            segments.append(
                f'      <segment bytes="{len(body)}" number="{part}">{message_id}</segment>'
            )
        release.message_ids[name] = ids
        shown = f"{zlib.crc32(name.encode()):08x}{number}" if obfuscate else f'"{name}"'
        subject = f"[{number}/{len(files)}] - {shown} yEnc (1/{parts}) {len(data)}"
        entries.append(
            f'  <file poster="tester &lt;t@example.com&gt;" date="1700000000" '
            f"subject={quoteattr(subject)}>\n"
            "    <groups><group>alt.binaries.test</group></groups>\n"
            "    <segments>\n" + "\n".join(segments) + "\n    </segments>\n  </file>"
        )
    release.nzb = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">\n'
        '  <head><meta type="name">test release</meta></head>\n' + "\n".join(entries) + "\n</nzb>\n"
    ).encode()
    return release
