"""Fetching a release's NZB from the configured indexer (Newznab ``t=get``).

Only the configured indexer is ever contacted: the URL is built from ``NZBGEEK_BASE_URL`` and a release
id restricted to safe characters, and a redirect to any other host is refused before it is followed
(DOGnzb-style redirects to the same host are fine), so a release id or an indexer reply cannot make us
fetch internal addresses. The API key travels in the query string as Newznab requires; every log line
goes through ``logged_request``, which redacts it, and no message here quotes a URL.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from chalicelib.adapters.http import describe_transport_error, logged_request, pooled_session
from downloader.errors import IndexerError, NzbError
from downloader.usenet.nzb import MAX_NZB_BYTES, Nzb, parse_nzb

_RELEASE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def nzb_url(base_url: str, release_id: str) -> str:
    """The ``t=get`` URL without the key (added as a parameter so it is redacted in logs)."""
    if not _RELEASE_ID.fullmatch(release_id):
        raise IndexerError("the release id has unexpected characters; refused")
    return f"{base_url.rstrip('/')}/api"


def fetch_nzb(
    release_id: str,
    *,
    base_url: str,
    api_key: str,
    timeout: float = 10.0,
    max_bytes: int = MAX_NZB_BYTES,
    session: requests.Session | None = None,
) -> Nzb:
    """Download and parse the NZB of ``release_id``; IndexerError/NzbError say what went wrong."""
    url = nzb_url(base_url, release_id)
    allowed = _origin(base_url)
    if allowed[0] not in ("http", "https") or not allowed[1]:
        raise IndexerError("NZBGEEK_BASE_URL must be an http(s) URL")
    session = session or pooled_session()
    session.hooks["response"] = [_refuse_foreign_redirects(allowed)]
    try:
        response = logged_request(
            session,
            "indexer",
            "GET",
            url,
            timeout=timeout,
            params={"t": "get", "id": release_id, "apikey": api_key},
        )
    except IndexerError:
        raise
    except requests.RequestException as exc:
        raise IndexerError(f"the indexer {describe_transport_error(exc, timeout)}") from None
    if response.status_code in (401, 403):
        raise IndexerError("the indexer refused the API key (check NZBGEEK_API_KEY)")
    if response.status_code == 404:  # this release is gone, not the indexer: NzbError
        raise NzbError(f"the indexer has no NZB for release {release_id}")
    if response.status_code != 200:
        raise IndexerError(f"the indexer answered HTTP {response.status_code}")
    declared = response.headers.get("Content-Length", "")
    if (declared.isdigit() and int(declared) > max_bytes) or len(response.content) > max_bytes:
        raise NzbError(f"the NZB is larger than {max_bytes // (1024 * 1024)} MiB; refused")
    try:
        return parse_nzb(response.content, max_bytes=max_bytes)
    except NzbError as exc:
        raise NzbError(f"release {release_id}: {exc}") from None


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
                raise IndexerError("the indexer redirected to another host; refused")
        return response

    return hook
