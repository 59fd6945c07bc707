"""Auto-mode ranking of a movie's releases: deterministic, and explained release by release.

A score is a sum of points per rule, so ``score_reasons`` can say where every point came from.
The weights are tiers: resolution outweighs everything below it, then source (a remux counts as
the Blu-ray it is: its tier's top source, no more, so a smaller encode still wins), then the small
preferences (browser-friendly codec, PROPER/REPACK, a known group, a proven number of grabs). Within
equal scores the smaller release wins (it is ready sooner and costs less storage), then the newer one,
then the id, so the same input always gives the same order.

A release dubbed into another language (a language tag that is neither English, MULTi nor the film's
own language, and no dual-audio or original-version-with-subtitles tag) drops below the next
resolution tier: a viewer of this English-language service would rather watch 720p they understand.

Rejected releases are never picked in auto mode and sort last: passworded, implausible sizes, TV
episodes and season packs, years that contradict the movie, and CAM-like releases (cam, telesync,
telecine, workprint, screener) — unless nothing else exists, in which case the best of those is
offered (a user asked for the movie; the reasons say what it is).

What a release *is* (its source, modifier, TV or film, CAM or not) is read by ``release_parser``
alone; ranking never looks at the name for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.indexer_release import IndexerRelease
from chalicelib.domain.release_parser import ParsedRelease

#: The spec's fallback order after the preferred resolution: 1080p → 720p → 4K → the rest.
SPEC_ORDER = ("1080p", "720p", "2160p")
PREFERENCES = {"720p": "720p", "1080p": "1080p", "4K": "2160p"}

RESOLUTION_POINTS = (400, 300, 200)  # preferred, then the next two in the spec's order
OTHER_RESOLUTION_POINTS = 100  # 576p/480p/unknown: still a movie, but the last resort
#: A remux is ``bluray`` with modifier ``remux``: the top source of its resolution tier, like any
#: Blu-ray, and no higher, so within a tier the smaller release still wins.
SOURCE_POINTS = {"bluray": 60, "webdl": 60, "webrip": 40, "hdtv": 20, "dvd": 20}
UNKNOWN_SOURCE_POINTS = 10
CODEC_POINTS = {"h264": 10, "h265": 6, "av1": 6}  # H.264 plays in every browser
#: What each playable codec's points stand for, said as it is (the ranking reason a client shows).
#: HEVC decoding is the device's: Safari with hardware support, Edge and Chrome (107+) with a
#: hardware decoder; AV1 plays in Chrome, Edge and Firefox, in Safari only with a hardware decoder.
CODEC_REASONS = {
    "h264": "h264 plays in every browser",
    "h265": "h265 plays only where the device decodes HEVC in hardware (Safari, Edge, Chrome)",
    "av1": "av1 plays in Chrome, Edge and Firefox, in Safari only with hardware decoding",
}
UNPLAYABLE_CODECS = frozenset({"xvid", "divx", "vc1", "mpeg2"})
UNPLAYABLE_CODEC_POINTS = -30  # no browser plays these; the file would only download
DOLBY_VISION_POINTS = -10  # DV-only profiles show wrong colours on non-DV screens
FIX_POINTS = 8  # PROPER/REPACK fixes a broken original
KNOWN_GROUP_POINTS = 5
GRAB_POINTS = ((100, 6), (10, 4), (1, 2))  # grabs >= n: proven by other downloaders
DUBBED_POINTS = -150  # below the next resolution tier, above nothing-at-all

#: The parser's language names → ISO 639-1, to compare with TMDB's ``original_language``.
LANGUAGE_CODES = {
    "arabic": {"ar"}, "chinese": {"zh", "cn"}, "czech": {"cs"}, "danish": {"da"}, "dutch": {"nl"},
    "english": {"en"}, "finnish": {"fi"}, "french": {"fr"}, "german": {"de"}, "greek": {"el"},
    "hebrew": {"he"}, "hindi": {"hi"}, "hungarian": {"hu"}, "italian": {"it"}, "japanese": {"ja"},
    "korean": {"ko"}, "nordic": {"sv", "da", "no", "nb", "fi"}, "norwegian": {"no", "nb"},
    "polish": {"pl"}, "portuguese": {"pt"}, "russian": {"ru"}, "spanish": {"es"},
    "swedish": {"sv"}, "tamil": {"ta"}, "telugu": {"te"}, "turkish": {"tr"},
}  # fmt: skip
#: Tags saying the original audio is there too: dual audio, or original version with subtitles.
_ORIGINAL_AUDIO = re.compile(
    r"(?i)(?:^|[ ._\-\[(])(?:(?<!WEB[-._ ])DL|DUAL|DUAL[ ._-]?AUDIO|VOST\w*)(?:$|[ ._\-\])])"
)

#: P2P and scene groups with a long record of clean, correctly labelled movie releases.
KNOWN_GROUPS = frozenset(
    g.casefold()
    for g in (
        "SPARKS", "AMIABLE", "GECKOS", "DRONES", "ROVERS", "BLOW", "CiNEFiLE", "DEPTH", "EbP",
        "DON", "HiFi", "CtrlHD", "NTb", "FLUX", "CMRG", "TEPES", "KiNGS", "playBD", "FraMeSToR",
        "BHDStudio", "decibeL", "D-Z0N3", "ESiR", "SiMPLE", "NCmt", "HONE", "SWTYBLZ", "EVO",
    )
)  # fmt: skip

MIN_MOVIE_BYTES = 300 * 1000 * 1000
TV_REASONS = {"episode": "rejected: a TV episode", "season": "rejected: a TV season pack"}
_PASSWORD_WORDS = re.compile(r"(?i)\b(?:passworded|password[ ._-]?protected)\b")


@dataclass(frozen=True, slots=True)
class Ranked:
    release: IndexerRelease
    parsed: ParsedRelease
    score: float
    reasons: list[str] = field(default_factory=list)
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class Film:
    """What TMDB says about the film whose releases are ranked (unknown parts left out)."""

    title: str = ""
    year: int | None = None
    #: ISO 639-1, as TMDB's ``original_language``.
    original_language: str | None = None


def rank(
    releases: Iterable[tuple[IndexerRelease, ParsedRelease]],
    *,
    preference: str = "1080p",
    max_bytes: int,
    film: Film = Film(),
) -> list[Ranked]:
    """Every release scored and sorted best first; rejected ones last, each saying why."""
    wanted = PREFERENCES.get(preference, "1080p")
    order = (wanted, *(r for r in SPEC_ORDER if r != wanted))
    scored = [_score(r, p, order, max_bytes, film) for r, p in releases]
    if not any(not r.rejected for r in scored):
        scored = [_admit_cam(r) if _only_cam_like(r) else r for r in scored]
    return sorted(scored, key=_order_key)


def _order_key(ranked: Ranked) -> tuple[bool, float, float, float, str]:
    release = ranked.release
    size = release.size_bytes if release.size_bytes is not None else math.inf
    published = -release.published_at.timestamp() if release.published_at else math.inf
    return (ranked.rejected, -ranked.score, size, published, release.release_id)


def _score(
    release: IndexerRelease,
    parsed: ParsedRelease,
    order: Sequence[str],
    max_bytes: int,
    film: Film,
) -> Ranked:
    points = 0.0
    reasons: list[str] = []
    rejections: list[str] = []

    if parsed.resolution in order:
        rank_index = order.index(parsed.resolution)
        points += RESOLUTION_POINTS[rank_index]
        reasons.append(
            f"{parsed.resolution}: preferred resolution"
            if rank_index == 0
            else f"{parsed.resolution}: fallback resolution #{rank_index}"
        )
    else:
        points += OTHER_RESOLUTION_POINTS
        reasons.append(f"{parsed.resolution or 'unknown resolution'}: last resort")

    if parsed.cam_like:
        rejections.append(f"rejected: {parsed.source} (filmed in a cinema or a pre-release copy)")
    elif parsed.source in SOURCE_POINTS:
        points += SOURCE_POINTS[parsed.source]
        modifier = f" ({parsed.modifier})" if parsed.modifier else ""
        reasons.append(f"source {parsed.source}{modifier}")
    else:
        points += UNKNOWN_SOURCE_POINTS
        reasons.append("unknown source")

    if parsed.codec in CODEC_POINTS:
        points += CODEC_POINTS[parsed.codec]
        reasons.append(CODEC_REASONS[parsed.codec])
    elif parsed.codec in UNPLAYABLE_CODECS:
        points += UNPLAYABLE_CODEC_POINTS
        reasons.append(f"{parsed.codec} does not play in browsers")
    if parsed.hdr == "dv":
        points += DOLBY_VISION_POINTS
        reasons.append("Dolby Vision may show wrong colours")
    if parsed.proper or parsed.repack:
        points += FIX_POINTS
        reasons.append("PROPER/REPACK of a flawed release")
    if parsed.group and parsed.group.casefold() in KNOWN_GROUPS:
        points += KNOWN_GROUP_POINTS
        reasons.append(f"known group {parsed.group}")
    dubbed = _dubbed_into(release.title, parsed, film.original_language)
    if dubbed:
        points += DUBBED_POINTS
        reasons.append(f"dubbed: {dubbed} audio, the film is in {film.original_language or 'en'}")
    for threshold, bonus in GRAB_POINTS:
        if release.grabs is not None and release.grabs >= threshold:
            points += bonus
            reasons.append(f"{release.grabs} grabs")
            break

    rejections += _rejections(release, parsed, max_bytes, film)
    return Ranked(release, parsed, points, reasons + rejections, rejected=bool(rejections))


def _rejections(
    release: IndexerRelease, parsed: ParsedRelease, max_bytes: int, film: Film
) -> list[str]:
    """Reasons a release must not be auto-picked (each one also shown to the user)."""
    found = []
    if release.password == 1 or _PASSWORD_WORDS.search(release.title):
        found.append("rejected: password-protected")
    size = release.size_bytes
    if size is not None and size < MIN_MOVIE_BYTES:
        found.append(f"rejected: {size / 1e6:.0f} MB is too small for a movie")
    if size is not None and size > max_bytes:
        found.append(f"rejected: {size / 1e9:.1f} GB exceeds the {max_bytes / 1e9:.0f} GB limit")
    if parsed.tv is not None:
        found.append(TV_REASONS.get(parsed.tv, "rejected: TV"))
    categories = [c for c in release.categories if c != 0]
    if categories and not any(2000 <= c < 3000 for c in categories):
        found.append("rejected: not in a movie category")
    year = parsed.year
    # A number in the film's own title ("Blade Runner 2049") is no evidence of another film.
    if film.year and year and abs(year - film.year) > 1 and str(year) not in film.title:
        found.append(f"rejected: year {year}, the movie is from {film.year}")
    return found


def _dubbed_into(title: str, parsed: ParsedRelease, original_language: str | None) -> str:
    """The dub's language(s) when the release's only audio is one the viewer did not ask for
    (neither English nor the film's own); empty when it is not a dub or the name does not say."""
    spoken = {"en", (original_language or "en").lower()}
    names = set(parsed.languages)
    if not names or names & {"english", "multi"}:
        return ""
    if any(LANGUAGE_CODES.get(name, set()) & spoken for name in names):
        return ""  # the film's own language is there
    if _ORIGINAL_AUDIO.search(title):
        return ""
    return "/".join(sorted(name for name in names if name in LANGUAGE_CODES))


def _only_cam_like(ranked: Ranked) -> bool:
    """Rejected for being CAM-like and for nothing else."""
    rejections = [r for r in ranked.reasons if r.startswith("rejected:")]
    return ranked.parsed.cam_like and len(rejections) == 1


def _admit_cam(ranked: Ranked) -> Ranked:
    reasons = [
        f"{r.removeprefix('rejected: ')}; offered because nothing better exists"
        if r.startswith("rejected:")
        else r
        for r in ranked.reasons
    ]
    return Ranked(ranked.release, ranked.parsed, ranked.score, reasons, rejected=False)
