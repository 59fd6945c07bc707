"""Where the viewer left off: ``PUT /movies/{id}/position``, and the position in history and stream."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import responses
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.domain.jobs import JobStatus, to_iso, utcnow
from tests.conftest import R2_BUCKET, TMDB, ApiClient, ApiResponse
from tests.seeding import seed_job

API = "/api/movies-on-demand"
JSON = {"Content-Type": "application/json"}


def _watch(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock, movie_id: int = 550
) -> str:
    upstream.get(f"{TMDB}/3/movie/{movie_id}", status=404)
    store = bootstrap.container().store
    job = seed_job(store, JobStatus.READY, movie_id=movie_id, ready_at=to_iso(utcnow()))
    s3.put_object(
        Bucket=R2_BUCKET, Key=f"movies/{job.job_id}/movie.mp4", Body=b"mp4", ContentType="video/mp4"
    )
    answer = api.get(f"{API}/movies/{movie_id}/stream")
    assert answer.status == 200
    return job.job_id


def _put(
    api: ApiClient, movie_id: int, body: object, headers: dict[str, str] = JSON
) -> ApiResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.request("PUT", f"{API}/movies/{movie_id}/position", body=raw, headers=headers)


def test_a_stored_position_comes_back_in_history_and_the_next_stream(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    job_id = _watch(api, s3, upstream)
    assert api.get(f"{API}/history").json["items"][0]["position_seconds"] is None

    stored = _put(api, 550, {"position_seconds": 1234.5})

    assert stored.status == 200
    assert stored.json == {
        "movie_id": 550,
        "job_id": job_id,
        "watched_at": api.get(f"{API}/history").json["items"][0]["watched_at"],
        "position_seconds": 1234.5,
    }
    assert api.get(f"{API}/history").json["items"][0]["position_seconds"] == 1234.5
    again = api.get(f"{API}/movies/550/stream").json
    assert again["position_seconds"] == 1234.5
    # The new watch carries the position on, so history's newest entry still says where to resume.
    history = api.get(f"{API}/history").json
    assert [item["position_seconds"] for item in history["items"]] == [1234.5, 1234.5]


def test_a_first_stream_has_no_position(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    _watch(api, s3, upstream)

    assert api.get(f"{API}/history").json["items"][0]["position_seconds"] is None


def test_only_the_movies_latest_watch_moves(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    _watch(api, s3, upstream, movie_id=101)
    _watch(api, s3, upstream, movie_id=102)

    assert _put(api, 101, {"position_seconds": 60}).status == 200

    items = {item["movie_id"]: item for item in api.get(f"{API}/history").json["items"]}
    assert (items[101]["position_seconds"], items[102]["position_seconds"]) == (60, None)


def test_a_movie_never_watched_is_not_found(api: ApiClient) -> None:
    response = _put(api, 550, {"position_seconds": 10})

    assert response.status == 404
    assert response.json["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"position_seconds": -1},
        {"position_seconds": "12"},
        {"position_seconds": True},
        {"position_seconds": 10**7},
        {"position_seconds": 10, "job_id": "x"},
        [10],
        b"not json",
    ],
)
def test_bad_positions_are_invalid_input(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock, body: object
) -> None:
    _watch(api, s3, upstream)

    response = _put(api, 550, body)

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert api.get(f"{API}/history").json["items"][0]["position_seconds"] is None


def test_saving_a_position_is_one_job_store_request(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    _watch(api, s3, upstream)
    executor = bootstrap.container().store.executor
    before = executor.round_trips

    _put(api, 550, {"position_seconds": 30})

    assert executor.round_trips - before == 1


def test_an_old_local_database_gains_the_position_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE watch_history (id INTEGER PRIMARY KEY AUTOINCREMENT, movie_id INTEGER "
            "NOT NULL, title TEXT, poster_path TEXT, last_watched_at TEXT NOT NULL, job_id TEXT, "
            "status TEXT)"
        )
    SqliteExecutor(path)
    with sqlite3.connect(path) as upgraded:
        columns = {row[1] for row in upgraded.execute("PRAGMA table_info(watch_history)")}
    assert "position_seconds" in columns


def test_saving_a_position_needs_a_configured_key(
    api: ApiClient, env: pytest.MonkeyPatch, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    env.setenv("API_KEYS", "key-one")
    bootstrap.reset()

    response = _put(api, 550, {"position_seconds": 10})

    assert response.status == 401
    assert response.json["code"] == "UNAUTHORIZED"
