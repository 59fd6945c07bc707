"""``GET /releases`` and ``POST /fetch`` through the HTTP API: TMDB and the indexer mocked with
responses, SQS with moto, the job store a real SQLite file; every response checked by the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import responses
from moto import mock_aws
from mypy_boto3_sqs import SQSClient

from chalicelib import bootstrap
from tests.conftest import TMDB, ApiClient, FakeClock, LogCapture, tmdb_fixture

API = "/api/movies-on-demand"
INDEXER = "https://indexer.test"
INDEXER_KEY = "nzbgeek-api-key-never-to-be-seen-7f3a"
REGION = "eu-west-1"
MOVIE_ID = 1726
JSON = {"Content-Type": "application/json"}

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:newznab="http://www.newznab.com/DTD/2010/feeds/attributes/"><channel>
<newznab:response offset="0" total="{count}"/>{items}</channel></rss>"""

ITEM = """<item><title>{title}</title><guid isPermaLink="true">{base}/details/{id}</guid>
<pubDate>Tue, 18 Aug 2015 10:52:02 -0600</pubDate>
<enclosure url="{base}/getnzb/{id}.nzb&amp;i=1&amp;r={key}" length="{size}" type="application/x-nzb"/>
<newznab:attr name="category" value="2000"/><newznab:attr name="category" value="2040"/>
<newznab:attr name="size" value="{size}"/><newznab:attr name="grabs" value="{grabs}"/>
<newznab:attr name="password" value="{password}"/><newznab:attr name="guid" value="{id}"/></item>"""

RELEASES = [
    ("a1", "Iron.Man.2008.720p.BluRay.x264-SEPTiC", 4.4, 120, 0),
    ("b2", "Iron.Man.2008.1080p.BluRay.x264-SPARKS", 8.7, 300, 0),
    ("c3", "Iron.Man.2008.2160p.UHD.BluRay.x265-TERMiNAL", 21.0, 40, 0),
    ("d4", "Iron.Man.2008.1080p.WEB-DL.H264-NOBODY", 6.1, 12, 0),
    ("e5", "Iron.Man.2008.HDCAM.x264-FAKE", 1.4, 900, 0),
    ("f6", "Iron.Man.2008.1080p.BluRay.x264-LOCKED", 7.9, 2, 1),
    ("g7", "Iron.Man.2008.1080p.WEBRip.x264-RARBG", 2.2, 80, 0),
    ("h8", "Iron.Man.2008.720p.WEBRip.x264-GalaxyRG", 1.1, 60, 0),
]


def rss(releases: list[tuple[str, str, float, int, int]]) -> str:
    items = "".join(
        ITEM.format(
            title=title,
            id=rid,
            size=int(size * 1e9),
            grabs=grabs,
            password=password,
            base=INDEXER,
            key=INDEXER_KEY,
        )
        for rid, title, size, grabs, password in releases
    )
    return RSS.format(items=items, count=len(releases))


def iron_man(**changes: Any) -> dict[str, Any]:
    details = tmdb_fixture("movies__details_with_append_to_response")
    details.update(id=MOVIE_ID, title="Iron Man", release_date="2008-04-30", imdb_id="tt0371746")
    details.update(changes)
    return details


@pytest.fixture
def sqs(env: pytest.MonkeyPatch) -> Iterator[tuple[SQSClient, str]]:
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("sqs", region_name=REGION)
        url = client.create_queue(QueueName="movies-on-demand-jobs")["QueueUrl"]
        env.setenv("DISPATCH", "sqs")
        env.setenv("JOBS_QUEUE_URL", url)
        env.setenv("NZBGEEK_API_KEY", INDEXER_KEY)
        env.setenv("NZBGEEK_BASE_URL", INDEXER)
        bootstrap.reset()
        yield client, url


@pytest.fixture
def upstream(sqs: tuple[SQSClient, str]) -> Iterator[responses.RequestsMock]:
    """Outside HTTP mocked only after moto is in place: moto patches requests' transport itself."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def movie(upstream: responses.RequestsMock) -> responses.BaseResponse:
    return upstream.add(responses.GET, f"{TMDB}/3/movie/{MOVIE_ID}", json=iron_man())


@pytest.fixture
def indexer(upstream: responses.RequestsMock) -> responses.BaseResponse:
    return upstream.add(responses.GET, f"{INDEXER}/api", body=rss(RELEASES))


def messages(sqs: tuple[SQSClient, str]) -> list[dict[str, Any]]:
    client, url = sqs
    reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in reply.get("Messages", [])]


def fetch(api: ApiClient, body: Any, movie_id: int = MOVIE_ID) -> Any:
    payload = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.post(f"{API}/movies/{movie_id}/fetch", payload, headers=JSON)


# -- GET /releases ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sqs", "movie")
def test_releases_are_ranked_best_first_with_their_parsed_fields(
    api: ApiClient, upstream: responses.RequestsMock, indexer: responses.BaseResponse
) -> None:
    response = api.get(f"{API}/movies/{MOVIE_ID}/releases")

    assert response.status == 200
    body = response.json
    assert body["imdb_id"] == "tt0371746"
    releases = body["releases"]
    assert [r["release_id"] for r in releases][:3] == ["b2", "d4", "g7"]
    best = releases[0]
    assert best["resolution"] == "1080p"
    assert best["source"] == "bluray"
    assert best["codec"] == "h264"
    assert best["group"] == "SPARKS"
    assert best["year"] == 2008
    assert best["size_bytes"] == 8_700_000_000
    assert best["grabs"] == 300
    assert best["published_at"] == "2015-08-18T16:52:02.000Z"
    assert best["score_reasons"]
    rejected = {r["release_id"]: r for r in releases if r["rejected"]}
    assert set(rejected) == {"e5", "f6"}
    assert [r["rejected"] for r in releases] == sorted(r["rejected"] for r in releases)
    query = parse_qs(urlsplit(indexer.calls[0].request.url or "").query)
    assert query["imdbid"] == ["0371746"]


@pytest.mark.usefixtures("sqs", "movie")
def test_the_releases_list_holds_the_20_best_at_most(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    """The contract's maxItems: 20 (the validator checks it on this answer); the best are kept."""
    many = [
        (f"m{n:02d}", f"Iron.Man.2008.720p.WEBRip.x264-GRP{n:02d}", 2.0, n, 0) for n in range(30)
    ]
    upstream.add(responses.GET, f"{INDEXER}/api", body=rss([*many, RELEASES[1]]))

    releases = api.get(f"{API}/movies/{MOVIE_ID}/releases").json["releases"]

    assert len(releases) == 20
    assert releases[0]["release_id"] == "b2"  # the one 1080p BluRay, among 31 found


@pytest.mark.usefixtures("sqs", "movie", "indexer")
def test_the_quality_preference_reorders_the_releases(api: ApiClient) -> None:
    four_k = api.get(f"{API}/movies/{MOVIE_ID}/releases?quality_preference=4K").json
    seven_twenty = api.get(f"{API}/movies/{MOVIE_ID}/releases?quality_preference=720p").json

    assert four_k["releases"][0]["release_id"] == "c3"
    assert seven_twenty["releases"][0]["release_id"] == "a1"


@pytest.mark.usefixtures("sqs")
@pytest.mark.parametrize("value", ["4k", "2160p", "", "1080"])
def test_an_unknown_quality_preference_is_refused(api: ApiClient, value: str) -> None:
    response = api.get(f"{API}/movies/{MOVIE_ID}/releases?quality_preference={value}")

    assert response.status == 400
    assert "quality_preference" in response.json["error"]


@pytest.mark.usefixtures("sqs", "movie")
def test_indexer_results_are_cached_for_15_minutes(
    api: ApiClient, indexer: responses.BaseResponse, clock: FakeClock
) -> None:
    api.get(f"{API}/movies/{MOVIE_ID}/releases")
    api.get(f"{API}/movies/{MOVIE_ID}/releases?quality_preference=4K")
    assert indexer.call_count == 1

    clock.advance(15 * 60 + 1)
    api.get(f"{API}/movies/{MOVIE_ID}/releases")
    assert indexer.call_count == 2


@pytest.mark.usefixtures("sqs")
def test_a_movie_without_an_imdb_id_has_no_releases(
    api: ApiClient, upstream: responses.RequestsMock, indexer: responses.BaseResponse
) -> None:
    upstream.get(f"{TMDB}/3/movie/{MOVIE_ID}", json=iron_man(imdb_id=None))

    response = api.get(f"{API}/movies/{MOVIE_ID}/releases")

    assert response.status == 200
    assert response.json == {"movie_id": MOVIE_ID, "imdb_id": None, "releases": []}
    assert indexer.call_count == 0


@pytest.mark.usefixtures("sqs", "movie")
def test_an_empty_imdb_search_falls_back_to_title_and_year(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    by_imdb = upstream.get(
        f"{INDEXER}/api",
        body=rss([]),
        match=[responses.matchers.query_param_matcher({"t": "movie"}, strict_match=False)],
    )
    by_title = upstream.get(
        f"{INDEXER}/api",
        body=rss(
            [
                ("k1", "Iron.Man.2008.1080p.BluRay.x264-SPARKS", 8.7, 10, 0),
                ("k2", "Iron.Man.2.2010.1080p.BluRay.x264-SPARKS", 9.0, 10, 0),
                ("k3", "The.Iron.Mask.2008.1080p.WEB-DL.x264-GRP", 5.0, 10, 0),
            ]
        ),
        match=[responses.matchers.query_param_matcher({"t": "search"}, strict_match=False)],
    )

    response = api.get(f"{API}/movies/{MOVIE_ID}/releases")

    assert [r["release_id"] for r in response.json["releases"]] == ["k1"]
    assert by_imdb.call_count == 1
    assert parse_qs(urlsplit(by_title.calls[0].request.url or "").query)["q"] == ["Iron Man 2008"]


@pytest.mark.usefixtures("sqs", "movie")
def test_an_indexer_failure_is_a_502_that_never_shows_the_key(
    api: ApiClient, upstream: responses.RequestsMock, logs: LogCapture
) -> None:
    upstream.get(
        f"{INDEXER}/api", body='<error code="100" description="Incorrect user credentials"/>'
    )

    response = api.get(f"{API}/movies/{MOVIE_ID}/releases")

    assert response.status == 502
    assert response.json["code"] == "NZBGEEK_ERROR"
    assert "Incorrect user credentials" in response.json["error"]
    assert INDEXER_KEY not in response.body.decode()
    assert INDEXER_KEY not in logs.text


@pytest.mark.usefixtures("sqs", "movie")
def test_a_missing_indexer_key_is_an_internal_error_naming_the_setting(
    api: ApiClient, env: pytest.MonkeyPatch
) -> None:
    env.delenv("NZBGEEK_API_KEY")
    bootstrap.reset()

    response = api.get(f"{API}/movies/{MOVIE_ID}/releases")

    assert response.status == 500
    assert "NZBGEEK_API_KEY" in response.json["error"]


@pytest.mark.usefixtures("sqs")
def test_releases_of_an_unknown_movie_are_not_found(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/{MOVIE_ID}", status=404, json={"status_code": 34})

    assert api.get(f"{API}/movies/{MOVIE_ID}/releases").status == 404


# -- POST /fetch --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("movie", "indexer")
def test_auto_fetch_queues_the_best_release_and_its_fallbacks(
    api: ApiClient, sqs: tuple[SQSClient, str]
) -> None:
    response = fetch(api, {"mode": "auto"})

    assert response.status == 202
    job = response.json
    assert job["status"] == "queued"
    assert job["release_id"] == "b2"
    assert response.headers["Retry-After"].isdigit()
    (message,) = messages(sqs)
    assert message["job_id"] == job["job_id"]
    assert message["movie_id"] == MOVIE_ID
    assert message["release_id"] == "b2"
    assert message["release_title"] == "Iron.Man.2008.1080p.BluRay.x264-SPARKS"
    assert [c["release_id"] for c in message["candidates"]] == [
        "d4",
        "g7",
        "a1",
        "h8",
    ]  # 720p before 4K
    status = api.get(f"{API}/jobs/{job['job_id']}")
    assert status.json["status"] == "queued"


@pytest.mark.usefixtures("movie", "indexer")
def test_a_second_fetch_returns_the_active_job_with_200(
    api: ApiClient, sqs: tuple[SQSClient, str]
) -> None:
    first = fetch(api, {"mode": "auto"})
    again = fetch(api, {"mode": "auto", "quality_preference": "720p"})
    same = fetch(api, {"mode": "manual", "release_id": "b2", "replace": True})

    assert (again.status, same.status) == (200, 200)
    assert again.json["job_id"] == same.json["job_id"] == first.json["job_id"]
    assert len(messages(sqs)) == 1


@pytest.mark.usefixtures("movie")
def test_a_manual_fetch_of_another_release_says_what_the_active_job_fetches(
    api: ApiClient, sqs: tuple[SQSClient, str], indexer: responses.BaseResponse
) -> None:
    first = fetch(api, {"mode": "auto"}).json
    searches = len(indexer.calls)

    response = fetch(api, {"mode": "manual", "release_id": "a1"})

    assert response.status == 409
    body = response.json
    assert body["code"] == "ACTIVE_JOB"
    assert body["active_job"]["job_id"] == first["job_id"]
    assert body["active_job"]["release_id"] == "b2"
    assert "Iron.Man.2008.1080p.BluRay.x264-SPARKS" in body["error"]
    assert '"replace": true' in body["error"]
    assert len(indexer.calls) == searches  # answered without the indexer
    assert len(messages(sqs)) == 1  # nothing new started
    assert api.get(f"{API}/jobs/{first['job_id']}").json["status"] == "queued"  # nothing changed


@pytest.mark.usefixtures("movie", "indexer")
def test_replace_stops_the_active_job_and_fetches_the_named_release(
    api: ApiClient, sqs: tuple[SQSClient, str]
) -> None:
    first = fetch(api, {"mode": "auto"}).json
    unknown = fetch(api, {"mode": "manual", "release_id": "zz9", "replace": True})
    assert unknown.status == 404  # the release is checked before anything is stopped
    assert api.get(f"{API}/jobs/{first['job_id']}").json["status"] == "queued"

    response = fetch(api, {"mode": "manual", "release_id": "a1", "replace": True})

    assert response.status == 202
    assert (response.json["release_id"], response.json["status"]) == ("a1", "queued")
    old = bootstrap.container().store.get_job(first["job_id"])
    assert old is not None
    assert old.status.value == "deleted"
    assert old.expires_at is not None  # cleanup's next sweep removes what it stored
    assert [m["release_id"] for m in messages(sqs)] == ["b2", "a1"]
    assert api.get(f"{API}/movies/{MOVIE_ID}/stream").json["code"] == "INVALID_INPUT"  # not ready


@pytest.mark.usefixtures("movie", "indexer")
def test_manual_fetch_takes_the_chosen_release_even_if_rejected_in_auto_mode(
    api: ApiClient, sqs: tuple[SQSClient, str]
) -> None:
    response = fetch(api, {"mode": "manual", "release_id": "e5"})

    assert response.status == 202
    assert response.json["release_id"] == "e5"
    (message,) = messages(sqs)
    assert message["candidates"] == []


@pytest.mark.usefixtures("sqs", "movie", "indexer")
def test_manual_fetch_of_a_release_the_movie_does_not_have_is_not_found(api: ApiClient) -> None:
    response = fetch(api, {"mode": "manual", "release_id": "zz9"})

    assert response.status == 404
    assert "zz9" in response.json["error"]


@pytest.mark.usefixtures("sqs", "movie")
def test_auto_fetch_with_nothing_usable_is_not_found(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{INDEXER}/api", body=rss([RELEASES[5]]))  # passworded only

    response = fetch(api, {"mode": "auto"})

    assert response.status == 404
    assert "no releases available" in response.json["error"]


@pytest.mark.usefixtures("sqs")
@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '"auto"',
        {"mode": "sometimes"},
        {"mode": 1},
        {},
        {"mode": "manual"},
        {"mode": "manual", "release_id": ""},
        {"mode": "auto", "quality_preference": "8K"},
        {"mode": "auto", "release_id": 7},
        {"mode": "auto", "extra": True},
        b"\xff\xfe",
        "",
    ],
)
def test_malformed_fetch_requests_are_refused_before_anything_happens(
    api: ApiClient, body: Any, upstream: responses.RequestsMock
) -> None:
    response = fetch(api, body)

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert len(upstream.calls) == 0


@pytest.mark.usefixtures("sqs")
def test_a_fetch_body_that_is_not_json_is_refused(api: ApiClient) -> None:
    response = api.post(
        f"{API}/movies/{MOVIE_ID}/fetch", "mode=auto", headers={"Content-Type": "text/plain"}
    )

    assert response.status == 400


@pytest.mark.usefixtures("sqs", "movie", "indexer")
def test_a_queue_failure_marks_the_job_error_and_a_new_fetch_can_follow(
    api: ApiClient, env: pytest.MonkeyPatch, sqs: tuple[SQSClient, str]
) -> None:
    client, url = sqs
    client.delete_queue(QueueUrl=url)

    failed = fetch(api, {"mode": "auto"})

    assert failed.status == 500
    assert failed.json["code"] == "JOB_ERROR"
    jobs = api.get(f"{API}/jobs?status=error").json["jobs"]
    assert [job["status"] for job in jobs] == ["error"]
    assert "could not queue" in jobs[0]["error_message"]

    env.setenv("JOBS_QUEUE_URL", client.create_queue(QueueName="again")["QueueUrl"])
    bootstrap.reset()
    retried = fetch(api, {"mode": "auto"})
    assert retried.status == 202
    assert retried.json["job_id"] != jobs[0]["job_id"]


@pytest.mark.usefixtures("movie", "indexer")
def test_the_indexer_key_never_appears_in_messages_logs_or_responses(
    api: ApiClient, sqs: tuple[SQSClient, str], logs: LogCapture
) -> None:
    """The enclosure URLs in the indexer's reply embed the key; nothing downstream may carry it."""
    listed = api.get(f"{API}/movies/{MOVIE_ID}/releases")
    fetched = fetch(api, {"mode": "auto"})
    job = api.get(f"{API}/jobs/{fetched.json['job_id']}")

    client, url = sqs
    raw = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for text in [listed.body.decode(), fetched.body.decode(), job.body.decode(), logs.text]:
        assert INDEXER_KEY not in text
    for message in raw:
        assert INDEXER_KEY not in message["Body"]
        assert "http" not in message["Body"]
    assert logs.lines("upstream call")


@pytest.mark.usefixtures("movie", "indexer", "sqs")
def test_a_new_job_is_counted_once(api: ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    fetch(api, {"mode": "auto"})
    fetch(api, {"mode": "auto"})

    out = capsys.readouterr().out
    assert len([x for x in out.splitlines() if '"JobsCreated"' in x]) == 1
