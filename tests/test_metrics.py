"""EMF metrics: what CloudWatch will graph, read back from the lines the code prints."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from tests.conftest import TMDB, ApiClient, tmdb_fixture

API = "/api/movies-on-demand"


def emf_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith('{"_aws"')]


def metric(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if name in line]


def test_a_request_emits_count_latency_and_route(
    api: ApiClient, upstream: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))
    capsys.readouterr()

    api.get(f"{API}/popular")

    lines = emf_lines(capsys.readouterr().out)
    [request] = metric(lines, "ApiRequests")
    assert request["route"] == "GET /api/movies-on-demand/popular"
    assert (request["status"], request["code"]) == ("200", "OK")
    assert request["ApiLatency"][0] >= 0
    assert "ApiErrors" not in request
    [call] = metric(lines, "UpstreamCalls")
    assert (call["target"], call["outcome"]) == ("tmdb", "200")
    namespace = request["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    assert namespace == "MoviesOnDemand"


def test_a_failed_upstream_call_counts_as_an_error_by_code(
    api: ApiClient, upstream: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.get(f"{TMDB}/3/movie/top_rated", status=429, headers={"Retry-After": "3"}, json={})
    capsys.readouterr()

    api.get(f"{API}/top")

    lines = emf_lines(capsys.readouterr().out)
    [request] = metric(lines, "ApiRequests")
    assert (request["status"], request["code"], request["ApiErrors"]) == (
        "502",
        "TMDB_ERROR",
        [1.0],
    )
    [call] = metric(lines, "UpstreamCalls")
    assert call["outcome"] == "429"
    assert call["UpstreamThrottled"] == [1.0]


def test_invalid_input_is_counted_by_its_code(
    api: ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    api.get(f"{API}/movies/abc")

    [request] = metric(emf_lines(capsys.readouterr().out), "ApiRequests")
    assert (request["route"], request["code"]) == (
        "GET /api/movies-on-demand/movies/{id}",
        "INVALID_INPUT",
    )
