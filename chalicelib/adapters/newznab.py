"""Newznab indexer client: NZBGeek by default, any Newznab indexer by base URL.

Newznab puts the API key in the query string, so it only ever travels as the ``apikey`` parameter:
``logged_request`` redacts it in log lines and no error here quotes a URL or a ``requests`` exception.
Replies are parsed with defusedxml, which refuses DTDs and entity expansion outright, so an XML bomb
costs one parse attempt, not the Lambda's memory.

Indexers answer errors with HTTP 200 and an ``<error code description/>`` document (and nZEDb once sent
the code as the HTTP status), so the body is read whatever the status. When the indexer says its limit
is reached (HTTP 429, codes 500/501, or ``<newznab:apilimits>`` at its maximum), the client stops
calling it until the advertised time instead of hammering it, and says how long in the error.

The downloader fetches NZBs through the same client (``nzb``): only from the configured indexer, by a
release id restricted to safe characters, and a redirect to any other host or port is refused before
it is followed (DOGnzb-style redirects to the same host are fine), so neither a release id nor an
indexer reply can make us fetch internal addresses.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from math import ceil
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from chalicelib.adapters.http import (
    BodyTooLarge,
    describe_transport_error,
    logged_request,
    pooled_session,
    retry_after_seconds,
)
from chalicelib.domain.indexer_release import IndexerRelease
from chalicelib.errors import NzbgeekError, NzbUnavailable
from chalicelib.logs import logger, scrub

#: Movies and every movie sub-category; sub-category ids differ between indexer software, so we
#: ask for the parent and read each item's own ``category`` attributes.
MOVIE_CATEGORY = 2000
#: One page is plenty: we show about 20 releases and indexers sort newest first.
PAGE_SIZE = 100
#: A search reply of 100 items is ~200 KB; anything far larger is not a search reply.
MAX_REPLY_BYTES = 8 * 1024 * 1024
#: Release ids go back into ``t=get&id=`` URLs; anything else is not an id we can fetch.
RELEASE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: Backoff when the indexer reports its request limit without saying until when.
DEFAULT_LIMIT_BACKOFF = timedelta(minutes=15)
#: Newznab's API limits are counted over a rolling day.
LIMIT_WINDOW = timedelta(hours=24)

Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class NewznabClient:
    """Movie searches against one indexer, with its request limit respected across calls."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.nzbgeek.info",
        timeout: float = 10.0,
        session: requests.Session | None = None,
        now: Now = _utcnow,
    ) -> None:
        self._api_key = api_key
        self._url = api_url(base_url)
        self._origin = _origin(base_url)
        self._timeout = timeout
        self._session = session or pooled_session()
        self._session.hooks["response"] = [_refuse_foreign_redirects(self._origin)]
        self._now = now
        self._blocked_until: datetime | None = None
        self._lock = threading.Lock()

    def movie(self, imdb_id: str) -> list[IndexerRelease]:
        """Releases the indexer has linked to an IMDb id (``tt0371746`` or ``0371746``)."""
        digits = imdb_id.removeprefix("tt")
        if not digits.isdigit():
            raise ValueError(f"not an IMDb id: {imdb_id!r}")
        return self._search({"t": "movie", "imdbid": digits})

    def search(self, query: str) -> list[IndexerRelease]:
        """A free-text search in the movie categories (the fallback when the IMDb id finds nothing)."""
        return self._search({"t": "search", "q": query})

    def nzb(self, release_id: str, *, max_bytes: int) -> bytes:
        """The NZB of ``release_id`` as the indexer sends it (``t=get``), at most ``max_bytes``.

        ``NzbUnavailable`` when this release is gone or too large (another may do), ``NzbgeekError``
        when the indexer itself fails or refuses the key.
        """
        if not RELEASE_ID.fullmatch(release_id):
            raise NzbgeekError("the release id has unexpected characters; refused")
        if self._origin[0] not in ("http", "https") or not self._origin[1]:
            raise NzbgeekError("NZBGEEK_BASE_URL must be an http(s) URL")
        try:
            response = logged_request(
                self._session,
                "indexer",
                "GET",
                self._url,
                timeout=self._timeout,
                params={"t": "get", "id": release_id, "apikey": self._api_key},
                max_bytes=max_bytes,
            )
        except BodyTooLarge:
            raise NzbUnavailable(
                f"the NZB is larger than {max_bytes // (1024 * 1024)} MiB; refused"
            ) from None
        except requests.RequestException as exc:
            raise NzbgeekError(
                f"the indexer {describe_transport_error(exc, self._timeout)}"
            ) from None
        if response.status_code in (401, 403):
            raise NzbgeekError("the indexer refused the API key (check NZBGEEK_API_KEY)")
        if response.status_code == 404:  # this release is gone, not the indexer
            raise NzbUnavailable(f"the indexer has no NZB for release {release_id}")
        if response.status_code != 200:
            raise NzbgeekError(f"the indexer answered HTTP {response.status_code}")
        return response.content

    # -- transport -------------------------------------------------------------------------------

    def _search(self, params: dict[str, str]) -> list[IndexerRelease]:
        self._refuse_while_limited()
        query = {
            **params,
            "cat": str(MOVIE_CATEGORY),
            "extended": "1",
            "limit": str(PAGE_SIZE),
            "offset": "0",
            "apikey": self._api_key,
        }
        try:
            response = logged_request(
                self._session,
                "newznab",
                "GET",
                self._url,
                params=query,
                timeout=self._timeout,
                max_bytes=MAX_REPLY_BYTES,
            )
        except BodyTooLarge:
            raise NzbgeekError(
                "the indexer sent a reply far larger than a search result; refused"
            ) from None
        except requests.RequestException as exc:
            raise NzbgeekError(
                f"the indexer {describe_transport_error(exc, self._timeout)}"
            ) from None
        if response.status_code == 429:
            wait = retry_after_seconds(response, default=int(DEFAULT_LIMIT_BACKOFF.total_seconds()))
            raise self._limited(self._now() + timedelta(seconds=wait))
        body = response.content
        root = self._parse(body, response.status_code)
        if _local(root.tag) == "error":
            raise self._error(root)
        if response.status_code != 200:
            raise NzbgeekError(f"the indexer answered HTTP {response.status_code}")
        if _local(root.tag) != "rss":
            raise NzbgeekError("the indexer sent a reply that is not a Newznab RSS feed")
        self._note_limits(root)
        return _items(root)

    def _parse(self, body: bytes, status: int) -> Element:
        try:
            root: Element = fromstring(body, forbid_dtd=True)
        except DefusedXmlException:
            raise NzbgeekError(
                "the indexer sent XML with a DTD or entity declarations; refused"
            ) from None
        except ParseError:
            if status != 200:
                raise NzbgeekError(f"the indexer answered HTTP {status}") from None
            raise NzbgeekError("the indexer sent a reply that is not XML") from None
        return root

    # -- errors and limits -----------------------------------------------------------------------

    def _error(self, root: Element) -> NzbgeekError:
        code = root.get("code", "")
        description = scrub(root.get("description", "").strip()[:200], [self._api_key])
        said = f"{description} (code {code})" if description else f"code {code}"
        if code in {"500", "501"} or "limit" in description.lower():
            return self._limited(self._now() + DEFAULT_LIMIT_BACKOFF, said)
        if code.startswith("1") and len(code) == 3:
            return NzbgeekError(f"the indexer rejected the API key: {said}; check NZBGEEK_API_KEY")
        return NzbgeekError(f"the indexer answered with an error: {said}")

    def _note_limits(self, root: Element) -> None:
        """Stop before the indexer has to refuse us: ``apiCurrent >= apiMax`` blocks until reset."""
        limits = next((e for e in root.iter() if _local(e.tag) == "apilimits"), None)
        if limits is None:
            return
        attrs = {name.lower(): value for name, value in limits.attrib.items()}
        current, maximum = _int(attrs.get("apicurrent")), _int(attrs.get("apimax"))
        if current is None or maximum is None or current < maximum:
            return
        oldest = _date(attrs.get("apioldesttime"))
        until = oldest + LIMIT_WINDOW if oldest else self._now() + DEFAULT_LIMIT_BACKOFF
        with self._lock:
            self._blocked_until = max(until, self._now() + timedelta(minutes=1))
        logger.warning(
            "indexer API limit reached; pausing searches",
            extra={"api_current": current, "api_max": maximum, "until": until.isoformat()},
        )

    def _limited(self, until: datetime, said: str = "") -> NzbgeekError:
        with self._lock:
            self._blocked_until = until
        wait = self._seconds_until(until)
        detail = f" ({said})" if said else ""
        return NzbgeekError(
            f"the indexer's request limit was reached{detail}; retry in {wait} s", retry_after=wait
        )

    def _refuse_while_limited(self) -> None:
        with self._lock:
            until = self._blocked_until
        if until is None or until <= self._now():
            return
        wait = self._seconds_until(until)
        raise NzbgeekError(
            f"the indexer's request limit was reached; not asking again for {wait} s",
            retry_after=wait,
        )

    def _seconds_until(self, until: datetime) -> int:
        return max(1, ceil((until - self._now()).total_seconds()))


def api_url(base_url: str) -> str:
    """The indexer's API endpoint; searches and NZB fetches differ only in their parameters (the
    key is one of them, so log lines can redact it)."""
    return base_url.rstrip("/") + "/api"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: another port on the same host is another service."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _refuse_foreign_redirects(allowed: tuple[str, str, int | None]) -> Any:
    """A requests response hook that stops any redirect leaving the configured indexer host.

    Hooks run before requests follows a redirect, so the foreign request is never made.
    """

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            target = urljoin(response.url, response.headers.get("Location", ""))
            origin = _origin(target)
            # The same scheme, host and port, or the http → https upgrade of the same host.
            if origin not in (allowed, ("https", allowed[1], 443)):
                raise NzbgeekError("the indexer redirected to another host; refused")
        return response

    return hook


# -- reply parsing --------------------------------------------------------------------------------


def _local(tag: str) -> str:
    """The tag without its namespace: one indexer uses a different newznab namespace URI."""
    return tag.rsplit("}", 1)[-1]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(item: Element, name: str) -> str:
    child = next((c for c in item if _local(c.tag) == name), None)
    return (child.text or "").strip() if child is not None else ""


def _items(root: Element) -> list[IndexerRelease]:
    releases = []
    for item in root.iter():
        if _local(item.tag) == "item":
            release = _item(item)
            if release is not None:
                releases.append(release)
    return releases


def _item(item: Element) -> IndexerRelease | None:
    """One ``<item>``, or None when it lacks a title or an id we could fetch it by."""
    attrs: dict[str, list[str]] = {}
    enclosure: dict[str, Any] = {}
    for child in item:
        name = _local(child.tag)
        if name == "attr" and child.get("name"):
            attrs.setdefault(child.get("name", "").lower(), []).append(child.get("value", ""))
        elif name == "enclosure":
            enclosure = dict(child.attrib)
    title = " ".join(_text(item, "title").split())
    release_id = _release_id(attrs.get("guid", [""])[0] or _text(item, "guid"))
    if not title or release_id is None:
        return None
    size = _int(attrs.get("size", [None])[0]) or _int(enclosure.get("length"))
    grabs = _int(attrs.get("grabs", [None])[0])
    categories = tuple(c for c in (_int(v) for v in attrs.get("category", [])) if c is not None)
    return IndexerRelease(
        release_id=release_id,
        title=title[:500],
        size_bytes=size if size is not None and size > 0 else None,
        published_at=_date(attrs.get("usenetdate", [None])[0]) or _date(_text(item, "pubDate")),
        grabs=grabs if grabs is not None and grabs >= 0 else None,
        categories=categories,
        password=_int(attrs.get("password", [None])[0]),
    )


def _release_id(guid: str) -> str | None:
    """The id part of a guid: the value itself, or the last path segment of a details URL."""
    candidate = guid.strip().rstrip("/").rsplit("/", 1)[-1].split("#", 1)[0]
    return candidate if RELEASE_ID.fullmatch(candidate) else None
