"""Configuration and outage errors on the job endpoints: named settings, STORAGE_ERROR, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from chalicelib import bootstrap
from chalicelib.errors import ConfigurationError
from chalicelib.settings import load_settings
from tests.conftest import ApiClient, LogCapture
from tests.fakes import d1

API = "/api/movies-on-demand"
STORE_ENDPOINTS = ["/jobs", "/jobs/job_1_abc", "/history", "/movies/550/stream"]


@pytest.fixture
def d1_env(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    env.setenv("JOB_STORE", "d1")
    env.setenv("CF_ACCOUNT_ID", d1.ACCOUNT)
    env.setenv("D1_DATABASE_ID", d1.DATABASE)
    env.setenv("CF_API_TOKEN", d1.TOKEN)
    env.setenv("CF_API_BASE_URL", d1.BASE)
    bootstrap.reset()
    return env


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RETENTION_HOURS", "a week", "RETENTION_HOURS"),
        ("RETENTION_HOURS", "0", "RETENTION_HOURS"),
        ("JOB_STORE", "postgres", "JOB_STORE"),
        ("TMDB_TIMEOUT_SECONDS", "-1", "TMDB_TIMEOUT_SECONDS"),
    ],
)
def test_malformed_settings_are_named(
    env: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    env.setenv(name, value)

    with pytest.raises(ConfigurationError, match=expected) as caught:
        load_settings()
    assert value not in str(caught.value).replace(expected, "")


@pytest.mark.parametrize("path", STORE_ENDPOINTS)
def test_d1_without_credentials_names_what_is_missing(
    api: ApiClient, d1_env: pytest.MonkeyPatch, path: str
) -> None:
    d1_env.delenv("CF_API_TOKEN")
    d1_env.delenv("D1_DATABASE_ID")
    bootstrap.reset()

    response = api.get(API + path)

    assert response.status == 500
    assert response.json["code"] == "INTERNAL_ERROR"
    assert "D1_DATABASE_ID, CF_API_TOKEN" in response.json["error"]


@pytest.mark.parametrize("path", STORE_ENDPOINTS)
def test_d1_outage_is_a_storage_error(
    api: ApiClient,
    d1_env: pytest.MonkeyPatch,
    upstream: responses.RequestsMock,
    tmp_path: Path,
    path: str,
    logs: LogCapture,
) -> None:
    fake = d1.FakeD1(tmp_path / "d1.sqlite3")
    fake.install(upstream)
    fake.fail_next(d1.rate_limited(300))

    response = api.get(API + path)

    assert response.status == 502
    assert response.json["code"] == "STORAGE_ERROR"
    assert response.headers["Retry-After"] == "300"
    assert d1.TOKEN not in response.body.decode()
    assert d1.TOKEN not in logs.text


def test_d1_backed_api_serves_jobs(
    api: ApiClient, d1_env: pytest.MonkeyPatch, upstream: responses.RequestsMock, tmp_path: Path
) -> None:
    fake = d1.FakeD1(tmp_path / "d1.sqlite3")
    fake.install(upstream)

    body = api.get(f"{API}/jobs").json

    assert body == {"jobs": [], "total": 0, "limit": 20, "offset": 0}
    assert len(fake.requests) == 1  # page and count in one batch


def test_stream_without_r2_credentials_names_them(api: ApiClient, env: pytest.MonkeyPatch) -> None:
    env.delenv("R2_SECRET_ACCESS_KEY")
    bootstrap.reset()
    from chalicelib.domain.jobs import JobStatus
    from tests.test_jobs_api import seed

    seed(JobStatus.READY)

    response = api.get(f"{API}/movies/550/stream")

    assert response.status == 500
    assert "R2_SECRET_ACCESS_KEY" in response.json["error"]
