"""What operators see: one JSON line per upstream call and per request, never a credential."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import cast

import boto3
import pytest
import responses
from moto import mock_aws
from mypy_boto3_s3 import S3Client

from bench import cold_start
from chalicelib import bootstrap
from chalicelib.adapters.dispatch import EcsLauncher, LaunchFailed, SqsQueue
from chalicelib.domain.dispatch import JobMessage
from sandbox import tmdb as tmdb_stand_in
from tests.conftest import (
    R2_BUCKET,
    R2_SECRET,
    ROOT,
    TMDB,
    TMDB_KEY,
    ApiClient,
    LogCapture,
    tmdb_fixture,
)

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


COLD_JOB = "job_1700000000000_abcdefghij"


@pytest.mark.parametrize(
    ("route", "path", "parameters", "status"),
    [
        ("/popular", "/popular", None, 200),
        (
            "/jobs/{jobId}",
            "/jobs/job_1700000000000_abcdefghij",
            {"jobId": "job_1700000000000_abcdefghij"},
            404,
        ),
    ],
)
def test_a_cold_lambda_loads_only_what_its_first_route_uses(
    tmp_path: Path, route: str, path: str, parameters: dict[str, str] | None, status: int
) -> None:
    """Fresh processes, as a cold Lambda: ``import app`` loads none of the heavy libraries, and a
    discovery or job answer never loads boto3 (bench/cold_start.py times the same thing)."""
    stand_in = tmdb_stand_in.start("cold-token")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TMDB_", "JOB_", "DISPATCH"))},
        "TMDB_API_KEY": "cold-token",
        "TMDB_BASE_URL": stand_in.url,
        "SQLITE_PATH": str(tmp_path / "jobs.sqlite3"),
    }
    try:
        imported = cold_start.run_child("import app", None, env)
        answered = cold_start.run_child(
            "import app", cold_start.proxy_event(API + route, API + path, parameters), env
        )
    finally:
        stand_in.stop()

    assert imported["loaded"] == []
    assert answered["status"] == status
    assert "boto3" not in cast(list[str], answered["loaded"])


def test_each_r2_call_is_logged_and_counted_with_its_status(
    env: pytest.MonkeyPatch, s3: S3Client, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = bootstrap.container().objects
    s3.put_object(Bucket=R2_BUCKET, Key="movies/job_1_a/movie.mp4", Body=b"x")
    capsys.readouterr()

    assert objects.head("movies/job_1_a/movie.mp4") is not None
    assert objects.head("movies/job_1_a/missing.mp4") is None

    calls = logs.lines("upstream call")
    assert [(c["target"], c["method"], c["status"]) for c in calls] == [
        ("r2", "HeadObject", 200),
        ("r2", "HeadObject", 404),
    ]
    assert all(c["duration_ms"] >= 0 for c in calls)
    assert R2_SECRET not in logs.text
    counted = [line for line in capsys.readouterr().out.splitlines() if '"UpstreamCalls"' in line]
    assert ['"outcome":"404"' in line for line in counted] == [False, True]


def test_queue_and_task_calls_are_logged_even_when_they_fail(
    env: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        env.setenv(name, value)
    message = JobMessage(job_id="job_1_abc", movie_id=550, release_id="r1", release_title="M")
    with mock_aws():
        url = boto3.client("sqs").create_queue(QueueName="jobs")["QueueUrl"]
        SqsQueue(url).send(message)
        launcher = EcsLauncher(
            cluster="missing",
            task_definition="downloader",
            subnets=["subnet-1"],
            security_groups=[],
            assign_public_ip=True,
            container_name="downloader",
        )
        with pytest.raises(LaunchFailed):
            launcher.launch(message)

    calls = [(c["target"], c["method"], c["status"]) for c in logs.lines("upstream call")]
    assert calls[0] == ("sqs", "SendMessage", 200)
    assert calls[1][:2] == ("ecs", "RunTask")
    assert calls[1][2] != 200
