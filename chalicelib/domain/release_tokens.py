"""Vocabulary of release names: which token means what, for ``release_parser``.

Kept apart from the parser so the tables can grow without touching the logic (the same split as
Radarr's ``QualityParser`` tables and its parser). Every key is lower-case and is matched against a
whole token (names are split on ``. _ space - [ ] ( ) +`` and friends), never as a substring, so
"Cameron", "Tsunami" or "Scream" can never read as CAM, TS or SCR.

A token is *strong* when it is never a word of a film title (``1080p``, ``x264``, ``HDTV``): it
ends the title wherever it stands. A *weak* token is also an ordinary word ("Cam", "Web",
"French", "Extended", "Proper"): it counts only after the title has ended, or when it is written
in scene style (upper case: ``FRENCH``, ``MULTi``, ``PROPER``) in a name that mixes cases.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, Literal, NamedTuple

Kind = Literal[
    "source", "source_hint", "codec", "audio", "hdr", "resolution", "res_hint", "remux", "proper",
    "repack", "edition", "language", "marker", "subs", "tv",
]  # fmt: skip


class Token(NamedTuple):
    kind: Kind
    value: str
    strong: bool


#: Sources that mean a recording or pre-release copy; they win over any WEB/BluRay token. Worst
#: first: when a name carries two of them ("CAM.TS"), the worse one is reported.
CAM_LIKE: Final = ("cam", "telesync", "telecine", "workprint", "screener")

#: Best first: the order in which ``audio`` and ``hdr`` pick the strongest hint.
AUDIO_RANK: Final = (
    "atmos", "truehd", "dts-x", "dts-hd", "dts", "eac3", "ac3", "aac", "flac", "opus", "mp3",
)  # fmt: skip
HDR_RANK: Final = ("dv", "hdr10+", "hdr10", "hlg", "hdr")
RESOLUTIONS: Final = ("480p", "540p", "576p", "720p", "1080p", "2160p")
SOURCES: Final = (*CAM_LIKE, "dvd", "hdtv", "webrip", "webdl", "bluray")
#: What a release is besides its source: ``remux`` (the disc's streams, untouched; the best there is).
MODIFIERS: Final = ("remux",)
#: A TV episode (``S01E02``, ``1x02``, a dated show, an anime ``- 05``) or a season pack (``S01``).
TV_KINDS: Final = ("episode", "season")
CODECS: Final = ("h264", "h265", "av1", "xvid", "divx", "vc1", "mpeg2")
EDITIONS: Final = (
    "extended", "directors cut", "unrated", "theatrical", "remastered", "imax", "criterion",
    "uncut", "special edition", "final cut",
)  # fmt: skip

_S, _W = True, False

# (kind, value, strong, tokens...)
_ROWS: Final[tuple[tuple[Kind, str, bool, tuple[str, ...]], ...]] = (
    # The CAM family (Radarr's cam/ts/tc/wp/scr groups, guessit's and PTN's spellings). "HD-TS",
    # "HQ CAM", "CAM-Rip", "Tele.Sync"... are joined into one token first (``JOINED_SPELLINGS``).
    ("source", "cam", _W, ("cam",)),
    ("source", "cam", _S, ("hdcam", "camrip", "hqcam", "hdcamrip", "camhd", "newcam", "hqcamrip")),
    ("source", "cam", _S, ("newcamrip", "hqrip")),  # HQ-Rip: a fake's "high quality" label
    ("source", "telesync", _W, ("ts",)),
    ("source", "telesync", _S, ("hdts", "telesync", "pdvd", "predvd", "predvdrip", "tsrip")),
    ("source", "telesync", _S, ("hdtsrip", "telesynch", "hqts", "pdvdrip", "newts")),
    ("source", "telecine", _W, ("tc",)),
    ("source", "telecine", _S, ("hdtc", "telecine", "tcrip", "hdtcrip", "hqtc")),
    ("source", "workprint", _W, ("wp",)),
    ("source", "workprint", _S, ("workprint",)),
    ("source", "screener", _W, ("screener",)),
    (
        "source",
        "screener",
        _S,
        ("scr", "dvdscr", "bdscr", "hdscr", "dvdscreener", "webscr", "webscreener", "bdscreener"),
    ),
    ("source", "screener", _S, ("scrrip", "dvdscrrip", "hqscr")),
    # DVD: rips, disc images (DVD5/DVD9, 2xDVD9, MDVDR), XviD-from-DVD tags; PAL/NTSC/R5 only say
    # "DVD" when nothing else names a source.
    ("source", "dvd", _S, ("dvdrip", "dvd5", "dvd9", "dvdr", "dvd", "dvdmux", "dvdfull")),
    ("source", "dvd", _S, ("mdvdr", "dvdiso", "fulldvd")),
    ("source_hint", "dvd", _W, ("pal", "ntsc", "secam", "r5")),
    # TV: HDTV/SDTV/UHDTV (also spelled "HD TV", "SD.TV"), PDTV, DSR, satellite and DVB captures.
    ("source", "hdtv", _S, ("hdtv", "pdtv", "dsr", "dsrip", "hdtvrip", "tvrip", "ahdtv", "sdtv")),
    ("source", "hdtv", _S, ("uhdtv", "dvbrip", "satrip", "ppvrip", "dtvrip", "hdtvmux")),
    # Web: WEBMux is a web rip (Radarr's reading); DLMux/WEB-DLMux are remuxes of a WEB-DL;
    # AmazonHD/iTunesHD/WebHD... are tags for WEB-DLs of one store.
    ("source", "webrip", _S, ("webrip", "webdlrip", "webcap", "webmux")),
    ("source", "webdl", _S, ("webdl", "dlmux", "webdlmux", "amazonhd", "amazonsd", "ituneshd")),
    ("source", "webdl", _S, ("webhd", "netflixhd", "netflixuhd", "maxdomehd")),
    ("source", "webdl", _W, ("web",)),
    # Blu-ray, UHD Blu-ray and HD DVD (the same class of disc, as Radarr reads it).
    ("source", "bluray", _S, ("bluray", "bdrip", "brrip", "bd25", "bd50", "bd66", "bd100")),
    ("source", "bluray", _S, ("bdmv", "bdiso", "bdlight", "mbluray", "bdmux", "brdisk")),
    ("source", "bluray", _S, ("uhd2bd", "hddvd", "hddvdrip", "bluraydisc")),
    ("source", "bluray", _W, ("bd",)),
    ("source_hint", "bluray", _S, ("m2ts",)),  # a Blu-ray's transport stream, also as an extension
    ("codec", "h264", _S, ("x264", "h264", "avc", "avchd")),
    ("codec", "h265", _S, ("x265", "h265", "hevc")),
    ("codec", "av1", _S, ("av1",)),
    ("codec", "xvid", _S, ("xvid",)),
    ("codec", "divx", _S, ("divx",)),
    ("codec", "vc1", _S, ("vc1",)),
    ("codec", "mpeg2", _S, ("mpeg2",)),
    ("audio", "atmos", _S, ("atmos",)),
    ("audio", "truehd", _S, ("truehd",)),
    ("audio", "dts-x", _S, ("dtsx",)),
    ("audio", "dts-hd", _S, ("dtshd", "dtsma", "dtshdma")),
    ("audio", "dts", _S, ("dts", "dtses", "dtsd")),
    ("audio", "eac3", _S, ("ddp", "ddplus", "eac3", "ddpa")),
    ("audio", "ac3", _S, ("ac3",)),
    ("audio", "ac3", _W, ("dd",)),
    ("audio", "aac", _S, ("aac", "aaclc")),
    ("audio", "flac", _S, ("flac",)),
    ("audio", "opus", _W, ("opus",)),
    ("audio", "mp3", _S, ("mp3",)),
    ("hdr", "dv", _S, ("dovi", "dvhdr", "dolbyvision")),
    ("hdr", "dv", _W, ("dv",)),
    ("hdr", "hdr10+", _S, ("hdr10plus",)),
    ("hdr", "hdr10", _S, ("hdr10",)),
    ("hdr", "hlg", _S, ("hlg",)),
    ("hdr", "hdr", _S, ("hdr",)),
    ("res_hint", "2160p", _S, ("4k", "uhd")),
    ("remux", "remux", _S, ("remux",)),
    ("proper", "proper", _W, ("proper",)),
    ("repack", "repack", _S, ("repack", "rerip", "repack2", "repack3")),
    ("edition", "extended", _W, ("extended",)),
    ("edition", "unrated", _W, ("unrated",)),
    ("edition", "theatrical", _W, ("theatrical",)),
    ("edition", "remastered", _W, ("remastered", "remaster")),
    ("edition", "imax", _W, ("imax",)),
    ("edition", "criterion", _W, ("criterion",)),
    ("edition", "uncut", _W, ("uncut",)),
    ("language", "multi", _W, ("multi",)),
    ("language", "german", _W, ("german", "ger", "deutsch")),
    ("language", "french", _W, ("french", "fre")),
    ("language", "french", _S, ("vostfr", "truefrench", "vff", "vfq", "vfi")),
    ("language", "italian", _W, ("italian", "ita")),
    ("language", "spanish", _W, ("spanish", "spa", "castellano", "latino", "esp")),
    ("language", "dutch", _W, ("dutch", "nl", "flemish")),
    ("language", "nordic", _W, ("nordic",)),
    ("language", "swedish", _W, ("swedish", "swe")),
    ("language", "danish", _W, ("danish",)),
    ("language", "norwegian", _W, ("norwegian",)),
    ("language", "finnish", _W, ("finnish",)),
    ("language", "hindi", _W, ("hindi",)),
    ("language", "tamil", _W, ("tamil",)),
    ("language", "telugu", _W, ("telugu",)),
    ("language", "russian", _W, ("russian", "rus")),
    ("language", "polish", _W, ("polish", "pl")),
    ("language", "portuguese", _W, ("portuguese",)),
    ("language", "czech", _W, ("czech",)),
    ("language", "hungarian", _W, ("hungarian",)),
    ("language", "turkish", _W, ("turkish",)),
    ("language", "greek", _W, ("greek",)),
    ("language", "hebrew", _W, ("hebrew",)),
    ("language", "arabic", _W, ("arabic",)),
    ("language", "korean", _W, ("korean",)),
    ("language", "chinese", _W, ("chinese", "mandarin", "cantonese")),
    ("language", "japanese", _W, ("japanese", "jap", "jpn")),
    ("language", "english", _W, ("english", "eng")),
    # Tags that carry no field but are never title words: they end the title all the same.
    ("marker", "", _S, ("hdrip", "10bit", "8bit", "hi10p", "3d", "hsbs", "hou", "sdr", "dxva")),
    ("marker", "", _S, ("readnfo", "xxx", "amzn", "nf", "dsnp", "atvp", "hmax", "pcok", "2ch")),
    ("marker", "", _S, ("6ch", "8ch", "hc", "hardsub", "dubbed", "subbed")),
    ("marker", "", _W, ("internal", "limited", "ws", "dl", "sbs", "festival")),
    ("marker", "", _W, ("dub", "hulu", "rip", "dual")),
    ("subs", "", _S, ("subs", "sub", "subtitles", "subtitle", "multisubs", "nlsubs", "hebsubs")),
    ("subs", "", _S, ("hardsubs", "subtitulado", "ingebakken")),
)

TOKENS: Final[dict[str, Token]] = {
    word: Token(kind, value, strong) for kind, value, strong, words in _ROWS for word in words
}

_BLURAY, _DVD, _REMUX, _UHD = (
    Token("source", "bluray", _S),
    Token("source", "dvd", _S),
    Token("remux", "remux", _S),
    Token("res_hint", "2160p", _S),
)
#: Words that say two or three things at once (checked before ``TOKENS``).
MULTI: Final[dict[str, tuple[Token, ...]]] = {
    "bdremux": (_BLURAY, _REMUX),
    "uhdremux": (_BLURAY, _REMUX, _UHD),
    "dvdremux": (_DVD, _REMUX),
    "uhdbluray": (_BLURAY, _UHD),
    "uhdbd": (_BLURAY, _UHD),
    "uhdbdrip": (_BLURAY, _UHD),
    "uhdbdremux": (_BLURAY, _REMUX, _UHD),
    "xvidvd": (_DVD, Token("codec", "xvid", _S)),
    "xvidvid": (_DVD, Token("codec", "xvid", _S)),
    "dvdivx": (_DVD, Token("codec", "divx", _S)),
}

#: Two-token editions, matched on consecutive lower-case tokens after the title.
EDITION_PAIRS: Final[dict[tuple[str, str], str]] = {
    ("directors", "cut"): "directors cut",
    ("director's", "cut"): "directors cut",
    ("special", "edition"): "special edition",
    ("final", "cut"): "final cut",
    ("extended", "cut"): "extended",
    ("extended", "edition"): "extended",
    ("theatrical", "cut"): "theatrical",
}

#: Groups whose names contain a dash, so "the tail after the final '-'" would cut them.
DASHED_GROUPS: Final = ("D-Z0N3", "20-40", "VH-PROD", "FTW-HS", "DX-TV", "E-N-D")

#: Suffixes that indexers and reposters glue after the group (Sonarr strips the same ones).
GROUP_JUNK: Final = (
    "RP", "NZBGeek", "Obfuscated", "Scrambled", "sample", "Pre", "postbot", "xpost", "WhiteRev",
    "BUYMORE", "AsRequested", "AlternativeToRequested", "GEROV", "Z0iDS3N", "Chamele0n", "4P",
    "4Planet", "AlteZachen", "RePACKPOST",
)  # fmt: skip

#: File extensions that end a posted file name rather than a release name.
EXTENSIONS: Final = (
    "mkv", "mp4", "avi", "m4v", "wmv", "mov", "mpg", "mpeg", "nzb", "rar", "par2", "zip",
    "7z", "nfo", "sfv", "srt", "torrent", "added", "cbr", "cbz",
)  # fmt: skip
# ``.m2ts`` (a Blu-ray stream: read as a source hint) and ``.ts`` (a container, never telesync) are
# extensions the parser handles itself.

#: Spellings split by separators that mean one token. The parser joins each match, upper-cased,
#: without separators and with "+" spelled "PLUS" (``WEB-DL`` → ``WEBDL``, ``DD+`` → ``DDPLUS``).
JOINED_SPELLINGS: Final = (
    r"web[ ._-]?dl[ ._-]?rip(?![a-z0-9])",
    r"web[ ._-]dl(?![a-z0-9])",
    r"web[ ._-]rip(?![a-z0-9])",
    r"blu[ ._-]ray(?![a-z0-9])",
    r"dvd[ ._-]rip(?![a-z0-9])",
    r"(?:hd|hq|new)[ ._-]?cam(?:[ ._-]?rip)?(?![a-z0-9])",
    r"(?:cam|ts|tc|scr|hdts|hdtc|dvdscr)[ ._-]rip(?![a-z0-9])",
    r"(?:hd|hq|dvd|bd)[ ._-](?:ts|tc|scr)(?:[ ._-]?rip)?(?![a-z0-9])",
    r"(?:dvd|bd|web)[ ._-]?screener(?![a-z0-9])",
    r"web[ ._-]scr(?![a-z0-9])",
    r"tele[ ._-](?:sync|cine)(?![a-z0-9])",
    r"pre[ ._-]dvd(?:[ ._-]?rip)?(?![a-z0-9])",
    r"work[ ._-]print(?![a-z0-9])",
    r"hq[ ._-]rip(?![a-z0-9])",
    r"hd[ ._-]?dvd(?:[ ._-]?rip)?(?![a-z0-9])",
    r"(?:hd|sd|uhd)[ ._-]tv(?![a-z0-9])",
    r"dvd[ ._-][59r](?![a-z0-9])",
    r"(?:bd|uhd)[ ._-]remux(?![a-z0-9])",
    r"b[dr][ ._-]rip(?![a-z0-9])",
    r"web[ ._-](?:hd|mux|cap)(?![a-z0-9])",
    r"[hx][ .-]26[45](?![0-9])",
    r"dts[ ._-]?hd(?:[ ._-]?ma)?(?![a-z0-9])",
    r"dts[ ._:-](?:x|es)(?![a-z0-9])",
    r"e[ ._-]?ac[ ._-]?3(?![0-9])",
    r"dd\+",
    r"dolby[ ._-]?vision(?![a-z0-9])",
    r"hdr10(?:\+|[ ._-]?plus)",
    r"true[ ._-]hd(?![a-z0-9])",
    r"(?:vc|mpeg)[ ._-][12](?![0-9])",
)


def _first_letters(patterns: tuple[str, ...]) -> str:
    """The letters the joined spellings can start with, for a fast-failing lookahead: the join
    regex is tried at every word start, and most words start with none of them."""
    letters: set[str] = set()
    for pattern in patterns:
        found = re.match(r"\(\?:([a-z|]+)\)|\[([a-z]+)\]|([a-z])", pattern)
        if found is None:
            raise ValueError(f"cannot tell how {pattern!r} starts")
        alternatives, group, letter = found.groups()
        letters |= {a[0] for a in alternatives.split("|")} if alternatives else set(group or letter)
    return "".join(sorted(letters))


JOINED_FIRST_LETTERS: Final = _first_letters(JOINED_SPELLINGS)

_SEASON = re.compile(r"s\d{1,2}")
_EPISODE = re.compile(r"s\d{1,2}(?:e\d{1,4})+|e\d{2,4}|\d{1,2}x\d{2,3}(?:e\d{2,3})?")
_RESOLUTION = re.compile(
    r"(?:[a-z0-9]*[a-z])?(480|540|576|720|1080|2160)[pi]|\d{3,4}x(480|540|576|720|1080|2160)"
)
_MULTI_DVD = re.compile(r"\d{1,2}x?dvd(?:5|9|r)?")  # 2xDVD9, 2DVD5, 3xDVD
_COMPOUND = re.compile(r"([a-z]{2,8})(\d{3,4}[pi])")  # BD720p, HDTV720p
_AUDIO_CHANNELS = re.compile(r"(ddplus|ddp|dd|aac|eac3|dts|truehd|flac)(\d{1,2})")  # DD5, AAC2
_EPISODE_MARK: Final = Token("tv", "episode", True)
SEASON_MARK: Final = Token("tv", "season", True)


@lru_cache(maxsize=4096)
def meanings_of(low: str) -> tuple[Token, ...]:
    """What one lower-case token means: none, one, or two for compounds like ``bd720p``.

    Cached: the same few hundred tokens make up nearly every name.
    """
    token = TOKENS.get(low)
    if token is not None:
        return (token,)
    multi = MULTI.get(low)
    if multi is not None:
        return multi
    resolution = _RESOLUTION.fullmatch(low)
    if resolution:
        found = Token("resolution", (resolution.group(1) or resolution.group(2)) + "p", True)
        compound = _COMPOUND.fullmatch(low)
        if compound and compound.group(1) in TOKENS:
            return (found, TOKENS[compound.group(1)])
        return (found,)
    if _EPISODE.fullmatch(low):
        return (_EPISODE_MARK,)
    if _SEASON.fullmatch(low):
        return (SEASON_MARK,)
    if _MULTI_DVD.fullmatch(low):
        return (_DVD,)
    channels = _AUDIO_CHANNELS.fullmatch(low)
    if channels:
        return (TOKENS[channels.group(1)]._replace(strong=True),)
    return ()


def is_strong_quality(word: str) -> bool:
    """A number or a strong token: a group may be called TC, TS or WEB, but not 1080p or BluRay."""
    low = word.lower()
    return low.isdigit() or any(token.strong for token in meanings_of(low))
