"""Release names → structured facts (title, year, quality, group), for ranking Newznab results.

Pure: no I/O, no clock, no globals mutated; every regex is compiled once at import.

How a name is read (Sonarr/Radarr's shape, our tables in ``release_tokens``):

1. Clean (``release_cleaner``): first 500 characters, one line, the quoted file name of a Usenet
   subject; leading ``[tags]`` are set aside (never the title, but "[CAM] Film" is a CAM).
2. Group: the tail after the final ``-`` once ``[eztv]``/``[hash]`` tags, extensions (``.ts`` is a
   container, never telesync) and reposter junk (``-Obfuscated``, ``-1``) are gone; refused when it
   is a strong quality word, a number, has spaces or dots, or nothing before it looks like a release.
3. Tokens: ``WEB-DL``, ``H.264``, ``DTS-HD``, ``HD-TS``, ``HQ CAM``, ``HD DVD``... are joined, then
   the name is split on separators and whole tokens are looked up (never substrings: "Scream" is
   not SCR). A first token that is a CAM-family tag (``HDCAM.Film``, ``CAM.Film.2021``) is a tag.
4. Title and year: the title ends at the first strong token or at the year; the year is the last
   one (1900-2099, never the first token) before the first tag, else before the first quality
   token ("2001 A Space Odyssey 1968", "Blade Runner 2049 2017", "Movie.EXTENDED.2019.1080p").
   A weak CAM-family word ending the title where nothing says it is a title word (no year, or a
   name in one case: "movie.cam.x264") is read as the source: pessimism.
5. Fields come from the tokens after the title. Source: a cam-like token there (HDCAM, TS, TC,
   WP, SCR…) wins over WEB/BluRay tokens, because fakes label themselves both ways; else the
   first source named; else what implies one (a remux is of a Blu-ray; PAL/NTSC a DVD; ``.m2ts`` a
   Blu-ray stream; 540p a stream). ``REMUX`` is the ``modifier``, never believed beside a CAM.
   TV: an episode marker (``S01E02``, ``1x02``, an anime ``- 05``) or a date makes it an
   ``episode``, a bare ``S01`` or a ``Season 01`` a ``season`` pack.

Decision: our own tables, no library. Measured here (2 shared cores, CPython 3.11) on the 2,118
names of ``bench/release_parser.py`` (475-name test table + 1,643 shared Newznab names), and on
the table for the seven fields the libraries also report (title, year, resolution, source, codec,
group, cam_like; their sources mapped to ours, our pessimistic rule applied to guessit's list):

* guessit 4.4.0: 635-710 ms per 100 names (ratio 0.004-0.009: we are 100-200x faster), over
  half a request's budget; all seven right for 325/475 names; cam_like wrong for 8 of the 34
  names with cam-like words (fakes and look-alikes); groups keep ``[hash]``; hashes become titles.
* parse-torrent-title 2.8.2: 108-114 ms per 100 names (ratio 0.03-0.05); 271/475; cam_like wrong
  for 9/34 (WEB-DL beats HDCAM); ``[hash]`` tags split into the group; no obfuscation flag.
* this module: 3-5.5 ms per 100 names (30-55 µs a name, ~15x a bare split-and-lookup; the two
  cores are shared, hence the ranges); 475/475 by construction, the table being its test. Since
  issue 17 (every source family, the CAM family wherever it stands, TV): 4-6.5 ms per 100 of the
  2,261 names, 1.06-1.13x the earlier figure measured side by side; the table is 618 names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from chalicelib.domain.release_cleaner import SPLIT, clean, looks_obfuscated, split_group, trim
from chalicelib.domain.release_tokens import (
    AUDIO_RANK,
    CAM_LIKE,
    EDITION_PAIRS,
    HDR_RANK,
    JOINED_FIRST_LETTERS,
    JOINED_SPELLINGS,
    SEASON_MARK,
    TOKENS,
    Token,
    meanings_of,
)

MAX_NAME_LENGTH: Final = 500


@dataclass(frozen=True, slots=True)
class ParsedRelease:
    """What a release name says about itself; ``None``/``False``/``()`` where it says nothing."""

    title: str | None = None
    year: int | None = None
    resolution: str | None = None
    source: str | None = None
    #: ``"remux"`` (``release_tokens.MODIFIERS``): the disc's own streams, the best a source gives.
    modifier: str | None = None
    codec: str | None = None
    hdr: str | None = None
    audio: str | None = None
    proper: bool = False
    repack: bool = False
    edition: str | None = None
    group: str | None = None
    languages: tuple[str, ...] = ()
    obfuscated: bool = False
    cam_like: bool = False
    #: ``"episode"`` or ``"season"`` (a pack) for TV (``release_tokens.TV_KINDS``); ``None``: a film.
    tv: str | None = None

    @property
    def remux(self) -> bool:
        return self.modifier == "remux"


_EMPTY: Final = ParsedRelease()
_OBFUSCATED: Final = ParsedRelease(obfuscated=True)

_I = re.IGNORECASE
_JOINED = re.compile(
    rf"(?<![a-z0-9])(?=[{JOINED_FIRST_LETTERS}])(?:" + "|".join(JOINED_SPELLINGS) + ")", _I
)
_JOIN_SEPARATORS = re.compile(r"[ ._:-]")
# An anime episode number after a spaced dash ("Sakura Quest - 05 [1080p]") becomes "E05".
_ANIME_EPISODE = re.compile(r"(?<=[\s_])-[\s_]+(\d{1,3})(?:v\d)?(?=[\s_\[(]|$)")
_WORD = re.compile(r"[^\W_]")


def parse_release(name: str) -> ParsedRelease:
    """Parse one release name; never raises, whatever the input."""
    if not isinstance(name, str):
        return _EMPTY
    text, leading = clean(name[:MAX_NAME_LENGTH])
    if not text:
        return _EMPTY
    trimmed, tags = trim(text)
    if looks_obfuscated(trimmed):
        return _OBFUSCATED
    body, group = split_group(trimmed)
    # Trailing and leading [tags] may hold quality ("[1080p] [BluRay]", "[CAM] Film") but never
    # words of the title.
    tag_tokens = _tokens(" ".join(tags)) if tags else []
    if leading:
        tag_tokens += _tokens(leading)
    mixed_case = _mixed_case(body)
    tokens = _tokens(body)
    if _leading_cam(tokens, mixed_case):  # "HDCAM.Film.2021": a tag, not the title's first word
        tag_tokens.append(tokens.pop(0))
    parsed = _read(tokens + tag_tokens, len(tokens), group, mixed_case=mixed_case)
    if group is not None and parsed is None:
        # Nothing release-like before the dash ("X-Men"): the dash belonged to the title.
        tokens = _tokens(trimmed)
        parsed = _read(tokens + tag_tokens, len(tokens), None, mixed_case=_mixed_case(trimmed))
    return parsed or ParsedRelease(title=" ".join(tokens) or None)


def _leading_cam(tokens: list[str], mixed_case: bool) -> bool:
    """The first token is a CAM-family tag: a strong one (``HDCAM``, ``TELESYNC``), or a short one
    in scene case with the title after it (``CAM.Film.2021``, never ``Cam.2018``, ``TS.2019``)."""
    if len(tokens) < 2:
        return False
    found = meanings_of(tokens[0].lower())
    if not any(m.kind == "source" and m.value in CAM_LIKE for m in found):
        return False
    if any(m.strong for m in found):
        return True
    following = tokens[1]
    return (
        mixed_case
        and _scene_case(tokens[0])
        and not _is_year(following)
        and not any(m.strong for m in meanings_of(following.lower()))
    )


def _join(match: re.Match[str]) -> str:
    return _JOIN_SEPARATORS.sub("", match.group(0).upper().replace("+", "PLUS"))


def _tokens(body: str) -> list[str]:
    """Whole words, with multi-part spellings (``WEB-DL``, ``H.264``, ``DD+``) joined first."""
    body = _JOINED.sub(_join, body)
    body = _ANIME_EPISODE.sub(lambda m: f" E{m.group(1):0>2} ", body)
    return [t for t in (raw.strip(":;!?") for raw in SPLIT.split(body)) if _WORD.search(t)]


def _mixed_case(text: str) -> bool:
    """Scene case (``FRENCH`` vs ``French``) only means something when the name mixes cases."""
    return text != text.upper() and text != text.lower()


def _scene_case(token: str) -> bool:
    letters = [c for c in token if c.isalpha()]
    return len(letters) >= 2 and 2 * sum(c.isupper() for c in letters) > len(letters)


def _is_year(token: str) -> bool:
    # ASCII only: "²⁰¹⁹".isdigit() is true and int() refuses it.
    return len(token) == 4 and token.isascii() and token.isdigit() and 1900 <= int(token) <= 2099


def _is_date(tokens: list[str], i: int) -> bool:
    """``2012.02.22`` or ``2010-09-17``: a talk show or sports date, not a title word."""
    month, day = [*tokens[i + 1 : i + 3], "", ""][:2]
    digits = month + day
    if not (len(month) == len(day) == 2 and digits.isascii() and digits.isdigit()):
        return False
    return 0 < int(month) < 13 and 0 < int(day) < 32


_QUALITY_KINDS: Final = frozenset(
    ("source", "codec", "audio", "hdr", "resolution", "res_hint", "remux", "tv")
)
_SEASON_WORDS: Final = frozenset(("season", "saison", "staffel", "temporada", "stagione"))
_PACK_WORDS: Final = frozenset(("complete", "completa", "komplett", "pack", "integrale"))
#: A resolution only streaming services deliver (qHD): a web release when nothing else says.
_WEB_ONLY_RESOLUTIONS: Final = frozenset(("540p",))
_HD_RESOLUTIONS: Final = frozenset(("720p", "1080p", "2160p"))


def _read(
    tokens: list[str], title_limit: int, group: str | None, *, mixed_case: bool
) -> ParsedRelease | None:
    """Fields from tokens; ``None`` when not a single token looks like part of a release name.

    The title is at most ``tokens[:title_limit]`` (what follows are trailing tags).
    """
    if not tokens:
        return None
    lows = [token.lower() for token in tokens]
    meanings: list[tuple[Token, ...]] = [()]  # the first token is always the title's
    meanings.extend(meanings_of(low) for low in lows[1:])
    if not _SEASON_WORDS.isdisjoint(lows):
        _mark_seasons(tokens, lows, meanings)
    strong = [
        any(m.strong or (mixed_case and _scene_case(tok)) for m in found)
        for tok, found in zip(tokens, meanings, strict=True)
    ]
    end = len(tokens)  # the first strong token ends the title
    quality_at = len(tokens)  # ... and the first strong quality/episode token ends the year search
    for i in range(1, len(tokens)):
        if strong[i]:
            end = min(end, i)
            if any(m.kind in _QUALITY_KINDS for m in meanings[i]):
                quality_at = i
                break
    # The last year before the first tag ("Blade Runner 2049 2017"); failing that, the last one
    # before the first quality token ("Movie.EXTENDED.2019.1080p").
    year_at: int | None = None
    dated = False
    for i in range(1, quality_at):
        if year_at is not None and i > end:
            break
        if _is_year(tokens[i]):
            year_at = i
            if _is_date(tokens, i):
                dated = True  # a talk show's or a match's date: TV
                break
    if year_at is not None:
        end = min(end, year_at)
    elif end == len(tokens):
        return None
    # The title's last word is a weak CAM-family word ("movie.cam.x264", "MOVIE.TS.2023"): in a
    # name without a year, or in one case throughout, nothing says it is a title word; pessimism
    # says it is the source.
    if (
        end >= 2
        and (year_at is None or not mixed_case)
        and any(m.kind == "source" and m.value in CAM_LIKE for m in meanings[end - 1])
    ):
        end -= 1
    end = min(end, title_limit)
    return _fields(
        tokens,
        meanings,
        strong,
        end,
        mixed_case=mixed_case,
        title=" ".join(tokens[:end]) or None,
        year=int(tokens[year_at]) if year_at is not None else None,
        group=group,
        dated=dated,
    )


def _mark_seasons(tokens: list[str], lows: list[str], meanings: list[tuple[Token, ...]]) -> None:
    """``Season 01``, ``Season 2 Complete``, ``Show 2019 Season 2``: a season pack. ``Open Season 2
    (2008)`` is a film, and so is a bare ``Season 2`` before the tags (a sequel's number)."""
    for i in range(1, len(tokens) - 1):
        number = lows[i + 1]
        if lows[i] not in _SEASON_WORDS or not (number.isascii() and number.isdigit()):
            continue
        if len(number) > 2 or (i + 2 < len(tokens) and _is_year(tokens[i + 2])):
            continue
        padded = len(number) == 2 and number[0] == "0"
        packed = i + 2 < len(tokens) and lows[i + 2] in _PACK_WORDS
        if padded or packed or any(_is_year(token) for token in tokens[1:i]):
            meanings[i] = (SEASON_MARK,)


def _fields(
    tokens: list[str],
    meanings: list[tuple[Token, ...]],
    strong: list[bool],
    start: int,
    *,
    mixed_case: bool,
    title: str | None,
    year: int | None,
    group: str | None,
    dated: bool = False,
) -> ParsedRelease:
    """Everything else, read from the tokens after the title (``start``)."""
    sources: list[str] = []
    hints: list[str] = []
    audio: list[str] = []
    hdr: list[str] = []
    languages: list[str] = []
    tv: set[str] = set()
    flags: set[str] = set()
    codec = resolution = hint = edition = None
    in_episode_title = False
    for i in range(start, len(tokens)):
        marks = [m.value for m in meanings[i] if m.kind == "tv"]
        if marks:
            tv.update(marks)
            in_episode_title = True
            continue
        if strong[i]:
            in_episode_title = False
        elif in_episode_title and mixed_case and not _leads_tags(meanings, strong, i):
            continue  # weak words between an episode marker and the next tag: the episode's title
        low = tokens[i].lower()
        if edition is None and i + 1 < len(tokens):
            edition = EDITION_PAIRS.get((low, tokens[i + 1].lower()))
        for meaning in meanings[i]:
            kind, value = meaning.kind, meaning.value
            if kind == "source":
                sources.append(value)
            elif kind == "source_hint":
                hints.append(value)
            elif kind == "codec":
                codec = codec or value
            elif kind == "audio":
                audio.append(value)
            elif kind == "hdr":
                hdr.append(value)
            elif kind == "resolution":
                resolution = resolution or value
            elif kind == "res_hint":
                hint = hint or value
            elif kind in ("remux", "proper", "repack"):
                flags.add(kind)
            elif kind == "edition":
                edition = edition or value
            elif kind == "language" and value not in languages and not _before_subs(tokens, i):
                languages.append(value)
    resolution = resolution or hint
    remux = "remux" in flags
    # The pessimistic rule: a cam-like token anywhere wins over WEB/BluRay tokens (and a "REMUX"
    # beside it is a fake's label). Then the first source named; then what implies one: a remux
    # is of a Blu-ray, PAL/NTSC is a DVD, .m2ts a Blu-ray stream, 540p a stream.
    source: str | None = next((s for s in CAM_LIKE if s in sources), None)
    if source is None:
        if sources:
            source = sources[0]
        elif remux:
            source = "bluray"
        elif hints := [h for h in hints if h != "dvd" or resolution not in _HD_RESOLUTIONS]:
            source = hints[0]  # a 1080i PAL capture is no DVD
        elif resolution in _WEB_ONLY_RESOLUTIONS:
            source = "webdl"
    cam_like = source in CAM_LIKE
    return ParsedRelease(
        title=title,
        year=year,
        group=group,
        resolution=resolution,
        source=source,
        modifier="remux" if remux and not cam_like else None,
        codec=codec,
        hdr=next((h for h in HDR_RANK if h in hdr), None),
        audio=next((a for a in AUDIO_RANK if a in audio), None),
        proper="proper" in flags,
        repack="repack" in flags,
        edition=edition,
        languages=tuple(languages),
        cam_like=cam_like,
        tv="episode" if "episode" in tv or dated else ("season" if tv else None),
    )


def _leads_tags(meanings: list[tuple[Token, ...]], strong: list[bool], i: int) -> bool:
    """``S12E16.Die.Prominenten.German.DD51``: a run of known words that runs into a strong tag.

    Such a run is tags, not the episode's title, except that a cam-like word needs scene case.
    """
    if any(m.kind == "source" and m.value in CAM_LIKE for m in meanings[i]):
        return False
    for j in range(i, len(meanings)):
        if strong[j]:
            return True
        if not meanings[j]:
            return False
    return False


def _before_subs(tokens: list[str], i: int) -> bool:
    """``NL.Subs``, ``ger sub``: a subtitle language, not the audio's."""
    if i + 1 >= len(tokens):
        return False
    nxt = TOKENS.get(tokens[i + 1].lower())
    return nxt is not None and nxt.kind == "subs"
