"""Discovery endpoints against recorded TMDB responses: transforms, validation, errors and caching."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from tests.conftest import TMDB, TMDB_KEY, ApiClient, FakeClock, tmdb_fixture

API = "/api/movies-on-demand"


def sent_params(mock: responses.RequestsMock, index: int = -1) -> dict[str, list[str]]:
    url = mock.calls[index].request.url
    assert url is not None
    return parse_qs(urlsplit(url).query)


# -- happy paths -------------------------------------------------------------------------------------


def test_search_returns_transformed_results(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/search/movie", json=tmdb_fixture("search__movie"))

    response = api.get(f"{API}/search?query=%20batman%20&page=1")

    assert response.status == 200
    body = response.json
    assert (body["page"], body["total_pages"], body["total_results"]) == (1, 2, 39)
    first = body["results"][0]
    assert first["id"] == 550
    assert first["title"] == "Fight Club"
    assert first["release_date"] == "1999-10-15"
    assert first["year"] == 1999
    assert first["poster_url"] == "https://image.tmdb.org/t/p/w500/pB8BM7pdSp6B6Ih7QZ4DrQ3PmJK.jpg"
    assert first["backdrop_url"].startswith("https://image.tmdb.org/t/p/w1280/")
    assert first["genre_ids"] == [18, 53, 35]
    undated = [movie for movie in body["results"] if movie["release_date"] is None]
    assert undated, "TMDB's empty release dates must come back as null"
    assert all(movie["year"] is None for movie in undated)
    params = sent_params(upstream)
    assert params["query"] == ["batman"]
    assert params["page"] == ["1"]
    assert params["include_adult"] == ["false"]


def test_tmdb_is_called_with_the_bearer_token(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))

    api.get(f"{API}/popular")

    request = upstream.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TMDB_KEY}"
    assert TMDB_KEY not in (request.url or "")


def test_popular_caps_total_pages_at_what_tmdb_serves(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))

    response = api.get(f"{API}/popular")

    assert response.status == 200
    assert response.json["total_pages"] == 500  # TMDB says 38029, but serves only 500
    assert response.json["total_results"] == 760569
    assert len(response.json["results"]) == 20
    assert response.headers["Cache-Control"] == "public, max-age=3600"


def test_top_rated(api: ApiClient, upstream: responses.RequestsMock) -> None:
    fixture = tmdb_fixture("movie_lists__top_rated")
    upstream.get(f"{TMDB}/3/movie/top_rated", json=fixture)

    response = api.get(f"{API}/top?page=2")

    assert [m["id"] for m in response.json["results"]] == [m["id"] for m in fixture["results"]]
    assert sent_params(upstream)["page"] == ["2"]


def test_similar(api: ApiClient, upstream: responses.RequestsMock) -> None:
    upstream.get(f"{TMDB}/3/movie/550/similar", json=tmdb_fixture("movies__similar"))

    response = api.get(f"{API}/movies/550/similar")

    assert response.status == 200
    assert response.json["results"]
    assert sent_params(upstream)["page"] == ["1"]


def test_details_include_credits_and_no_job_yet(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(
        f"{TMDB}/3/movie/12313", json=tmdb_fixture("movies__details_with_append_to_response")
    )

    response = api.get(f"{API}/movies/12313")

    assert response.status == 200
    movie = response.json
    assert movie["title"] == "Rock Crystal"
    assert movie["imdb_id"] == "tt0409732"
    assert movie["runtime"] == 92
    assert movie["genres"] == [{"id": 12, "name": "Adventure"}, {"id": 18, "name": "Drama"}]
    assert movie["genre_ids"] == [12, 18]
    assert movie["budget"] is None  # TMDB's 0 means unknown
    assert movie["homepage"] is None  # TMDB's "" means none
    assert movie["tagline"] is None
    assert movie["spoken_languages"] == [
        {"iso_639_1": "de", "english_name": "German", "name": "Deutsch"}
    ]
    assert [member["order"] for member in movie["cast"]] == sorted(
        member["order"] for member in movie["cast"]
    )
    assert movie["cast"][0]["name"] == "Dana Vávrová"
    assert movie["cast"][0]["profile_url"].startswith("https://image.tmdb.org/t/p/w185/")
    assert {
        "id": 14614,
        "name": "Joseph Vilsmaier",
        "job": "Director",
        "department": "Directing",
    } in (movie["crew"])
    assert movie["job_status"] is None
    assert sent_params(upstream)["append_to_response"] == ["credits"]


def test_details_keep_only_the_billed_cast_and_key_crew(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    payload = tmdb_fixture("movies__details_with_append_to_response")
    extra = {"id": 1, "name": "Extra", "character": "Crowd", "profile_path": None}
    payload["credits"]["cast"] = [{**extra, "id": i, "order": 99 - i} for i in range(100)]
    payload["credits"]["crew"].append(
        {"id": 7, "name": "Caterer", "job": "Catering", "department": "Crew"}
    )
    upstream.get(f"{TMDB}/3/movie/12313", json=payload)

    movie = api.get(f"{API}/movies/12313").json

    assert len(movie["cast"]) == 30
    assert [member["order"] for member in movie["cast"]] == list(range(30))
    assert "Catering" not in {member["job"] for member in movie["crew"]}


# -- input validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "query=", "query=%20%20", "page=2"])
def test_search_without_a_query_is_invalid_input(
    api: ApiClient, upstream: responses.RequestsMock, query: str
) -> None:
    response = api.get(f"{API}/search?{query}" if query else f"{API}/search")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert "query" in response.json["error"]
    assert not upstream.calls


@pytest.mark.parametrize(
    ("page", "sent"),
    [("abc", "1"), ("0", "1"), ("-4", "1"), ("1.5", "1"), ("3", "3"), ("9999", "500")],
)
def test_page_is_lenient(
    api: ApiClient, upstream: responses.RequestsMock, page: str, sent: str
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))

    response = api.get(f"{API}/popular?page={page}")

    assert response.status == 200
    assert sent_params(upstream)["page"] == [sent]


@pytest.mark.parametrize(
    "movie_id", ["0", "-3", "abc", "1e3", "99999999999999999999", "2147483648", "12%2034", "1.5"]
)
@pytest.mark.parametrize("suffix", ["", "/similar"])
def test_invalid_movie_ids_are_rejected_before_calling_tmdb(
    api: ApiClient, upstream: responses.RequestsMock, movie_id: str, suffix: str
) -> None:
    response = api.get(f"{API}/movies/{movie_id}{suffix}")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert "movie id" in response.json["error"]
    assert not upstream.calls


# -- upstream errors ---------------------------------------------------------------------------------


def test_tmdb_404_is_not_found(api: ApiClient, upstream: responses.RequestsMock) -> None:
    upstream.get(
        f"{TMDB}/3/movie/424242",
        status=404,
        json={"success": False, "status_code": 34, "status_message": "not found"},
    )

    response = api.get(f"{API}/movies/424242")

    assert response.status == 404
    assert response.json == {
        "error": "movie 424242 not found",
        "code": "NOT_FOUND",
        "request_id": response.json["request_id"],
    }


def test_tmdb_404_on_similar_is_not_found(api: ApiClient, upstream: responses.RequestsMock) -> None:
    upstream.get(f"{TMDB}/3/movie/424242/similar", status=404, json={})

    assert api.get(f"{API}/movies/424242/similar").json["code"] == "NOT_FOUND"


def test_rejected_key_is_a_tmdb_error_with_tmdbs_reason(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(
        f"{TMDB}/3/movie/popular",
        status=401,
        json=tmdb_fixture("authentication__validate_key_unsuccessful"),
    )

    response = api.get(f"{API}/popular")

    assert response.status == 502
    assert response.json["code"] == "TMDB_ERROR"
    assert "Invalid API key" in response.json["error"]
    assert "TMDB_API_KEY" in response.json["error"]
    assert TMDB_KEY not in response.body.decode()


def test_rate_limit_passes_on_the_wait(api: ApiClient, upstream: responses.RequestsMock) -> None:
    upstream.get(f"{TMDB}/3/movie/top_rated", status=429, headers={"Retry-After": "7"}, json={})

    response = api.get(f"{API}/top")

    assert response.status == 502
    assert response.json["code"] == "TMDB_ERROR"
    assert "retry in 7 s" in response.json["error"]
    assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_tmdb_errors(
    api: ApiClient, upstream: responses.RequestsMock, status: int
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", status=status, body="<html>down</html>")

    response = api.get(f"{API}/popular")

    assert response.status == 502
    assert response.json["code"] == "TMDB_ERROR"
    assert f"HTTP {status}" in response.json["error"]


def test_timeout_is_a_tmdb_error(api: ApiClient, upstream: responses.RequestsMock) -> None:
    upstream.get(f"{TMDB}/3/search/movie", body=requests.Timeout("read timed out"))

    response = api.get(f"{API}/search?query=alien")

    assert response.status == 502
    assert response.json["code"] == "TMDB_ERROR"
    assert "did not answer within 5 s" in response.json["error"]


def test_unreachable_tmdb_is_a_tmdb_error(api: ApiClient, upstream: responses.RequestsMock) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", body=requests.ConnectionError("refused"))

    response = api.get(f"{API}/popular")

    assert response.json["code"] == "TMDB_ERROR"
    assert "could not be reached" in response.json["error"]


@pytest.mark.parametrize("body", ["not json at all", "[1, 2, 3]", '{"results": "nope"}'])
def test_unreadable_payloads_are_tmdb_errors(
    api: ApiClient, upstream: responses.RequestsMock, body: str
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", body=body, content_type="application/json")

    response = api.get(f"{API}/popular")

    assert response.status == 502
    assert response.json["code"] == "TMDB_ERROR"


def test_missing_key_names_the_setting(
    api: ApiClient, upstream: responses.RequestsMock, env: pytest.MonkeyPatch
) -> None:
    env.delenv("TMDB_API_KEY")

    for path in ["/popular", "/top", "/search?query=x", "/movies/550", "/movies/550/similar"]:
        response = api.get(API + path)
        assert response.status == 500, path
        assert response.json["code"] == "INTERNAL_ERROR"
        assert "TMDB_API_KEY" in response.json["error"]
    assert not upstream.calls
    assert api.get(f"{API}/health").status == 200


def test_unexpected_failure_is_an_internal_error_without_a_trace(
    api: ApiClient, upstream: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.tmdb import TmdbClient

    def broken(self: TmdbClient, page: int) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(TmdbClient, "popular", broken)

    response = api.get(f"{API}/popular")

    assert response.status == 500
    assert response.json["code"] == "INTERNAL_ERROR"
    assert response.json["request_id"] in response.json["error"]
    assert response.headers["X-Request-Id"] == response.json["request_id"]
    assert "Traceback" not in response.body.decode()
    assert "boom" not in response.body.decode()


# -- caching -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tmdb_path", "fixture", "ttl"),
    [
        ("/popular", "/3/movie/popular", "movie_lists__popular", 3600),
        ("/top", "/3/movie/top_rated", "movie_lists__top_rated", 3600),
        ("/movies/550/similar", "/3/movie/550/similar", "movies__similar", 3600),
        ("/search?query=batman", "/3/search/movie", "search__movie", 600),
        ("/movies/12313", "/3/movie/12313", "movies__details_with_append_to_response", 86400),
    ],
)
def test_warm_process_serves_repeats_from_cache_until_the_ttl(
    api: ApiClient,
    upstream: responses.RequestsMock,
    clock: FakeClock,
    path: str,
    tmdb_path: str,
    fixture: str,
    ttl: int,
) -> None:
    upstream.get(f"{TMDB}{tmdb_path}", json=tmdb_fixture(fixture))

    first = api.get(API + path)
    clock.advance(ttl - 1)
    second = api.get(API + path)
    assert len(upstream.calls) == 1
    assert second.json == first.json

    clock.advance(1)
    api.get(API + path)
    assert len(upstream.calls) == 2


def test_cache_keys_separate_pages_and_queries(
    api: ApiClient, upstream: responses.RequestsMock, clock: FakeClock
) -> None:
    upstream.get(f"{TMDB}/3/search/movie", json=tmdb_fixture("search__movie"))

    api.get(f"{API}/search?query=batman")
    api.get(f"{API}/search?query=BATMAN")  # same search, different case
    api.get(f"{API}/search?query=batman&page=2")
    api.get(f"{API}/search?query=robin")

    assert len(upstream.calls) == 3


def test_errors_are_not_cached(
    api: ApiClient, upstream: responses.RequestsMock, clock: FakeClock
) -> None:
    upstream.get(f"{TMDB}/3/movie/popular", status=500, body="down")
    assert api.get(f"{API}/popular").status == 502
    upstream.replace(
        responses.GET, f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular")
    )

    assert api.get(f"{API}/popular").status == 200


def test_health_needs_no_upstream(api: ApiClient, upstream: responses.RequestsMock) -> None:
    response = api.get(f"{API}/health")

    assert response.status == 200
    assert response.json["status"] == "ok"
    assert response.json["stage"] == "local"
    assert not upstream.calls
