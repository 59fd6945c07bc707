"""Release title parser: a hand-written table, invariants, and every real name in the shared fixture."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import string
from pathlib import Path

import pytest
import yaml

from chalicelib import models
from chalicelib.domain.release_parser import MAX_NAME_LENGTH, ParsedRelease, parse_release
from chalicelib.domain.release_tokens import (
    AUDIO_RANK,
    CAM_LIKE,
    CODECS,
    EDITIONS,
    HDR_RANK,
    MODIFIERS,
    RESOLUTIONS,
    SOURCES,
    TOKENS,
    TV_KINDS,
)
from tests.release_names import ANY, CASES, Case

SHARED_ITEMS = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "newznab" / "items.jsonl"
)
ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "docs" / "API_CONTRACT.yml"
README = ROOT / "README.md"
FIELDS = [field.name for field in dataclasses.fields(ParsedRelease)]
LANGUAGES = frozenset(token.value for token in TOKENS.values() if token.kind == "language")


def _case_id(index: int, case: Case) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", case.name).strip("-")[:60]
    return f"{index:03d}-{slug or 'blank'}"


def _expected(case: Case) -> dict[str, object]:
    full: dict[str, object] = dict.fromkeys(FIELDS)
    full.update(proper=False, repack=False, obfuscated=False, languages=())
    full.update(case.expected)
    full["cam_like"] = full["source"] in CAM_LIKE
    return {field: value for field, value in full.items() if value is not ANY}


def test_the_table_is_large_and_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 300
    assert len(set(names)) == len(names), "a name appears twice in tests/release_names.py"


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=_case_id(i, case)) for i, case in enumerate(CASES)]
)
def test_release_table(case: Case) -> None:
    parsed = parse_release(case.name)
    expected = _expected(case)
    actual = {field: getattr(parsed, field) for field in expected}
    assert actual == expected


def _assert_allowed(parsed: ParsedRelease) -> None:
    assert parsed.resolution in (None, *RESOLUTIONS)
    assert parsed.source in (None, *SOURCES)
    assert parsed.modifier in (None, *MODIFIERS)
    assert parsed.remux == (parsed.modifier == "remux")
    assert parsed.tv in (None, *TV_KINDS)
    assert parsed.codec in (None, *CODECS)
    assert parsed.hdr in (None, *HDR_RANK)
    assert parsed.audio in (None, *AUDIO_RANK)
    assert parsed.edition in (None, *EDITIONS)
    assert parsed.year is None or 1900 <= parsed.year <= 2099
    assert isinstance(parsed.languages, tuple)
    assert set(parsed.languages) <= LANGUAGES
    assert len(set(parsed.languages)) == len(parsed.languages)
    assert parsed.cam_like == (parsed.source in CAM_LIKE)
    if parsed.cam_like:
        assert parsed.modifier is None  # a fake's "REMUX" is not believed
    for flag in (parsed.remux, parsed.proper, parsed.repack, parsed.obfuscated, parsed.cam_like):
        assert isinstance(flag, bool)
    if parsed.title is not None:
        assert parsed.title == parsed.title.strip()
        assert "  " not in parsed.title
        assert parsed.title
    if parsed.group is not None:
        assert parsed.group
        assert " " not in parsed.group
    if parsed.obfuscated:
        assert parsed == ParsedRelease(obfuscated=True)


def test_every_table_result_is_within_the_vocabulary() -> None:
    for case in CASES:
        _assert_allowed(parse_release(case.name))


@pytest.mark.skipif(not SHARED_ITEMS.exists(), reason="shared fixtures are not checked out here")
def test_every_real_name_parses_to_allowed_values() -> None:
    names = [json.loads(line)["title"] for line in SHARED_ITEMS.read_text("utf-8").splitlines()]
    assert len(names) > 1000
    for name in names:
        _assert_allowed(parse_release(name))


@pytest.mark.parametrize(
    "name",
    [
        "x" * 100_000,
        "Movie." * 10_000 + "2019.1080p.BluRay.x264-GRP",
        "[" * 5000,
        "-" * 5000 + "GRP",
        '"' * 3000,
        "a-" * 3000,
        "\x00\x01\x02 Movie 2019 \u202e 1080p",
        "!!! [1080p] [BluRay]",
        "Film.2019.1080p.WEB-DL.x264-GRP\n\n\n[eztv]",
        "ﾌｨﾙﾑ.2019.1080p.BluRay.x264-GRP",
        "Фильм.2019.1080p.WEB-DL.x264-GRP",
        "Movie.²⁰¹⁹.1080p.BluRay",
        "Show.2012.⁰².²².720p",
    ],
    ids=["long-x", "long-dots", "brackets", "dashes", "quotes", "a-dash", "control", "tags-only",
         "newlines", "halfwidth", "cyrillic", "superscript-year", "superscript-date"],
)  # fmt: skip
def test_hostile_input_never_raises(name: str) -> None:
    _assert_allowed(parse_release(name))


def test_random_soup_never_raises() -> None:
    rng = random.Random(20250601)
    alphabet = string.printable + "²⁰¹⁹０１٣४ßİıﬁ\u2019\u201c\u200b\u202e\x00"
    words = [
        "1080p",
        "WEB-DL",
        "x264",
        "HDCAM",
        "-GRP",
        "[eztv]",
        ".mkv",
        "2019",
        "DD+5.1",
        "S01E01",
    ]
    for i in range(3000):
        if i % 2:
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        else:
            parts = (rng.choice([*words, rng.choice(alphabet)]) for _ in range(rng.randint(0, 25)))
            name = rng.choice([".", " ", "-", "_"]).join(parts)
        _assert_allowed(parse_release(name))


def test_only_the_first_500_characters_are_read() -> None:
    head = "Movie.2019.1080p.WEB-DL.x264-GRP "
    tail = "2160p HDCAM GERMAN " * 100
    name = head + "x" * (MAX_NAME_LENGTH - len(head)) + tail
    parsed = parse_release(name)
    assert parsed.resolution == "1080p"
    assert parsed.source == "webdl"
    assert parsed.languages == ()


def test_a_non_string_is_treated_as_empty() -> None:
    assert parse_release(None) == ParsedRelease()  # type: ignore[arg-type]
    assert parse_release(b"Movie.2019.1080p") == ParsedRelease()  # type: ignore[arg-type]


def test_result_is_immutable() -> None:
    parsed = parse_release("Movie.2019.1080p.BluRay.x264-GRP")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.title = "Other"  # type: ignore[misc]


def test_cam_token_wins_wherever_it_stands() -> None:
    for name in (
        "Movie.2023.HDCAM.WEB-DL.x264-GRP",
        "Movie.2023.WEB-DL.HDCAM.x264-GRP",
        "Movie.2023.WEB-DL.x264.HDCAM-GRP",
        "Movie.2023.2160p.UHD.BluRay.REMUX.HDCAM-GRP",
    ):
        assert parse_release(name).source == "cam", name


#: Every CAM-family spelling (Radarr's, guessit's and PTN's, and the joined forms), by source.
CAM_SPELLINGS = {
    "cam": ("CAM", "CAMRip", "CAM-Rip", "HDCAM", "HD-CAM", "HD CAM", "HDCAMRip", "HD-CAMRip",
            "HQCAM", "HQ-CAM", "NEWCAM", "NEW-CAM", "CAMHD", "HQ-Rip", "HQRip"),
    "telesync": ("TS", "HDTS", "HD-TS", "HD.TS", "HD_TS", "TSRip", "TS-Rip", "HDTSRip", "HDTS-Rip",
                 "TELESYNC", "TeleSync", "Tele-Sync", "TELESYNCH", "PDVD", "PreDVD", "Pre-DVD",
                 "PreDVDRip", "HQ-TS", "HQTS"),
    "telecine": ("TC", "HDTC", "HD-TC", "TCRip", "TC-Rip", "TELECINE", "TeleCine", "Tele.Cine"),
    "workprint": ("WORKPRINT", "WorkPrint", "WP", "Work-Print"),
    "screener": ("SCR", "DVDSCR", "DVD-SCR", "DVDScr", "DVDSCREENER", "DVD.Screener", "SCREENER",
                 "BDSCR", "BD-SCR", "WEBSCR", "WEB-SCR", "HDSCR"),
}  # fmt: skip

#: Where a CAM-family word stands: mid-name, beside other sources, before the group, first, in
#: leading or trailing brackets, spaced, without a year, and in one case throughout.
CAM_POSITIONS = (
    "Some.Movie.2023.{}.x264-GRP",
    "Some.Movie.2023.1080p.WEB-DL.{}.x264-GRP",
    "Some.Movie.2023.2160p.UHD.BluRay.REMUX.x265.{}-GRP",
    "{}.Some.Movie.2023.x264-GRP",
    "[{}] Some Movie 2023 720p",
    "Some Movie (2023) [{}]",
    "Some Movie 2023 {} 720p x264 AAC",
    "Some.Movie.{}.x264-GRP",
    "Some.Movie.{}.2023.x264-GRP",
    "Some.Movie.2023.1080p.{}",
)


@pytest.mark.parametrize(
    ("source", "spelling"),
    [(source, spelling) for source, spellings in CAM_SPELLINGS.items() for spelling in spellings],
)
def test_no_cam_family_word_is_ever_missed(source: str, spelling: str) -> None:
    names = [template.format(spelling) for template in CAM_POSITIONS]
    names += [name.lower() for name in names[:3] + names[6:8]]
    names += [name.upper() for name in names[:3] + names[6:8]]
    for name in names:
        parsed = parse_release(name)
        assert (parsed.source, parsed.cam_like, parsed.modifier) == (source, True, None), name


@pytest.mark.parametrize(
    "name",
    [
        *(f"{word}.2019.1080p.WEB-DL.x264-GRP" for word in ("TS", "TC", "Cam", "WP", "Screener")),
        *(f"{word}.2019.1080p.BluRay.x264-GRP" for word in ("Camera", "Cameron", "Tsunami")),
        *(f"The.{word}.Story.2019.720p.WEB.x264-GRP" for word in ("Scream", "Telecast", "Scrooge")),
        *(f"Movie.2019.1080p.WEB-DL.x264-{group}" for group in ("TC", "TS", "CAM", "WP")),
        "Movie.2019.1080p.WEB-DL.x264-GRP.ts",
        "Movie.2019.1080p.WEB-DL.x264-GRP.TS",
        "Movie.2019.1080p.HDTV.x264.ts",
        '"Movie.2019.1080p.HDTV.x264.TS" yEnc',
        "movie.2019.1080p.web.x264.ts",
        "Movie.2019.1080p.BluRay.DTS-HD.MA.5.1.x264-GRP",
        "Movie.2019.1080p.WEB.DDP5.1.Atmos.H.264-WEBSCREAM",
        "Cam.Girl.2019.1080p.WEB.x264-GRP",
        "cam.2018.1080p.nf.web-dl.ddp5.1.x264-ntg",
        "The.Young.and.Prodigious.T.S.Spivet.2013.1080p.BluRay.x264-GRP",
    ],
)
def test_words_that_only_look_like_cam_are_not_cams(name: str) -> None:
    parsed = parse_release(name)
    assert not parsed.cam_like, (name, parsed.source)
    assert parsed.source in ("webdl", "bluray", "hdtv"), (name, parsed.source)


def test_the_contract_and_readme_list_the_parsers_values() -> None:
    release = yaml.safe_load(CONTRACT.read_text("utf-8"))["components"]["schemas"]["Release"]
    properties = release["properties"]
    assert properties["source"]["enum"] == [*SOURCES, None]
    assert properties["resolution"]["enum"] == [*RESOLUTIONS, None]
    assert properties["modifier"]["enum"] == [*MODIFIERS, None]
    assert set(release["required"]) == set(properties) == set(models.Release.model_fields)
    readme = README.read_text("utf-8")
    for value in (*SOURCES, *MODIFIERS, *RESOLUTIONS):
        assert f"`{value}`" in readme, f"README does not list {value}"
