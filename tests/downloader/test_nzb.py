"""NZB parsing: what real indexers send is accepted, hostile or broken NZBs are refused clearly."""

from __future__ import annotations

import gzip

import pytest

from downloader.errors import NzbError
from downloader.usenet.nzb import filename_from_subject, parse_nzb
from sandbox.posting import make_release

NS = 'xmlns="http://www.newzbin.com/DTD/2003/nzb"'


def nzb(files: str, *, namespace: str = NS, head: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<nzb {namespace}>{head}{files}</nzb>'.encode()


def file_xml(subject: str, segments: str, groups: str = "<group>alt.binaries.x</group>") -> str:
    return (
        f'<file poster="p &lt;p@x&gt;" date="1700000000" subject="{subject}">'
        f"<groups>{groups}</groups><segments>{segments}</segments></file>"
    )


def seg(number: int | str, message_id: str, size: int | str = 1000) -> str:
    return f'<segment bytes="{size}" number="{number}">{message_id}</segment>'


def test_a_posted_release_parses_into_files_segments_and_names() -> None:
    release = make_release({"a.mkv": b"x" * 250, "a.par2": b"y" * 10}, segment_size=100)
    parsed = parse_nzb(release.nzb)
    assert [f.subject_name for f in parsed.files] == ["a.mkv", "a.par2"]
    movie = parsed.files[0]
    assert [s.number for s in movie.segments] == [1, 2, 3]
    assert [s.message_id for s in movie.segments] == release.message_ids["a.mkv"]
    assert movie.groups == ("alt.binaries.test",)
    assert movie.poster == "tester <t@example.com>"
    assert parsed.meta == {"name": ["test release"]}
    assert parsed.bytes == sum(len(body) for body in release.articles.values())


@pytest.mark.parametrize(
    ("subject", "name"),
    [
        ('[01/52] - "The.Movie.2023.2160p.mkv" yEnc (1/52)', "The.Movie.2023.2160p.mkv"),
        ('Re: "movie.part01.rar" yEnc (3/120) 52428800', "movie.part01.rar"),
        ('""double-quoted.nfo"" yEnc', "double-quoted.nfo"),
        ('[7/9] - "Movie {"Extended" Cut}.mkv" yEnc (1/2)', 'Movie {"Extended" Cut}.mkv'),
        (
            '[PRiVATE]-[abc]-[Some.Show.S01E01.mkv]-[1/3] - "" yEnc 9786 (1/1366)',
            "Some.Show.S01E01.mkv",
        ),
        ("Here's your file!  abc-mr2a.r01 (1/2)", "Here's your file!  abc-mr2a.r01"),
        ("[3/9] - movie.sample.mkv yEnc (1/5)", "movie.sample.mkv"),
        ('"../../etc/passwd.txt" yEnc (1/1)', "passwd.txt"),
        ("c2b510b594f686ea9699 yEnc (1/52)", None),
        ('[1/10] - "" yEnc (1/3)', None),
    ],
)
def test_file_names_come_from_subjects(subject: str, name: str | None) -> None:
    assert filename_from_subject(subject) == name


def test_par2_and_rar_volumes_are_identified() -> None:
    names = ["x.par2", "x.vol03+04.par2", "x.part01.rar", "x.part12.rar", "y.rar", "y.r00", "y.r11"]
    files = "".join(
        file_xml(f"&quot;{n}&quot; yEnc (1/1)", seg(1, f"{i}@x")) for i, n in enumerate(names)
    )
    parsed = parse_nzb(nzb(files))
    kinds = [(f.is_par2, f.is_par2_recovery, f.rar_volume) for f in parsed.files]
    assert kinds == [
        (True, False, None),
        (True, True, None),
        (False, False, 0),
        (False, False, 11),
        (False, False, 0),
        (False, False, 1),
        (False, False, 12),
    ]


def test_gzip_bom_and_missing_namespace_are_accepted() -> None:
    plain = nzb(file_xml("&quot;a.mkv&quot;", seg(1, "a@x")), namespace="")
    for variant in (
        plain,
        b"\xef\xbb\xbf" + plain,
        gzip.compress(plain),
        gzip.compress(b"\xef\xbb\xbf" + plain),
    ):
        assert parse_nzb(variant).files[0].segments[0].message_id == "a@x"


def test_duplicate_and_missing_segment_numbers_are_handled() -> None:
    segments = seg(3, "c@x") + seg(1, "a@x") + seg(1, "dup@x") + seg(5, "e@x")
    parsed = parse_nzb(nzb(file_xml("&quot;a.mkv&quot;", segments)))
    movie = parsed.files[0]
    assert [(s.number, s.message_id) for s in movie.segments] == [
        (1, "a@x"),
        (3, "c@x"),
        (5, "e@x"),
    ]
    assert movie.missing_numbers == (2, 4)


def test_unusable_segments_are_skipped_not_fatal() -> None:
    segments = (
        seg(1, "ok@x")
        + seg("two", "bad-number@x")
        + seg(3, "")
        + seg(4, "inject@x&#13;&#10;QUIT")
        + seg(5, "no size@x", "lots")
        + seg(6, "&lt;angled@x&gt;", "")
    )
    movie = parse_nzb(nzb(file_xml("&quot;a.mkv&quot;", segments))).files[0]
    assert [(s.number, s.message_id, s.bytes) for s in movie.segments] == [
        (1, "ok@x", 1000),
        (6, "angled@x", 0),
    ]


def test_password_meta_is_read() -> None:
    head = '<head><meta type="password">secret</meta><meta type="title">T</meta></head>'
    assert parse_nzb(nzb(file_xml("a", seg(1, "a@x")), head=head)).password == "secret"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE nzb [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<nzb><file subject="&b;"><segments><segment number="1" bytes="1">a@x</segment></segments></file></nzb>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE nzb [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<nzb><file subject="&x;"><segments><segment number="1" bytes="1">a@x</segment></segments></file></nzb>"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<html><body>Not found</body></html>", "not an NZB (its root element is <html>)"),
        (b"<nzb><file subject='x'>", "not valid XML"),
        (BOMB, "possible XML bomb"),
        (EXTERNAL, "possible XML bomb"),
        (
            b'<?xml version="1.0"?><error code="100" description="Incorrect user credentials"/>',
            "Incorrect user credentials",
        ),
        (nzb(""), "no file with downloadable articles"),
        (nzb(file_xml("a", "")), "no file with downloadable articles"),
        (b"\x1f\x8b\x08\x00garbage", "gzipped but the data is damaged"),
    ],
)
def test_broken_or_hostile_nzbs_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(NzbError, match=r"^the "):
        parse_nzb(data)
    with pytest.raises(NzbError) as caught:
        parse_nzb(data)
    assert message in str(caught.value)


def test_size_limits_apply_before_and_after_gunzip() -> None:
    big = nzb(file_xml("a", seg(1, "a@x")) + " " * 5000)
    with pytest.raises(NzbError, match="larger than"):
        parse_nzb(big, max_bytes=4000)
    bomb = gzip.compress(big + b" " * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(NzbError, match="unpacks to more than 1 MiB"):
        parse_nzb(bomb, max_bytes=1024 * 1024)
