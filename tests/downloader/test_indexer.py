"""Fetching the NZB from the indexer: the right URL, only that host, size-limited, key never logged."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
import responses

from chalicelib.adapters.newznab import NewznabClient
from downloader.errors import IndexerError, NzbError
from downloader.usenet.nzb import MAX_NZB_BYTES, Nzb, fetch_nzb
from sandbox.posting import make_release

BASE = "https://indexer.test"
KEY = "indexer-key-do-not-leak"


def fetch(release_id: str, *, max_bytes: int = MAX_NZB_BYTES) -> Nzb:
    """As the task does: the indexer adapter fetches, the downloader parses."""
    return fetch_nzb(NewznabClient(KEY, base_url=BASE), release_id, max_bytes=max_bytes)


@responses.activate
def test_the_nzb_is_fetched_by_release_id(caplog: pytest.LogCaptureFixture) -> None:
    release = make_release({"a.mkv": b"x" * 100})
    responses.get(f"{BASE}/api", body=release.nzb)
    with caplog.at_level(logging.INFO):
        nzb = fetch("abc123")
    assert nzb.files[0].subject_name == "a.mkv"
    sent = responses.calls[0].request.url or ""
    assert sent.startswith(f"{BASE}/api?")
    assert "t=get" in sent
    assert "id=abc123" in sent
    assert KEY in sent
    assert KEY not in caplog.text


@responses.activate
def test_redirects_to_another_host_are_refused_before_following() -> None:
    responses.get(f"{BASE}/api", status=302, headers={"Location": "http://169.254.169.254/latest"})
    internal = responses.get("http://169.254.169.254/latest", body="secrets")
    with pytest.raises(IndexerError, match="redirected to another host"):
        fetch("abc123")
    assert internal.call_count == 0


@responses.activate
def test_a_redirect_to_another_port_of_the_same_host_is_refused() -> None:
    host = urlsplit(BASE).hostname
    responses.get(f"{BASE}/api", status=302, headers={"Location": f"https://{host}:6379/"})
    other = responses.get(f"https://{host}:6379/", body="redis")
    with pytest.raises(IndexerError, match="redirected to another host"):
        fetch("abc123")
    assert other.call_count == 0


@responses.activate
def test_redirects_on_the_same_host_are_followed() -> None:
    release = make_release({"a.mkv": b"x" * 100})
    responses.get(f"{BASE}/api", status=302, headers={"Location": f"{BASE}/fetch/abc123"})
    responses.get(f"{BASE}/fetch/abc123", body=release.nzb)
    assert fetch("abc123").files


@pytest.mark.parametrize("release_id", ["../admin", "a&apikey=x", "id with space", ""])
def test_odd_release_ids_never_reach_the_network(release_id: str) -> None:
    with responses.RequestsMock() as mocked, pytest.raises(IndexerError, match="release id"):
        fetch(release_id)
    assert not mocked.calls


@responses.activate
def test_oversized_error_and_refused_replies_are_explained() -> None:
    responses.get(f"{BASE}/api", body=b"<nzb>" + b" " * 3000 + b"</nzb>")
    with pytest.raises(NzbError, match="larger than"):
        fetch("big", max_bytes=2048)
    responses.replace(
        responses.GET, f"{BASE}/api", body=b'<error code="300" description="Missing item"/>'
    )
    with pytest.raises(NzbError, match=r"release gone: the indexer sent an error .*Missing item"):
        fetch("gone")
    responses.replace(responses.GET, f"{BASE}/api", status=401)
    with pytest.raises(IndexerError, match="refused the API key"):
        fetch("x")
