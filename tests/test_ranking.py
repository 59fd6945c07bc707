"""Auto-mode ranking: one test per preference rule, each on real-style release names."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from chalicelib.domain.indexer_release import IndexerRelease
from chalicelib.domain.ranking import Film, Ranked, rank
from chalicelib.domain.release_parser import ParsedRelease, parse_release

GB = 1_000_000_000
MAX_BYTES = 100 * GB


def item(
    title: str,
    *,
    size: float = 5,
    grabs: int | None = 5,
    password: int | None = 0,
    categories: tuple[int, ...] = (2000, 2040),
    release_id: str | None = None,
    published: datetime | None = None,
) -> IndexerRelease:
    return IndexerRelease(
        release_id=release_id or f"id{abs(hash((title, size, grabs))) % 10**9}",
        title=title,
        size_bytes=int(size * GB),
        published_at=published,
        grabs=grabs,
        categories=categories,
        password=password,
    )


def ranked(
    *items: IndexerRelease, preference: str = "1080p", movie_year: int | None = 2010
) -> list[Ranked]:
    return rank(
        [(i, parse_release(i.title)) for i in items],
        preference=preference,
        max_bytes=MAX_BYTES,
        film=Film("Inception", movie_year),
    )


def titles(result: list[Ranked]) -> list[str]:
    return [r.release.title for r in result]


def usable(result: list[Ranked]) -> list[str]:
    return [r.release.title for r in result if not r.rejected]


RES = {
    "2160p": "Inception.2010.2160p.UHD.BluRay.x265-GRP",
    "1080p": "Inception.2010.1080p.BluRay.x264-GRP",
    "720p": "Inception.2010.720p.BluRay.x264-GRP",
    "480p": "Inception.2010.480p.BluRay.x264-GRP",
}


@pytest.mark.parametrize(
    ("preference", "expected"),
    [
        ("1080p", ["1080p", "720p", "2160p", "480p"]),
        ("720p", ["720p", "1080p", "2160p", "480p"]),
        ("4K", ["2160p", "1080p", "720p", "480p"]),
    ],
)
def test_the_preferred_resolution_wins_then_the_specs_fallback_order(
    preference: str, expected: list[str]
) -> None:
    result = ranked(*(item(t) for t in RES.values()), preference=preference)

    assert titles(result) == [RES[r] for r in expected]
    assert "preferred resolution" in result[0].reasons[0]


def test_a_cam_is_rejected_even_when_it_claims_a_better_source_and_resolution() -> None:
    fake = "Inception.2010.1080p.HDCAM.WEB-DL.x264-FAKE"
    honest = "Inception.2010.720p.WEB-DL.x264-GRP"

    result = ranked(item(fake), item(honest))

    assert usable(result) == [honest]
    cam = result[-1]
    assert cam.release.title == fake
    assert cam.rejected
    assert any(reason.startswith("rejected: cam") for reason in cam.reasons)


def test_cam_like_releases_are_offered_when_nothing_else_exists() -> None:
    ts = "Inception.2010.TS.x264-AAA"
    cam = "Inception.2010.HDCAM.x264-BBB"

    result = ranked(item(ts), item(cam))

    assert not any(r.rejected for r in result)
    assert all("offered because nothing better exists" in " ".join(r.reasons) for r in result)


def test_a_cam_is_not_offered_when_it_is_also_passworded() -> None:
    result = ranked(item("Inception.2010.HDCAM.x264-BBB", password=1))

    assert result[0].rejected


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        ("Inception.2010.1080p.BluRay.x264-GRP", "Inception.2010.1080p.WEBRip.x264-GRP"),
        ("Inception.2010.1080p.WEB-DL.x264-GRP", "Inception.2010.1080p.WEBRip.x264-GRP"),
        ("Inception.2010.1080p.WEBRip.x264-GRP", "Inception.2010.1080p.HDTV.x264-GRP"),
        ("Inception.2010.720p.HDTV.x264-GRP", "Inception.2010.720p.x264-GRP"),
    ],
)
def test_better_sources_rank_first_at_the_same_resolution(better: str, worse: str) -> None:
    assert titles(ranked(item(worse), item(better))) == [better, worse]


def test_a_proper_or_repack_ranks_above_the_original() -> None:
    original = "Inception.2010.1080p.BluRay.x264-GRP"
    proper = "Inception.2010.PROPER.1080p.BluRay.x264-GRP"
    repack = "Inception.2010.REPACK.1080p.BluRay.x264-OTHER"

    result = ranked(item(original), item(proper, size=5.1), item(repack, size=5.2))

    assert titles(result)[-1] == original
    assert "PROPER/REPACK of a flawed release" in result[0].reasons


def test_a_known_group_ranks_above_an_unknown_one() -> None:
    unknown = "Inception.2010.1080p.BluRay.x264-NOBODY"
    known = "Inception.2010.1080p.BluRay.x264-SPARKS"

    result = ranked(item(unknown, size=4), item(known, size=6))

    assert titles(result) == [known, unknown]
    assert "known group SPARKS" in result[0].reasons


def test_a_proven_release_ranks_above_one_nobody_grabbed() -> None:
    fresh = "Inception.2010.1080p.BluRay.x264-AAA"
    proven = "Inception.2010.1080p.BluRay.x264-BBB"

    result = ranked(item(fresh, grabs=0, size=4), item(proven, grabs=250))

    assert titles(result) == [proven, fresh]
    assert "250 grabs" in result[0].reasons


def test_the_smaller_release_wins_within_a_tier() -> None:
    big = item("Inception.2010.1080p.BluRay.x264-AAA", size=14, grabs=20)
    small = item("Inception.2010.1080p.BluRay.x264-BBB", size=7, grabs=30)

    result = ranked(big, small)

    assert result[0].score == result[1].score
    assert [r.release for r in result] == [small, big]


def test_browser_playable_codecs_rank_above_ones_no_browser_plays() -> None:
    xvid = "Inception.2010.720p.BluRay.XviD-GRP"
    x264 = "Inception.2010.720p.BluRay.x264-GRP"

    result = ranked(item(xvid, size=2), item(x264, size=4))

    assert titles(result) == [x264, xvid]
    assert "xvid does not play in browsers" in result[1].reasons


def test_only_h264_is_said_to_play_in_every_browser() -> None:
    """README prefers H.264 because it plays in every browser; the reasons a client shows say the
    same, and say of HEVC and AV1 only what is true (they depend on the browser and the hardware)."""
    x264 = "Inception.2010.1080p.BluRay.x264-GRP"
    x265 = "Inception.2010.1080p.BluRay.x265-GRP"
    av1 = "Inception.2010.1080p.BluRay.AV1-GRP"

    result = ranked(item(x265, size=4), item(av1, size=4), item(x264, size=4))

    assert titles(result)[0] == x264
    reasons = {r.release.title: r.reasons for r in result}
    assert "h264 plays in every browser" in reasons[x264]
    assert any(
        "h265 plays only where the device decodes HEVC in hardware" in r for r in reasons[x265]
    )
    assert any("av1 plays in Chrome, Edge and Firefox" in r for r in reasons[av1])
    for title in (x265, av1):
        assert not any(
            r.endswith("plays in browsers") or "every browser" in r for r in reasons[title]
        )


@pytest.mark.parametrize(
    ("release", "reason"),
    [
        (item("Inception.2010.1080p.BluRay.x264-GRP", password=1), "password-protected"),
        (item("Inception.2010.1080p.BluRay.x264-GRP.PASSWORDED"), "password-protected"),
        (item("Inception.2010.1080p.BluRay.x264-GRP", size=0.2), "too small for a movie"),
        (item("Inception.2010.1080p.BluRay.x264-GRP", size=120), "exceeds the 100 GB limit"),
        (item("Inception.S01E02.1080p.WEB-DL.x264-GRP"), "a TV episode"),
        (item("Inception.2010.05.16.720p.HDTV.x264-GRP"), "a TV episode"),
        (item("[SubsPlease] Inception - 05 (1080p) [ABCD1234].mkv"), "a TV episode"),
        (item("Inception.S01.1080p.BluRay.x264-GRP"), "a TV season pack"),
        (item("Inception.Season.01.1080p.WEB-DL.DDP5.1.H.264-GRP"), "a TV season pack"),
        (item("Inception.2010.WORKPRINT.x264-GRP"), "rejected: workprint"),
        (item("[NEWCAM] Inception 2010 1080p"), "rejected: cam"),
        (item("Inception.2010.1080p.BluRay.x264-GRP", categories=(5000, 5040)), "movie category"),
        (item("Inception.1994.1080p.BluRay.x264-GRP"), "year 1994, the movie is from 2010"),
    ],
)
def test_releases_that_cannot_be_the_movie_are_rejected_with_the_reason(
    release: IndexerRelease, reason: str
) -> None:
    fine = item("Inception.2010.720p.WEB-DL.x264-OK")

    result = ranked(release, fine)

    assert usable(result) == [fine.title]
    assert result[-1].rejected
    assert any(reason in text for text in result[-1].reasons)


def test_a_year_one_off_is_tolerated() -> None:
    assert not ranked(item("Inception.2011.1080p.BluRay.x264-GRP"))[0].rejected


def test_the_order_is_deterministic_whatever_the_input_order() -> None:
    published = datetime(2024, 1, 1, tzinfo=UTC)
    items = [
        item(t, size=s, grabs=g, release_id=f"r{n}", published=published)
        for n, (t, s, g) in enumerate(
            [
                ("Inception.2010.1080p.BluRay.x264-AAA", 5, 10),
                ("Inception.2010.1080p.BluRay.x264-BBB", 5, 10),
                ("Inception.2010.720p.WEB-DL.x264-CCC", 3, 0),
                ("Inception.2010.HDCAM.x264-DDD", 1, 99),
                ("Inception.2010.2160p.WEB-DL.x265-EEE", 20, 3),
            ]
        )
    ]
    expected = [r.release.release_id for r in ranked(*items)]
    for seed in range(5):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        assert [r.release.release_id for r in ranked(*shuffled)] == expected
    assert expected[:2] == ["r0", "r1"]  # equal score and size: the id decides


@pytest.mark.parametrize(
    ("dub", "original_language"),
    [
        ("Inception.2010.GERMAN.1080p.BluRay.x264-GRP", "en"),
        ("Inception.2010.iTALiAN.1080p.WEB-DL.x264-GRP", "en"),
        ("Inception.2010.1080p.BluRay.x264.FRENCH-GRP", None),
    ],
)
def test_a_dub_ranks_below_the_next_resolution_in_the_films_language(
    dub: str, original_language: str | None
) -> None:
    english = "Inception.2010.720p.BluRay.x264-GRP"

    result = rank(
        [(item(t), parse_release(t)) for t in (dub, english)],
        max_bytes=MAX_BYTES,
        film=Film("Inception", 2010, original_language),
    )

    assert titles(result) == [english, dub]
    assert not result[1].rejected  # still offered: better than nothing
    assert any(reason.startswith("dubbed:") for reason in result[1].reasons)


@pytest.mark.parametrize(
    ("name", "original_language"),
    [
        ("Amelie.2001.FRENCH.1080p.BluRay.x264-GRP", "fr"),  # the film's own language
        ("Inception.2010.GERMAN.DL.1080p.BluRay.x264-GRP", "en"),  # dual audio
        ("Inception.2010.MULTi.1080p.BluRay.x264-GRP", "en"),
        ("Inception.2010.VOSTFR.1080p.WEB.x264-GRP", "en"),  # original audio, French subtitles
        ("Inception.2010.1080p.BluRay.x264-GRP", "en"),  # no tag: the original
    ],
)
def test_releases_with_the_original_audio_are_not_dubs(name: str, original_language: str) -> None:
    (ranked_release,) = rank(
        [(item(name), parse_release(name))],
        max_bytes=MAX_BYTES,
        film=Film("Inception", 2010, original_language),
    )

    assert not any(reason.startswith("dubbed:") for reason in ranked_release.reasons)


@pytest.mark.parametrize(
    ("film", "name"),
    [
        (Film("Blade Runner 2049", 2017), "Blade.Runner.2049.1080p.BluRay.x264-GRP"),
        (Film("Death Race 2000", 1975), "Death.Race.2000.1080p.BluRay.x264-GRP"),
    ],
)
def test_a_number_from_the_films_own_title_is_not_a_wrong_year(film: Film, name: str) -> None:
    (ranked_release,) = rank([(item(name), parse_release(name))], max_bytes=MAX_BYTES, film=film)

    assert not ranked_release.rejected, ranked_release.reasons


def test_a_remux_is_its_tiers_top_source_and_the_smaller_release_still_wins() -> None:
    remux = item("Inception.2010.1080p.Remux.AVC.DTS-HD.MA.5.1-GRP", size=30)
    encode = item("Inception.2010.1080p.BluRay.x264-GRP", size=10)
    webrip = item("Inception.2010.1080p.WEBRip.x264-GRP", size=3)
    smaller_720p = item("Inception.2010.720p.BluRay.x264-GRP", size=4)
    uhd_remux = item("Inception.2010.2160p.UHD.BluRay.REMUX.HDR.HEVC.Atmos-GRP", size=60)

    result = ranked(uhd_remux, smaller_720p, webrip, remux, encode)

    assert [r.release for r in result] == [encode, remux, webrip, smaller_720p, uhd_remux]
    assert result[0].score == result[1].score  # the same tier and source: the size decides
    assert "source bluray (remux)" in result[1].reasons
    assert result[1].parsed.modifier == "remux"


def test_at_4k_a_remux_ties_with_a_web_dl_and_the_smaller_wins() -> None:
    remux = item("Inception.2010.2160p.UHDRemux.HDR.HEVC.TrueHD-GRP", size=60)
    web = item("Inception.2010.2160p.WEB-DL.DDP5.1.HDR.H.265-GRP", size=15)
    webrip = item("Inception.2010.2160p.WEBRip.x265-GRP", size=8)

    result = ranked(webrip, remux, web, preference="4K")

    assert [r.release for r in result] == [web, remux, webrip]


def test_what_a_release_is_comes_from_the_parser_alone() -> None:
    """Ranking never reads the name for TV: what the parser says is what counts."""
    name = "Inception.S01E02.1080p.WEB-DL.x264-GRP"
    as_a_film = ParsedRelease(title="Inception", resolution="1080p", source="webdl", codec="h264")

    (as_parsed,) = ranked(item(name))
    (trusted,) = rank([(item(name), as_a_film)], max_bytes=MAX_BYTES, film=Film("Inception"))

    assert as_parsed.rejected
    assert not trusted.rejected


def test_a_film_whose_title_looks_like_a_season_is_not_tv() -> None:
    name = "Open.Season.2.2008.1080p.BluRay.x264-GRP"

    (result,) = rank(
        [(item(name), parse_release(name))], max_bytes=MAX_BYTES, film=Film("Open Season 2", 2008)
    )

    assert not result.rejected, result.reasons
