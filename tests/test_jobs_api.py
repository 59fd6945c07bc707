"""Jobs, stream and history endpoints over the embedded store and moto's S3 (standing in for R2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests
import responses
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.domain.jobs import (
    Job,
    JobStatus,
    SkippedRelease,
    encode_skipped,
    from_iso,
    to_iso,
    utcnow,
)
from tests.conftest import R2_BUCKET, R2_SECRET, TMDB, ApiClient, tmdb_fixture
from tests.seeding import seed_job

API = "/api/movies-on-demand"
MOVIE = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def seed(status: JobStatus, movie_id: int = 550, **fields: Any) -> Job:
    return seed_job(bootstrap.container().store, status, movie_id=movie_id, **fields)


def seed_ready(s3: S3Client, movie_id: int = 550) -> Job:
    job = seed(JobStatus.READY, movie_id=movie_id, ready_at=to_iso(utcnow()))
    s3.put_object(
        Bucket=R2_BUCKET,
        Key=f"movies/{job.job_id}/movie.mp4",
        Body=MOVIE,
        ContentType="video/mp4",
    )
    return job


# -- GET /jobs/{jobId} -------------------------------------------------------------------------------


def test_job_status_of_an_active_job_says_when_to_poll(api: ApiClient) -> None:
    job = seed(JobStatus.DOWNLOADING, progress=42.5, downloaded_bytes=425, total_bytes=1000)

    response = api.get(f"{API}/jobs/{job.job_id}")

    assert response.status == 200
    body = response.json
    assert (body["job_id"], body["status"], body["progress"]) == (job.job_id, "downloading", 42.5)
    assert (body["downloaded_bytes"], body["total_bytes"]) == (425, 1000)
    assert body["poll_after_seconds"] == 10
    assert response.headers["Retry-After"] == "10"


def test_settled_job_has_no_poll_hint(api: ApiClient) -> None:
    job = seed(JobStatus.ERROR, error_message="password-protected archive")

    response = api.get(f"{API}/jobs/{job.job_id}")

    assert response.json["error_message"] == "password-protected archive"
    assert response.json["poll_after_seconds"] is None
    assert "Retry-After" not in response.headers


def test_unknown_job_is_not_found(api: ApiClient) -> None:
    response = api.get(f"{API}/jobs/job_1700000000000_abc123")

    assert response.status == 404
    assert response.json["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "job_id",
    [
        "abc",
        "job_",
        "job_123",
        "job_abc_def",
        "job_1_a-b",
        "..%2F..%2Fetc%2Fpasswd",
        "job_1_x%27%20OR%20%271%27%3D%271",
        "job_1_" + "a" * 10_000,
    ],
)
def test_malformed_job_ids_are_invalid_input(api: ApiClient, job_id: str) -> None:
    response = api.get(f"{API}/jobs/{job_id}")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert len(response.body) < 500  # the 10 kB id is not echoed back


# -- GET /jobs ---------------------------------------------------------------------------------------


def test_job_list_defaults_to_active_jobs_and_counts_them(api: ApiClient) -> None:
    queued = seed(JobStatus.QUEUED, movie_id=1)
    ready = seed(JobStatus.READY, movie_id=2)
    seed(JobStatus.ERROR, movie_id=3)
    seed(JobStatus.DELETED, movie_id=4)

    body = api.get(f"{API}/jobs").json

    assert {job["job_id"] for job in body["jobs"]} == {queued.job_id, ready.job_id}
    assert (body["total"], body["limit"], body["offset"]) == (2, 20, 0)


def test_job_list_filters_by_status_and_pages(api: ApiClient) -> None:
    errors = [seed(JobStatus.ERROR, movie_id=movie) for movie in (1, 2, 3)]

    body = api.get(f"{API}/jobs?status=error&limit=2&offset=2").json

    assert body["total"] == 3
    assert len(body["jobs"]) == 1
    assert body["jobs"][0]["job_id"] in {job.job_id for job in errors}


@pytest.mark.parametrize(
    "query",
    [
        "status=deleted",
        "status=bogus",
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "limit=1e3",
    ],
)
def test_bad_list_parameters_are_invalid_input(api: ApiClient, query: str) -> None:
    response = api.get(f"{API}/jobs?{query}")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "offset=abc"])
def test_bad_history_parameters_are_invalid_input(api: ApiClient, query: str) -> None:
    response = api.get(f"{API}/history?{query}")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"


# -- movie details carry the latest job ---------------------------------------------------------------


def test_movie_details_show_the_latest_job(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(
        f"{TMDB}/3/movie/12313", json=tmdb_fixture("movies__details_with_append_to_response")
    )
    job = seed(JobStatus.DOWNLOADING, movie_id=12313, progress=12.0)

    body = api.get(f"{API}/movies/12313").json

    assert body["job_status"] == {
        "job_id": job.job_id,
        "status": "downloading",
        "progress": 12.0,
        "error_message": None,
        "error_class": None,
    }


# -- GET /movies/{id}/stream -------------------------------------------------------------------------


def test_stream_url_plays_over_http_with_range_requests(
    api: ApiClient, s3_server: str, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/550", status=404)
    upstream.add_passthru(s3_server)
    objects = bootstrap.container().objects
    job = seed(JobStatus.READY, ready_at=to_iso(utcnow()))
    objects.client.put_object(
        Bucket=objects.bucket,
        Key=f"movies/{job.job_id}/movie.mp4",
        Body=MOVIE,
        ContentType="video/mp4",
    )
    before = utcnow()

    response = api.get(f"{API}/movies/550/stream")

    assert response.status == 200
    body = response.json
    assert (body["job_id"], body["movie_id"]) == (job.job_id, 550)
    assert (body["content_type"], body["size_bytes"]) == ("video/mp4", len(MOVIE))
    lifetime = from_iso(body["expires_at"]) - before
    assert timedelta(hours=3, minutes=59) < lifetime <= timedelta(hours=4, seconds=5)
    assert "X-Amz-Signature=" in body["url"]
    assert "X-Amz-Expires=14400" in body["url"]
    assert R2_SECRET not in body["url"]
    ranged = requests.get(body["url"], headers={"Range": "bytes=100-199"}, timeout=5)
    assert ranged.status_code == 206
    assert ranged.content == MOVIE[100:200]


def test_stream_counts_as_watching(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    upstream.get(
        f"{TMDB}/3/movie/550",
        json={**tmdb_fixture("movies__details_with_append_to_response"), "id": 550},
    )
    job = seed_ready(s3)
    before = utcnow()

    api.get(f"{API}/movies/{job.job_id}/stream")

    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert stored.last_watched_at is not None
    assert stored.expires_at is not None
    assert from_iso(stored.expires_at) - from_iso(stored.last_watched_at) == timedelta(hours=168)
    assert from_iso(stored.last_watched_at) >= before.replace(microsecond=0) - timedelta(seconds=1)
    history = api.get(f"{API}/history").json
    assert history["total"] == 1
    entry = history["items"][0]
    assert (entry["movie_id"], entry["job_id"], entry["title"]) == (550, job.job_id, "Rock Crystal")
    assert entry["poster_url"] == "https://image.tmdb.org/t/p/w500/8GFxp1rAoJRRN5OGeHRClWGVief.jpg"


def test_history_survives_tmdb_being_down(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    upstream.get(f"{TMDB}/3/movie/550", status=503)
    seed_ready(s3)

    assert api.get(f"{API}/movies/550/stream").status == 200
    assert api.get(f"{API}/history").json["items"][0]["title"] is None


def test_stream_makes_at_most_two_job_store_round_trips(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    upstream.get(
        f"{TMDB}/3/movie/550", json=tmdb_fixture("movies__details_with_append_to_response")
    )
    seed_ready(s3)
    executor = bootstrap.container().store.executor
    before = executor.round_trips

    api.get(f"{API}/movies/550/stream")

    assert executor.round_trips - before <= 2


@pytest.mark.parametrize(
    ("status", "fields", "message"),
    [
        (JobStatus.DOWNLOADING, {"progress": 37.0}, "downloading, 37 %"),
        (JobStatus.QUEUED, {}, "queued"),
        (JobStatus.ERROR, {"error_message": "x"}, "fetch failed"),
        (JobStatus.DELETED, {}, "deleted"),
    ],
)
def test_stream_of_a_movie_that_is_not_ready_is_invalid_input(
    api: ApiClient, s3: S3Client, status: JobStatus, fields: dict[str, Any], message: str
) -> None:
    seed(status, **fields)

    response = api.get(f"{API}/movies/550/stream")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert message in response.json["error"]


def test_stream_of_a_movie_never_fetched_is_not_found(api: ApiClient, s3: S3Client) -> None:
    response = api.get(f"{API}/movies/550/stream")

    assert response.status == 404
    assert response.json["code"] == "NOT_FOUND"


def test_stream_of_a_ready_job_without_its_file_is_a_storage_error(
    api: ApiClient, s3: S3Client
) -> None:
    seed(JobStatus.READY)

    response = api.get(f"{API}/movies/550/stream")

    assert response.status == 502
    assert response.json["code"] == "STORAGE_ERROR"
    assert "missing" in response.json["error"]


def test_a_ready_job_whose_file_is_gone_fails_so_the_next_fetch_starts_anew(
    api: ApiClient, s3: S3Client
) -> None:
    job = seed(JobStatus.READY)

    assert api.get(f"{API}/movies/550/stream").status == 502

    stored = bootstrap.container().store.get_job(job.job_id)
    assert stored is not None
    assert (stored.status, stored.error_class) == (JobStatus.ERROR, "storage")
    assert not stored.is_active  # POST /fetch creates a new job for an inactive one
    again = api.get(f"{API}/movies/550/stream")
    assert again.status == 400
    assert "fetch it again" in again.json["error"]


@pytest.mark.parametrize(
    "ref", ["0", "abc", "job_x", "job_1_" + "a" * 100, quote("../etc", safe="")]
)
def test_stream_refs_are_validated(api: ApiClient, ref: str) -> None:
    response = api.get(f"{API}/movies/{ref}/stream")

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"


# -- history -----------------------------------------------------------------------------------------


def test_history_is_newest_first_and_paged(
    api: ApiClient, s3: S3Client, upstream: responses.RequestsMock
) -> None:
    for movie_id in (101, 102, 103):
        upstream.get(f"{TMDB}/3/movie/{movie_id}", status=404)
        seed_ready(s3, movie_id=movie_id)
        api.get(f"{API}/movies/{movie_id}/stream")

    first = api.get(f"{API}/history?limit=2").json
    second = api.get(f"{API}/history?limit=2&offset=2").json

    assert [item["movie_id"] for item in first["items"]] == [103, 102]
    assert [item["movie_id"] for item in second["items"]] == [101]
    assert first["total"] == second["total"] == 3


# -- API keys ----------------------------------------------------------------------------------------


PROTECTED = ["/jobs", "/jobs/job_1_abc", "/history", "/movies/550/stream"]


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("header", [None, "wrong", "key-one-x", ""])
def test_protected_endpoints_need_a_configured_key(
    api: ApiClient, env: pytest.MonkeyPatch, path: str, header: str | None
) -> None:
    env.setenv("API_KEYS", "key-one, key-two")
    bootstrap.reset()

    response = api.get(API + path, headers={"X-Api-Key": header} if header is not None else None)

    assert response.status == 401
    assert response.json["code"] == "UNAUTHORIZED"
    assert "key-one" not in response.body.decode()


@pytest.mark.parametrize("key", ["key-one", "key-two"])
def test_any_configured_key_is_accepted(api: ApiClient, env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("API_KEYS", "key-one, key-two")
    bootstrap.reset()

    assert api.get(f"{API}/jobs", headers={"X-Api-Key": key}).status == 200


def test_discovery_stays_public_with_keys_configured(
    api: ApiClient, env: pytest.MonkeyPatch, upstream: responses.RequestsMock
) -> None:
    env.setenv("API_KEYS", "key-one")
    bootstrap.reset()
    upstream.get(f"{TMDB}/3/movie/popular", json=tmdb_fixture("movie_lists__popular"))

    assert api.get(f"{API}/popular").status == 200
    assert api.get(f"{API}/health").status == 200


def test_a_job_says_which_releases_were_passed_over_and_why(api: ApiClient) -> None:
    passed_over = [
        SkippedRelease("g1", "Fight.Club.1999.1080p-LOCKED", "password-protected archive")
    ]
    job = seed(JobStatus.DOWNLOADING, skipped_releases=encode_skipped(passed_over))

    body = api.get(f"{API}/jobs/{job.job_id}").json

    assert body["skipped_releases"] == [
        {
            "release_id": "g1",
            "release_title": "Fight.Club.1999.1080p-LOCKED",
            "reason": "password-protected archive",
        }
    ]
    fresh = seed(JobStatus.QUEUED, movie_id=551)
    assert api.get(f"{API}/jobs/{fresh.job_id}").json["skipped_releases"] == []
