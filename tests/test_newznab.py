"""The Newznab client against recorded indexer replies and every way an indexer says no."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from chalicelib.adapters.newznab import MAX_REPLY_BYTES, NewznabClient
from chalicelib.errors import NzbgeekError
from tests.conftest import LogCapture

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "newznab"
BASE = "https://indexer.test"
KEY = "nzbgeek-key-that-must-never-leak-42"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:newznab="http://www.newznab.com/DTD/2010/feeds/attributes/">
<channel>{extra}{items}</channel></rss>"""


def rss(items: str = "", extra: str = "") -> str:
    return RSS.format(items=items, extra=extra)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def indexer(clock: Clock) -> NewznabClient:
    return NewznabClient(KEY, base_url=BASE, timeout=2.0, now=clock)


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def reply(
    mock: responses.RequestsMock, body: str | bytes | Exception, status: int = 200, **kw: object
) -> None:
    mock.add(responses.GET, f"{BASE}/api", body=body, status=status, **kw)  # type: ignore[arg-type]


def test_a_movie_search_reads_every_item_of_a_real_reply(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, (FIXTURES / "t_movie_imdbid_0371746_cat_2040_2050.xml").read_bytes())

    releases = indexer.movie("tt0371746")

    assert len(releases) == 23
    first = releases[0]
    assert first.title == "Iron.Man.2008.1080p.BluRay.DTS.dxva.x264.D-Z0N3"
    assert first.release_id.isalnum()
    assert len(first.release_id) == 32
    assert first.size_bytes is not None
    assert first.size_bytes > 1_000_000_000
    assert first.grabs is not None
    assert first.grabs >= 0
    assert 2000 in first.categories
    assert first.published_at is not None
    assert first.published_at.tzinfo is not None
    assert len({r.release_id for r in releases}) == 23


def test_the_request_asks_for_movies_by_imdb_digits_with_the_key_as_a_parameter(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, rss())

    assert indexer.movie("tt0058935") == []

    query = parse_qs(urlsplit(upstream.calls[0].request.url or "").query)
    assert query["t"] == ["movie"]
    assert query["imdbid"] == ["0058935"]  # leading zero kept, "tt" dropped
    assert query["cat"] == ["2000"]
    assert query["apikey"] == [KEY]


def test_missing_attributes_fall_back_or_are_null_and_unfetchable_items_are_skipped(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    items = """
    <item><title>No.Attrs.2020.720p.WEB-DL.x264-GRP</title>
      <guid>https://indexer.test/details/abc123</guid>
      <pubDate>Tue, 18 Aug 2015 10:52:02 -0600</pubDate>
      <enclosure url="https://indexer.test/getnzb/abc123" length="1234567890" type="application/x-nzb"/>
    </item>
    <item><title>No.Id.2020.720p.WEB-DL.x264-GRP</title></item>
    <item><title>Bad.Id.2020</title><guid>../../etc/passwd?x=1</guid></item>
    <item><guid>untitled1</guid></item>"""
    reply(upstream, rss(items))

    (release,) = indexer.movie("tt1")

    assert release.release_id == "abc123"
    assert release.size_bytes == 1234567890  # from the enclosure
    assert release.grabs is None
    assert release.password is None
    assert release.categories == ()
    assert release.published_at == datetime(2015, 8, 18, 16, 52, 2, tzinfo=UTC)


def test_a_bad_key_says_so_with_the_indexers_words_and_never_the_key(
    indexer: NewznabClient, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    reply(upstream, (FIXTURES / "error_invalid_api_key_no_xml_decl.xml").read_bytes())

    with pytest.raises(NzbgeekError) as caught:
        indexer.movie("tt1")

    assert "Invalid API Key" in caught.value.message
    assert "NZBGEEK_API_KEY" in caught.value.message
    assert KEY not in caught.value.message
    assert KEY not in logs.text
    assert logs.lines("upstream call")[0]["target"] == "newznab"


def test_an_error_sent_as_the_http_status_is_still_read(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, '<error code="101" description="Account suspended"/>', status=403)

    with pytest.raises(NzbgeekError, match="Account suspended"):
        indexer.movie("tt1")


def test_a_reached_request_limit_pauses_searches_until_the_wait_is_over(
    indexer: NewznabClient, upstream: responses.RequestsMock, clock: Clock
) -> None:
    reply(upstream, '<error code="500" description="Request limit reached"/>')

    with pytest.raises(NzbgeekError) as first:
        indexer.movie("tt1")
    assert first.value.retry_after == 15 * 60
    assert "Request limit reached" in first.value.message
    assert f"retry in {15 * 60} s" in first.value.message

    clock.now += timedelta(minutes=5)
    with pytest.raises(NzbgeekError) as second:
        indexer.movie("tt2")
    assert second.value.retry_after == 10 * 60
    assert len(upstream.calls) == 1  # the indexer was not asked again

    clock.now += timedelta(minutes=11)
    upstream.replace(responses.GET, f"{BASE}/api", body=rss())
    assert indexer.movie("tt2") == []
    assert len(upstream.calls) == 2


def test_http_429_honours_retry_after(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, "slow down", status=429, headers={"Retry-After": "120"})

    with pytest.raises(NzbgeekError) as caught:
        indexer.movie("tt1")

    assert caught.value.retry_after == 120
    assert caught.value.status == 502
    assert caught.value.code == "NZBGEEK_ERROR"


def test_advertised_limits_at_their_maximum_stop_the_next_search(
    indexer: NewznabClient, upstream: responses.RequestsMock, clock: Clock
) -> None:
    oldest = "Mon, 30 Nov 2026 10:00:00 +0000"
    limits = f'<newznab:apilimits apiCurrent="50" apiMax="50" apiOldestTime="{oldest}"/>'
    reply(upstream, rss(extra=limits))

    assert indexer.movie("tt1") == []  # this reply is still used
    with pytest.raises(NzbgeekError) as caught:
        indexer.movie("tt2")

    # The oldest counted request leaves the rolling day at 10:00 tomorrow: 22 h from now.
    assert caught.value.retry_after == 22 * 3600
    assert len(upstream.calls) == 1


def test_limits_below_the_maximum_change_nothing(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, rss(extra='<newznab:apilimits apiCurrent="44" apiMax="50" grabMax="5"/>'))

    indexer.movie("tt1")
    indexer.movie("tt1")

    assert len(upstream.calls) == 2


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss><channel><item><title>&lol4;</title></item></channel></rss>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY leak SYSTEM "file:///etc/passwd">]>
<rss><channel><item><title>&leak;</title><guid>x1</guid></item></channel></rss>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["bomb", "external"])
def test_xml_with_a_dtd_is_refused_without_expanding_it(
    indexer: NewznabClient, upstream: responses.RequestsMock, body: str
) -> None:
    reply(upstream, body)

    with pytest.raises(NzbgeekError, match="DTD"):
        indexer.movie("tt1")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html><body>maintenance</body>", "not XML"),
        (200, '{"channel": {}}', "not XML"),
        (200, "<feed/>", "not a Newznab RSS feed"),
        (503, "<html>Service Unavailable</html>", "HTTP 503"),
        (500, "", "HTTP 500"),
        (200, '<error code="201" description="Incorrect parameter"/>', "Incorrect parameter"),
    ],
)
def test_unusable_replies_become_nzbgeek_errors(
    indexer: NewznabClient,
    upstream: responses.RequestsMock,
    status: int,
    body: str,
    expected: str,
) -> None:
    reply(upstream, body, status=status)

    with pytest.raises(NzbgeekError, match=expected):
        indexer.movie("tt1")


def test_a_timeout_names_the_wait_and_not_the_url(
    indexer: NewznabClient, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    reply(upstream, requests.ReadTimeout(f"read timed out: {BASE}/api?apikey={KEY}"))

    with pytest.raises(NzbgeekError) as caught:
        indexer.movie("tt1")

    assert caught.value.message == "the indexer did not answer within 2 s"
    assert KEY not in logs.text


def test_an_indexer_error_description_never_echoes_the_key(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, f'<error code="100" description="Unknown key {KEY}"/>')

    with pytest.raises(NzbgeekError) as caught:
        indexer.movie("tt1")

    assert KEY not in caught.value.message


def test_the_title_search_uses_the_movie_categories(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, rss())

    indexer.search("Iron Man 2008")

    query = parse_qs(urlsplit(upstream.calls[0].request.url or "").query)
    assert query["t"] == ["search"]
    assert query["q"] == ["Iron Man 2008"]
    assert query["cat"] == ["2000"]


def test_a_reply_far_larger_than_a_search_result_is_refused(
    indexer: NewznabClient, upstream: responses.RequestsMock
) -> None:
    reply(upstream, b"<rss><channel>" + b" " * (MAX_REPLY_BYTES + 1) + b"</channel></rss>")

    with pytest.raises(NzbgeekError, match="far larger"):
        indexer.movie("tt1")
