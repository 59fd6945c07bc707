"""A failed job says why in a word a client can act on: ``error_class``, one list everywhere.

The list lives in ``chalicelib.domain.jobs.ErrorClass``; mypy holds every typed place that fails a job
to it, and the scan below holds the rest (store transitions and SQL, which take any value).
"""

from __future__ import annotations

import re

import pytest
import responses

from chalicelib import bootstrap
from chalicelib.domain.jobs import ERROR_CLASSES, JobStatus
from tests.conftest import ROOT, TMDB, ApiClient, tmdb_fixture
from tests.contract import load_contract
from tests.seeding import seed_job

API = "/api/movies-on-demand"
#: ``error_class="x"`` (a transition's keyword) and ``error_class = 'x'`` (SQL).
LITERAL = re.compile(r"""error_class\s*=\s*["']([a-z_]+)["']""")


def test_the_contract_lists_exactly_the_classes_the_code_can_write() -> None:
    schema = load_contract().document["components"]["schemas"]["ErrorClass"]
    assert schema["enum"] == list(ERROR_CLASSES)
    for error_class in ERROR_CLASSES:
        assert f"`{error_class}`" in schema["description"], f"{error_class} is not explained"


def test_every_class_written_by_name_is_one_of_them() -> None:
    written = {
        match.group(1)
        for package in ("chalicelib", "downloader")
        for path in (ROOT / package).rglob("*.py")
        for match in LITERAL.finditer(path.read_text())
    }
    assert {"stale", "dispatch", "queue", "storage"} <= written  # the scan finds them
    assert written <= set(ERROR_CLASSES)


def test_readme_lists_every_class() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = re.search(r"an `error_class` \(([^)]*)\)", readme)
    assert listed is not None
    assert re.findall(r"`([a-z_]+)`", listed.group(1)) == list(ERROR_CLASSES)


def test_a_failed_job_says_its_class(api: ApiClient) -> None:
    store = bootstrap.container().store
    job = seed_job(
        store, JobStatus.ERROR, error_message="password-protected archive", error_class="password"
    )

    body = api.get(f"{API}/jobs/{job.job_id}").json
    listed = api.get(f"{API}/jobs?status=error").json["jobs"]

    assert (body["error_class"], body["error_message"]) == (
        "password",
        "password-protected archive",
    )
    assert [item["error_class"] for item in listed] == ["password"]


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.DOWNLOADING, JobStatus.READY])
def test_a_job_that_did_not_fail_has_no_class(api: ApiClient, status: JobStatus) -> None:
    job = seed_job(bootstrap.container().store, status, progress=1.0)

    assert api.get(f"{API}/jobs/{job.job_id}").json["error_class"] is None


@pytest.mark.parametrize(("stored", "answered"), [(None, None), ("from_the_future", None)])
def test_a_class_this_version_does_not_know_is_answered_as_null(
    api: ApiClient, stored: str | None, answered: str | None
) -> None:
    """Rows from before classes were recorded, or written by a newer downloader during a deploy,
    still answer within the contract."""
    job = seed_job(
        bootstrap.container().store, JobStatus.ERROR, error_message="x", error_class=stored
    )

    assert api.get(f"{API}/jobs/{job.job_id}").json["error_class"] == answered


def test_movie_details_show_the_latest_jobs_class(
    api: ApiClient, upstream: responses.RequestsMock
) -> None:
    upstream.get(
        f"{TMDB}/3/movie/12313", json=tmdb_fixture("movies__details_with_append_to_response")
    )
    seed_job(
        bootstrap.container().store,
        JobStatus.ERROR,
        movie_id=12313,
        error_message="12% of sampled articles missing and only 5% recovery data",
        error_class="missing_articles",
    )

    summary = api.get(f"{API}/movies/12313").json["job_status"]

    assert (summary["status"], summary["error_class"]) == ("error", "missing_articles")
