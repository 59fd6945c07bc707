"""What operators see: one JSON line per upstream call and per request, never a credential."""

from __future__ import annotations

import subprocess
import sys

import responses

from tests.conftest import ROOT, TMDB, TMDB_KEY, ApiClient, LogCapture, tmdb_fixture

API = "/api/movies-on-demand"


def test_each_tmdb_call_is_logged_with_status_and_duration(
    api: ApiClient, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))

    api.get(f"{API}/popular?page=3")

    calls = logs.lines("upstream call")
    assert len(calls) == 1
    assert calls[0]["target"] == "tmdb"
    assert calls[0]["status"] == 200
    assert isinstance(calls[0]["duration_ms"], float)
    assert "page=3" in str(calls[0]["url"])
    access = logs.lines("request")
    assert access[0]["status"] == 200
    assert access[0]["path"] == f"{API}/popular"
    assert access[0]["request_id"] == calls[0]["request_id"]


def test_no_log_line_or_response_contains_the_tmdb_key(
    api: ApiClient, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", status=401, json={"status_message": "bad"})
    upstream.get(f"{TMDB}/3/search/movie", body=ConnectionError(f"refused for {TMDB_KEY}"))

    bodies = [api.get(f"{API}/popular").body, api.get(f"{API}/search?query=x").body]

    assert logs.lines("upstream call")
    assert TMDB_KEY not in logs.text
    assert all(TMDB_KEY.encode() not in body for body in bodies)


def test_a_dropped_connection_is_retried_once(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", status=503, body="busy")
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))

    response = api.get(f"{API}/popular")

    assert response.status == 200
    assert len(upstream.calls) == 2


def test_importing_the_app_does_not_load_boto3() -> None:
    """Discovery cold starts must not pay for boto3 (~100 ms and ~20 MB)."""
    probe = "import sys, app; print(sorted(m for m in ('boto3', 's3transfer') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
