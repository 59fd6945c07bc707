"""A Newznab indexer stand-in: movie searches answered in standard Newznab RSS, NZBs served by ``t=get``.

Every film of the TMDB stand-in's catalogue has the same six releases, named the way real ones are so
the API's parser and ranking have something to work on: three good ones (720p, 1080p, 2160p), one
more 1080p, a CAM (should be rejected) and a passworded one (``password=1``, and its NZB carries the
password tag, so fetching it by hand fails truthfully). All good releases' NZBs list the same posted
articles, the generated demo movie. Advertised sizes are those of real movies of that quality (a few
GB), not of the few-MB demo file, because rankers rightly distrust a 1080p film of 2 MB.

Replies follow the shapes in ``/work/shared/fixtures/newznab`` (DOGnzb/nZEDb): errors come back with HTTP
200 and an ``<error code description/>`` body, as real indexers send them. ``overrides`` lets tests
replace what a request type returns (hostile XML, redirects) without another server.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from sandbox.httpd import Reply, Request, StandIn
from sandbox.release import PostedRelease

NAMESPACE = "http://www.newznab.com/DTD/2010/feeds/attributes/"
GB = 1_000_000_000


@dataclass(frozen=True)
class Flavour:
    """One release of every film: name pattern, advertised size, grabs, age, categories."""

    pattern: str
    size: int
    grabs: int
    age_days: int
    categories: tuple[int, ...]
    password: bool = False


FLAVOURS = (
    Flavour("{t}.{y}.1080p.BluRay.x264-SANDBOX", int(10.9 * GB), 1290, 420, (2000, 2040)),
    Flavour("{t}.{y}.1080p.WEB-DL.DDP5.1.H.264-SANDBOX", int(7.4 * GB), 412, 60, (2000, 2040)),
    Flavour("{t}.{y}.720p.BluRay.x264-SANDBOX", int(5.2 * GB), 870, 700, (2000, 2040)),
    Flavour("{t}.{y}.2160p.WEB-DL.DV.HDR10.H.265-SANDBOX", int(18.3 * GB), 150, 30, (2000, 2045)),
    Flavour("{t}.{y}.HDCAM.x264-FAKE", int(1.4 * GB), 25, 900, (2000, 2030)),
    Flavour("{t}.{y}.1080p.BluRay.x264-LOCKED", int(9.8 * GB), 4, 5, (2000, 2040), password=True),
)


@dataclass(frozen=True)
class Item:
    release_id: str
    title: str
    imdb_digits: str
    flavour: Flavour
    published: datetime


@dataclass
class Newznab:
    """The stand-in's state; ``route`` is its HTTP handler."""

    api_key: str
    release: PostedRelease
    films: list[tuple[int, str, int | None, str]]
    base_url: str = ""
    #: Request type (``movie``, ``search``, ``get``) → the reply to send instead of the real one.
    overrides: dict[str, Reply] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    #: IMDb digits → the posted release that film's good releases serve instead of ``release``.
    own_releases: dict[str, PostedRelease] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        for _, title, year, imdb_id in self.films:
            dotted = release_words(title)
            for flavour in FLAVOURS:
                name = flavour.pattern.format(t=dotted, y=year or "")
                release_id = hashlib.md5(f"{imdb_id}/{name}".encode()).hexdigest()
                published = now - timedelta(days=flavour.age_days, hours=len(name) % 24)
                self.items[release_id] = Item(
                    release_id, name, imdb_id.removeprefix("tt"), flavour, published
                )

    def override(self, kind: str, reply: Reply | None) -> None:
        with self._lock:
            if reply is None:
                self.overrides.pop(kind, None)
            else:
                self.overrides[kind] = reply

    def releases_of(self, imdb_id: str) -> list[Item]:
        digits = imdb_id.removeprefix("tt")
        return [item for item in self.items.values() if _same_imdb(item.imdb_digits, digits)]

    def route(self, request: Request) -> Reply:
        kind = request.query.get("t", "")
        if request.path.rstrip("/") != "/api":
            return Reply(404, b"not found", "text/plain")
        if kind == "caps":
            return _xml(CAPS)
        if request.query.get("apikey") != self.api_key:
            return _error(100, "Incorrect user credentials")
        with self._lock:
            override = self.overrides.get(kind)
        if override is not None:
            return override
        if kind == "get":
            return self._nzb(request.query.get("id", ""))
        if kind in ("movie", "search"):
            return self._search(request.query)
        return _error(202, "No such function")

    def _nzb(self, release_id: str) -> Reply:
        item = self.items.get(release_id)
        if item is None:
            return _error(300, "No such item")
        posted = self.own_releases.get(item.imdb_digits, self.release)
        body = posted.passworded_nzb if item.flavour.password else posted.nzb
        disposition = f'attachment; filename="{item.title}.nzb"'
        return Reply(200, body, "application/x-nzb", {"Content-Disposition": disposition})

    def _search(self, query: dict[str, str]) -> Reply:
        imdb = query.get("imdbid", "").strip()
        words = release_words(query.get("q", "")).lower().split(".")
        if imdb:
            if not imdb.removeprefix("tt").isdigit():
                return _error(201, "Incorrect parameter (imdbid)")
            found = self.releases_of(imdb)
        else:
            found = [
                item
                for item in self.items.values()
                if all(w in item.title.lower().split(".") for w in words if w)
            ]
        wanted = {c for c in query.get("cat", "").split(",") if c.strip().isdigit()}
        if wanted:
            found = [i for i in found if wanted & {str(c) for c in i.flavour.categories}]
        offset = _number(query.get("offset"), 0)
        limit = min(_number(query.get("limit"), 100), 100)
        page = found[offset : offset + limit]
        return _xml(self._rss(page, offset, len(found)))

    def _rss(self, items: list[Item], offset: int, total: int) -> str:
        body = "".join(self._item(item) for item in items)
        return (
            '<?xml version="1.0" encoding="utf-8" ?>\n'
            f'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:newznab="{NAMESPACE}">'
            "<channel><title>Sandbox indexer</title><description>Sandbox Feed</description>"
            f'<newznab:response offset="{offset}" total="{total}" />{body}</channel></rss>\n'
        )

    def _item(self, item: Item) -> str:
        link = f"{self.base_url}/api?t=get&id={item.release_id}&apikey={self.api_key}"
        date = format_datetime(item.published)
        flavour = item.flavour
        attrs = [("category", str(c)) for c in flavour.categories] + [
            ("size", str(flavour.size)),
            ("guid", item.release_id),
            ("grabs", str(flavour.grabs)),
            ("usenetdate", date),
            ("password", "1" if flavour.password else "0"),
            ("imdb", item.imdb_digits),
        ]
        attr_xml = "".join(
            f"<newznab:attr name={quoteattr(n)} value={quoteattr(v)} />" for n, v in attrs
        )
        return (
            f"<item><title>{escape(item.title)}</title>"
            f'<guid isPermaLink="true">{escape(self.base_url)}/details/{item.release_id}</guid>'
            f"<link>{escape(link)}</link><pubDate>{date}</pubDate>"
            f"<category>Movies &gt; HD</category><description>{escape(item.title)}</description>"
            f'<enclosure url={quoteattr(link)} length="{flavour.size}" type="application/x-nzb" />'
            f"{attr_xml}</item>"
        )


def start(api_key: str, release: PostedRelease, films: list[tuple[int, str, int | None, str]],
          port: int = 0, own_releases: dict[str, PostedRelease] | None = None,
          ) -> tuple[Newznab, StandIn]:  # fmt: skip
    """The stand-in's state and its running server (the state knows its own URL for item links)."""
    state = Newznab(api_key, release, films, own_releases=dict(own_releases or {}))
    server = StandIn(state.route, port=port, name="newznab-stand-in")
    state.base_url = server.url
    return state, server.start()


def release_words(title: str) -> str:
    """A title as release names spell it: ``Schindler's List`` → ``Schindlers.List``."""
    cleaned = re.sub("['\u2019]", "", title)
    return ".".join(re.findall(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", cleaned))


def _same_imdb(left: str, right: str) -> bool:
    return left.isdigit() and right.isdigit() and int(left) == int(right) != 0


def _number(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() else default


def _xml(text: str) -> Reply:
    return Reply(200, text.encode(), "application/rss+xml; charset=utf-8")


def _error(code: int, description: str) -> Reply:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<error code="{code}" description="{description}"/>'
    return Reply(200, body.encode(), "application/xml")


CAPS = """<?xml version="1.0" encoding="UTF-8"?>
<caps><server title="Sandbox indexer" /><limits max="100" default="100" />
<searching><search available="yes" supportedParams="q" />
<movie-search available="yes" supportedParams="q,imdbid" /></searching>
<categories><category id="2000" name="Movies"><subcat id="2030" name="SD" /><subcat id="2040" name="HD" />
<subcat id="2045" name="UHD" /></category></categories></caps>
"""
